/* mint.c - (being written) */
