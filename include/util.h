/* util.h - small helpers shared by every module: time, strings, secrets. */
#ifndef FNGATE_UTIL_H
#define FNGATE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FNGATE_VERSION "0.1.0"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in seconds (time(NULL)). */
int64_t util_now(void);
/* Monotonic clock in microseconds, for durations. */
uint64_t util_mono_us(void);

/* FNV-1a over n bytes, resumable: start from UTIL_FNV*_INIT, or from the value returned for the
 * bytes before. For tables keyed by ids (registry, revocation set, pools, routes); the keys come
 * from configuration or signed tokens, and the tables that anonymous input reaches mix the result
 * further (route.c). */
#define UTIL_FNV32_INIT 2166136261u
#define UTIL_FNV64_INIT 0xcbf29ce484222325ull

static inline uint32_t util_fnv32(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

static inline uint64_t util_fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

/* mkdir(path, 0700), an existing directory being fine. 0 / -1 (errno). */
int util_mkdir_private(const char *path);
/* The same for path and every missing parent (state_dir). 0 / -1 (errno). */
int util_mkdir_p(const char *path);

/* Constant-time comparison of two equal-length buffers: 1 when equal, 0 otherwise. */
int util_ct_equal(const void *a, const void *b, size_t len);
/* Overwrite a secret so the compiler cannot elide it. */
void util_wipe(void *p, size_t len);
/* Wipe and free a NUL-terminated secret string; NULL is fine. */
void util_free_secret(char *s);

/* malloc/calloc/strdup that abort on exhaustion are NOT provided on purpose:
 * every caller handles NULL. These are plain wrappers kept for symmetry. */
char *util_strndup(const char *s, size_t n);

/* ASCII case-insensitive equality of s (length n) with NUL-terminated lowercase lit.
 * Inline: header names are compared with it several times per request. */
static inline bool util_ieq(const char *s, size_t n, const char *lit)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i];

		if (lit[i] == '\0')
			return false;
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a + 32);
		if (a != (unsigned char)lit[i] && (unsigned char)s[i] != (unsigned char)lit[i])
			return false;
	}
	return lit[n] == '\0';
}

/* Decimal of v into out (>= 21 bytes), no NUL; returns the length. */
size_t util_u64_dec(uint64_t v, char *out);
/* Lowercase hex of v into out (>= 16 bytes), no NUL, no leading zeros; returns the length. */
size_t util_u64_hex(uint64_t v, char *out);

/* Format `t` (seconds since epoch, UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void util_rfc3339(int64_t t, char *buf, size_t len);
/* Parse an RFC 3339 timestamp (Z or +hh:mm offset, optional fraction) into *out.
 * Returns 0, or -1 when the text is not RFC 3339. */
int util_parse_rfc3339(const char *s, int64_t *out);

/* Format a message into err (errlen bytes); NULL err or 0 errlen is fine. For the 0 / -1 + message
 * convention of functions that take (char *err, size_t errlen). */
void util_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fill buf with n cryptographically random bytes (OpenSSL RAND_bytes). 0 / -1. */
int util_random(void *buf, size_t n);
/* A random RFC 4122 version-4 UUID as 36 chars + NUL into out[37]. 0 / -1. */
int util_uuid4(char out[37]);

/* May a listing restricted to the namespaces allowed[0..n) (NULL: no restriction) show a record
 * of namespace ns (NULL: of none, shown only without a restriction)? The registry's and the
 * audit trail's listings share this rule. */
bool util_ns_allowed(char *const *allowed, size_t n, const char *ns);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);

#endif
