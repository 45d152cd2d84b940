/* conf.c - (being written) */
