/* response.c - (being written) */
