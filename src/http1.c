/* http1.c - HTTP/1.1 rules shared by the data plane (request.c) and the admin listener
 * (adminhttp.c): the raw head scan for what llhttp tolerates, the target, absolute-form and Host
 * shapes (tokens are http1.h's inline checks), the 414-or-431 choice; and the chunked framing of
 * the bodies fngate relays (forward.c, response.c). */
#include "http1.h"

#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "util.h"

int http1_scan_head(struct http1_scan *r, const char *p, size_t n, enum outcome *why)
{
	const char *end = p + n;

	/* Line by line with memchr (the head is mostly one long token line): each line must end in
	 * CR LF with no other CR in it, and no line after the first may start with SP or HTAB. */
	while (p < end && !r->done) {
		const char *lf, *cr;
		size_t len;

		if (r->cr) {
			if (*p != '\n') {
				*why = OUT_BARE_CR;
				return -1;
			}
			r->cr = false;
			goto line_end;
		}
		if (r->line == 0 && r->lines > 0 && (*p == ' ' || *p == '\t')) {
			*why = OUT_OBS_FOLD;
			return -1;
		}
		lf = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((lf ? lf : end) - p);
		cr = memchr(p, '\r', len);
		if (lf == NULL) {
			/* The line goes on in the next read; a CR may only be its last byte here. */
			if (cr != NULL && cr != end - 1) {
				*why = OUT_BARE_CR;
				return -1;
			}
			/* That CR is the line's end, not its content: counted, an empty line split
			 * between its CR and LF would not be seen as the end of the head, and the
			 * body after it would be scanned as head lines. */
			r->cr = cr != NULL;
			r->line += (uint32_t)(len - (cr != NULL));
			return 0;
		}
		if (cr == NULL || cr != lf - 1) {
			*why = cr == NULL ? OUT_BARE_LF : OUT_BARE_CR;
			return -1;
		}
		r->line += (uint32_t)(len - 1);
		p = lf;
line_end:
		p++;
		if (r->line == 0 && r->lines > 0)
			r->done = true;    /* the empty line: the body may follow */
		else if (r->line > 0)
			r->lines++;
		/* empty lines before the request line are tolerated (RFC 9112 2.2) */
		r->line = 0;
	}
	return 0;
}

/* Reject request targets fngate will not route: anything but origin-form (and "*" for
 * OPTIONS), fragments, and dot segments raw or percent-encoded: a path that an upstream would
 * normalise differently from the router is a way around a prefix-based policy. */
bool http1_target_ok(const char *u, size_t n, bool options)
{
	size_t plen = n;

	if (n == 1 && u[0] == '*')
		return options;
	if (n == 0 || u[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (u[i] == '?') {
			plen = i;
			break;
		}
		if (u[i] == '#')
			return false;
	}
	/* Walk the segments of the path. */
	for (size_t i = 0; i < plen;) {
		size_t j = i + 1, dots = 0, other = 0;

		while (j < plen && u[j] != '/') {
			if (u[j] == '.') {
				dots++;
			} else if (u[j] == '%' && j + 2 < plen && u[j + 1] == '2' &&
				   (u[j + 2] == 'e' || u[j + 2] == 'E')) {
				dots++;
				j += 2;
			} else {
				other++;
			}
			j++;
		}
		if (other == 0 && (dots == 1 || dots == 2))
			return false;
		i = j;
	}
	return true;
}

/* A host[:port] as Host or an absolute-form authority gives it: a DNS-like name (letters,
 * digits, '-', '.', '_') or a bracketed IPv6 literal, and at most 5 digits of port. */
bool http1_host_ok(const char *v, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > 255)
		return false;
	if (v[0] == '[') {
		for (i = 1; i < n && v[i] != ']'; i++) {
			if (!(v[i] == ':' || v[i] == '.' || (v[i] >= '0' && v[i] <= '9') ||
			      (v[i] >= 'a' && v[i] <= 'f') || (v[i] >= 'A' && v[i] <= 'F')))
				return false;
		}
		if (i == n)
			return false;
		i++;
	} else {
		for (; i < n && v[i] != ':'; i++) {
			char ch = v[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i < n) {
		if (v[i] != ':' || i + 1 == n || n - i - 1 > 5)
			return false;
		for (size_t k = i + 1; k < n; k++)
			if (v[k] < '0' || v[k] > '9')
				return false;
	}
	return true;
}

int http1_absolute_form(const char *u, size_t n, size_t *auth_off, size_t *auth_len)
{
	size_t skip = 0, a = 0;

	if (n > 7 && strncasecmp(u, "http://", 7) == 0)
		skip = 7;
	else if (n > 8 && strncasecmp(u, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	while (skip + a < n && u[skip + a] != '/' && u[skip + a] != '?' && u[skip + a] != '#')
		a++;
	if (a == 0 || memchr(u + skip, '@', a) != NULL || !http1_host_ok(u + skip, a) ||
	    skip + a == n || u[skip + a] != '/')
		return -1;
	*auth_off = skip;
	*auth_len = a;
	return 1;
}

enum outcome http1_head_too_large(size_t nfields, size_t target_len)
{
	return nfields == 0 && target_len > 0 ? OUT_URI_TOO_LONG : OUT_HEADERS_TOO_LARGE;
}

void http1_chunk_add(struct evbuffer *out, const void *at, size_t len)
{
	char line[24];          /* 16 hex digits and CRLF */
	size_t n;

	if (len == 0)
		return;
	n = util_u64_hex(len, line);
	line[n++] = '\r';
	line[n++] = '\n';
	evbuffer_add(out, line, n);
	evbuffer_add(out, at, len);
	evbuffer_add(out, "\r\n", 2);
}

void http1_chunk_last(struct evbuffer *out)
{
	evbuffer_add(out, "0\r\n\r\n", 5);
}
