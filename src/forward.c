/* forward.c - (being written) */
