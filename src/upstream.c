/* upstream.c - (being written) */
