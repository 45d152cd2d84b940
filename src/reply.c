/* reply.c - (being written) */
