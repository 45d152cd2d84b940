/* token.c - (being written) */
