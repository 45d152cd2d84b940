/* jsonpos.h - where a JSON path sits in a JSON text: line:column for configuration errors.
 *
 * jansson keeps no positions once a document is parsed, so configuration errors found while
 * validating the parsed tree are located by scanning the same text again. The text is expected to
 * be valid JSON (jansson parsed it first); on anything else the scanner gives up with -1. */
#ifndef FNGATE_JSONPOS_H
#define FNGATE_JSONPOS_H

#include <stddef.h>

/* What to locate for a path ending in an object member. */
enum jsonpos_part {
	JSONPOS_KEY = 1,    /* the opening quote of the member's key */
	JSONPOS_VALUE = 2,  /* the first character of the member's value */
};

/* One step of a path: an object member (key != NULL) or an array element (key == NULL). */
struct jsonpos_step {
	const char *key;    /* NUL-terminated, as decoded (UTF-8); NULL for an index */
	size_t      index;
};

#define JSONPOS_MAX_STEPS 32

/* Locate steps[0..nsteps) in text. A path ending in an array index, or the empty path (the root),
 * always yields the value. Line and column are 1-based; columns count characters (UTF-8 lead
 * bytes), as jansson's do. Returns 0 and sets line and column, or -1 when the path is absent. */
int jsonpos_locate(const char *text, size_t len, const struct jsonpos_step *steps, size_t nsteps,
		   enum jsonpos_part part, int *line, int *column);

/* The same with a path written as "namespaces[0].functions[1].privacy" (keys containing '.'
 * or '[' cannot be written this way: use jsonpos_locate). Returns 0, or -1 when the path is
 * absent or malformed. */
int jsonpos_find(const char *text, size_t len, const char *path, enum jsonpos_part part,
		 int *line, int *column);

#endif
