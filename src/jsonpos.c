/* jsonpos.c - (being written) */
