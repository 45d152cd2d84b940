/* http1.h - HTTP/1.1 rules shared by the data plane and the admin listener: request checks, and
 * the chunked framing fngate writes in both directions (no event loop, no connection state). */
#ifndef FNGATE_HTTP1_H
#define FNGATE_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

struct evbuffer;

/* Raw head scanner state; all zero at the start of each request head. */
struct http1_scan {
	uint32_t line;      /* bytes in the current head line */
	uint32_t lines;     /* complete head lines seen */
	bool     cr;        /* the previous byte was CR */
	bool     done;      /* the empty line ending the head was seen */
};

/* Check raw head bytes that llhttp 8 tolerates but a strict server must not: a CR not followed
 * by LF, a bare LF line end, and a head line starting with whitespace (obs-fold, "spaces before
 * headers"). Stops at the empty line ending the head (s->done). Returns 0, or -1 (-> 400) with
 * *why set to OUT_BARE_CR, OUT_BARE_LF or OUT_OBS_FOLD. */
int http1_scan_head(struct http1_scan *s, const char *p, size_t n, enum outcome *why);

/* RFC 9110 5.6.2 tchar: the bytes of a token (a method, a field name, a list element). Inline:
 * the request path checks every header name with it, and core modules (cors.c) use it too. */
static inline bool http1_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.' || ch == '!' || ch == '#' || ch == '$' ||
	       ch == '%' || ch == '&' || ch == '\'' || ch == '*' || ch == '+' || ch == '^' ||
	       ch == '`' || ch == '|' || ch == '~';
}

/* Whether s[0..n) is a token: at least one tchar and nothing else (a header field name, say:
 * llhttp 8 lets a space or an empty name by). */
static inline bool http1_token_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!http1_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* An absolute-form request target (RFC 9112 3.2.2: "http://host[:port]/path", which a server
 * must accept): 1 with its authority at u + *auth_off, *auth_len bytes long (the path follows
 * it); 0 when u[0..n) is not absolute-form (origin-form and the others: http1_target_ok judges
 * them); -1 when it is malformed: userinfo, an invalid host[:port], no path (an empty one is
 * refused too: "http://host" and "http://host?q"). */
int http1_absolute_form(const char *u, size_t n, size_t *auth_off, size_t *auth_len);

/* Whether an origin-form request target u[0..n) is acceptable: "/"-rooted ("*" only when
 * options, i.e. for OPTIONS), no fragment, no "." or ".." segment raw or percent-encoded. */
bool http1_target_ok(const char *u, size_t n, bool options);

/* A head outgrew its limit: OUT_URI_TOO_LONG (414) while still in the request line, i.e. no
 * header field begun yet and a target collected (RFC 9110 15.5.15), else OUT_HEADERS_TOO_LARGE
 * (431). The one place that chooses, for the data plane and the admin listener alike. */
enum outcome http1_head_too_large(size_t nfields, size_t target_len);

/* Whether a Host value (or an absolute-form authority) is a well-formed host[:port]: a DNS-like
 * name or a bracketed IPv6 literal, and a port of at most 5 digits. */
bool http1_host_ok(const char *v, size_t n);

/* Append len bytes at `at` to out as one chunk of a chunked body: size line, data, CRLF. An
 * empty piece is written as nothing (a zero-size chunk would end the body). */
void http1_chunk_add(struct evbuffer *out, const void *at, size_t len);
/* Append the last chunk (no trailers) ending a chunked body. */
void http1_chunk_last(struct evbuffer *out);

#endif
