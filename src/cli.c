/* cli.c - (being written) */
