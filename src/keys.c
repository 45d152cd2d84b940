/* keys.c - (being written) */
