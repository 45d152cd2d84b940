/* route.c - (being written) */
