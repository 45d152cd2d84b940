/* admin.c - (being written) */
