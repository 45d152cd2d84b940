/* gate.c - (being written) */
