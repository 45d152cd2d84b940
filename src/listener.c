/* listener.c - (being written) */
