/* tcache.c - (being written) */
