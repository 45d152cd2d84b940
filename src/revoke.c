/* revoke.c - (being written) */
