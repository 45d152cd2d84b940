/* log.c - (being written) */
