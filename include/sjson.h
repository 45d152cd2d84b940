/* sjson.h - a strict JSON reader (RFC 8259) that reads in place, without allocating: the token
 * verifier's reader for a token's header and claims (token.c), where jansson would allocate every
 * value and cost about a fifth of an RSA-2048 verification per token.
 *
 * It refuses what jansson with JSON_REJECT_DUPLICATES refuses: duplicate keys (at any depth,
 * compared after unescaping), invalid UTF-8 (overlongs, surrogates, code points past U+10FFFF),
 * unpaired surrogate escapes, \u0000, unescaped control characters, trailing data, and integers
 * outside int64_t where they are read (sjson_number with a num; a skipped value's syntax alone is
 * checked). It also bounds nesting (SJSON_MAX_DEPTH), keys per object (SJSON_MAX_KEYS) and
 * their unescaped length together (SJSON_KEY_ARENA bytes). The caller walks the document with
 * callbacks: each member or element is handed to one, which reads the value it wants with the
 * functions below or skips it with sjson_value. Every function returns 0, or -1 on any syntax,
 * encoding or bound error (the position is then unspecified). */
#ifndef FNGATE_SJSON_H
#define FNGATE_SJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SJSON_MAX_DEPTH  8
#define SJSON_MAX_KEYS   64
#define SJSON_KEY_ARENA  1024

/* A position in a document: p moves forward as values are read. */
struct sjson {
	const unsigned char *p;
	const unsigned char *end;
	int                  depth;
};

/* A number: an integer that fits int64_t (is_int, i), or else a real (d). */
struct sjson_num {
	bool    is_int;
	int64_t i;
	double  d;
};

/* Called with j->p on a member's value (after the colon); must consume it. 0 / -1. The key is
 * unescaped, not NUL-terminated, valid until the object ends. */
typedef int (*sjson_member_fn)(struct sjson *j, const char *key, size_t klen, void *arg);
/* Called with j->p on element `idx` of an array; must consume it. 0 / -1. */
typedef int (*sjson_elem_fn)(struct sjson *j, size_t idx, void *arg);

/* A whole document of len bytes at p: one object, nothing after it but whitespace. Each member
 * of the top-level object goes to fn (NULL: validated and skipped). */
int sjson_document(const unsigned char *p, size_t len, sjson_member_fn fn, void *arg);
/* An object at j->p; each member's value goes to fn (NULL: validated and skipped). */
int sjson_object(struct sjson *j, sjson_member_fn fn, void *arg);
/* An array at j->p; each element goes to fn (NULL: validated and skipped). */
int sjson_array(struct sjson *j, sjson_elem_fn fn, void *arg);
/* A string at j->p. Its unescaped bytes go to out while they fit in cap (out may be NULL); *lenp
 * (if not NULL) gets the whole unescaped length, which the caller compares with cap. */
int sjson_string(struct sjson *j, char *out, size_t cap, size_t *lenp);
/* A number at j->p: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, into *num (may be NULL). An
 * integer literal that does not fit int64_t is an error (as in jansson); a real is read with
 * strtod (the daemon runs in the C locale). */
int sjson_number(struct sjson *j, struct sjson_num *num);
/* Any value at j->p, validated and skipped. */
int sjson_value(struct sjson *j);

/* The next byte, or -1 at the end: what kind of value comes ('{', '[', '"', '-', a digit...). */
static inline int sjson_peek(const struct sjson *j)
{
	return j->p < j->end ? *j->p : -1;
}

/* Whether the key (klen bytes) is the literal lit. */
static inline bool sjson_key_is(const char *key, size_t klen, const char *lit)
{
	return strlen(lit) == klen && memcmp(key, lit, klen) == 0;
}

#endif
