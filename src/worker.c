/* worker.c - (being written) */
