/* registry.c - (being written) */
