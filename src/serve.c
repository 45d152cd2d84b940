/* serve.c - (being written) */
