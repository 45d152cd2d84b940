/* conn.c - (being written) */
