/* cors.c - CORS policies: built and checked from a "cors" block, then matched per request. */
#include "cors.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1.h"
#include "util.h"

/* The Vary of a preflight's answer: it depends on all three request fields. */
static const char cors_vary[] = "Origin";
static const char cors_vary_preflight[] =
	"Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

static void cors_list_free(struct cors_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

/* Index of s in l (case-insensitively with `nocase`), or -1. */
static long cors_list_find(const struct cors_list *l, const char *s, size_t n, bool nocase)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->len[i] == n &&
		    (nocase ? strncasecmp(l->v[i], s, n) == 0 : memcmp(l->v[i], s, n) == 0))
			return (long)i;
	}
	return -1;
}

/* Append a copy of s; 0, or -1 with *why. */
static int cors_list_add(struct cors_list *l, size_t max, const char *s, size_t n, const char **why)
{
	char **v;
	size_t *len;
	char *copy;

	if (l->n >= max) {
		*why = "is one too many (see the limits in docs/configuration.md)";
		return -1;
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v != NULL)
		l->v = v;
	len = realloc(l->len, (l->n + 1) * sizeof(*len));
	if (len != NULL)
		l->len = len;
	copy = util_strndup(s, n);
	if (v == NULL || len == NULL || copy == NULL) {
		free(copy);
		*why = "out of memory";
		return -1;
	}
	l->v[l->n] = copy;
	l->len[l->n++] = n;
	return 0;
}

struct cors_policy *cors_policy_new(void)
{
	struct cors_policy *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->max_age_s = CORS_DEF_MAX_AGE;
	return p;
}

void cors_policy_free(struct cors_policy *p)
{
	if (p == NULL)
		return;
	cors_list_free(&p->origins);
	cors_list_free(&p->methods);
	cors_list_free(&p->headers);
	cors_list_free(&p->expose);
	free(p->methods_val);
	free(p->headers_val);
	free(p->expose_val);
	free(p);
}

/* The serialized origin (RFC 6454 6.2, as browsers send it) of a configured one into out:
 * lowercase scheme and host, the default port of http and https dropped. 0, or -1 with *why. */
static int cors_origin_normalize(const char *s, char out[CORS_ORIGIN_MAX + 1], const char **why)
{
	size_t n = strlen(s), i, o, hs, he;
	const char *sep = strstr(s, "://");
	unsigned long port = 0;

	if (n > CORS_ORIGIN_MAX) {
		*why = "is too long for an origin";
		return -1;
	}
	if (strcmp(s, "null") == 0) {
		*why = "\"null\" cannot be allowed: sandboxed frames, file: pages and some redirects "
		       "send it, so any page can claim it";
		return -1;
	}
	if (strchr(s, '*') != NULL) {
		*why = "has a wildcard: list each origin, or allow every one with [\"*\"] alone";
		return -1;
	}
	if (sep == NULL || sep == s) {
		*why = "must be scheme://host[:port], e.g. \"https://app.example.com\"";
		return -1;
	}
	for (i = 0; s + i < sep; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.')))) {
			*why = "has an invalid scheme (a letter, then letters, digits, + - .)";
			return -1;
		}
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	memcpy(out + i, "://", 3);
	o = i + 3;
	hs = i + 3;
	if (strpbrk(s + hs, "/?#") != NULL) {
		*why = "has a path, query or fragment: an origin is scheme://host[:port] only, "
		       "without even a trailing '/'";
		return -1;
	}
	if (strchr(s + hs, '@') != NULL) {
		*why = "has user information: an origin is scheme://host[:port] only";
		return -1;
	}
	if (s[hs] == '[') {
		/* Browsers send an IPv6 host in its RFC 5952 text, which inet_ntop writes. */
		const char *rb = strchr(s + hs, ']');
		char lit[INET6_ADDRSTRLEN];
		unsigned char a6[16];

		if (rb == NULL || (size_t)(rb - s) - hs - 1 >= sizeof(lit)) {
			*why = "has an invalid IPv6 literal";
			return -1;
		}
		memcpy(lit, s + hs + 1, (size_t)(rb - s) - hs - 1);
		lit[(size_t)(rb - s) - hs - 1] = '\0';
		if (inet_pton(AF_INET6, lit, a6) != 1 || inet_ntop(AF_INET6, a6, lit, sizeof(lit)) == NULL) {
			*why = "has an invalid IPv6 literal";
			return -1;
		}
		o += (size_t)snprintf(out + o, CORS_ORIGIN_MAX + 1 - o, "[%s]", lit);
		he = (size_t)(rb - s) + 1;
	} else {
		for (he = hs; s[he] != '\0' && s[he] != ':'; he++) {
			unsigned char ch = (unsigned char)s[he];

			if (ch >= 0x80) {
				*why = "must be ASCII: write an internationalized host name in its "
				       "xn-- (punycode) form, as browsers send it";
				return -1;
			}
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_')) {
				*why = "has an invalid host (letters, digits, - . _, or an [IPv6] literal)";
				return -1;
			}
		}
		if (he == hs) {
			*why = "has no host";
			return -1;
		}
		for (i = hs; i < he; i++)
			out[o++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	}
	if (s[he] == ':') {
		for (i = he + 1; s[i] != '\0'; i++) {
			if (s[i] < '0' || s[i] > '9' || i - he > 5) {
				port = 0;
				break;
			}
			port = port * 10 + (unsigned long)(s[i] - '0');
		}
		if (port == 0 || port > 65535 || s[he + 1] == '0') {
			*why = "has an invalid port (1..65535, no leading zero)";
			return -1;
		}
		/* Browsers never send a scheme's default port: compare as they send it. */
		if (!((strncmp(out, "http:", 5) == 0 && port == 80) ||
		      (strncmp(out, "https:", 6) == 0 && port == 443)))
			o += (size_t)snprintf(out + o, CORS_ORIGIN_MAX + 1 - o, ":%lu", port);
	} else if (s[he] != '\0') {
		*why = "has an invalid host";
		return -1;
	}
	out[o] = '\0';
	return 0;
}

int cors_add_origin(struct cors_policy *p, const char *s, const char **why)
{
	char norm[CORS_ORIGIN_MAX + 1];

	if (strcmp(s, "*") == 0 || p->any_origin) {
		if (p->origins_seen++ > 0) {
			*why = "\"*\" allows every origin: it must be the only one listed";
			return -1;
		}
		p->any_origin = true;
		return 0;
	}
	p->origins_seen++;
	if (cors_origin_normalize(s, norm, why) != 0)
		return -1;
	if (cors_list_find(&p->origins, norm, strlen(norm), false) >= 0) {
		*why = "is listed twice (compared as browsers send it: lowercase, no default port)";
		return -1;
	}
	return cors_list_add(&p->origins, CORS_MAX_ORIGINS, norm, strlen(norm), why);
}

int cors_add_method(struct cors_policy *p, const char *s, const char **why)
{
	/* The Fetch standard upper-cases these six (and no other) before sending them. */
	static const char *const normalized[] = {"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"};
	size_t n = strlen(s);

	if (strcmp(s, "*") == 0) {
		*why = "wildcards are not supported: list the methods";
		return -1;
	}
	if (n > CORS_NAME_MAX || !http1_token_ok(s, n)) {
		*why = "is not a method name (an RFC 9110 token)";
		return -1;
	}
	if (strcasecmp(s, "CONNECT") == 0 || strcasecmp(s, "TRACE") == 0 ||
	    strcasecmp(s, "TRACK") == 0) {
		*why = "is a method browsers never send (forbidden by the Fetch standard)";
		return -1;
	}
	for (size_t i = 0; i < ARRAY_LEN(normalized); i++) {
		if (strcasecmp(s, normalized[i]) == 0 && strcmp(s, normalized[i]) != 0) {
			*why = "must be upper case: methods are case-sensitive and browsers send "
			       "DELETE, GET, HEAD, OPTIONS, POST and PUT in upper case";
			return -1;
		}
	}
	if (cors_list_find(&p->methods, s, n, false) >= 0) {
		*why = "is listed twice";
		return -1;
	}
	return cors_list_add(&p->methods, CORS_MAX_METHODS, s, n, why);
}

/* A header name for allow_headers or expose_headers; `always` is the one fngate lists anyway. */
static int cors_add_name(struct cors_list *l, const char *s, const char *always, const char **why)
{
	size_t n = strlen(s);

	if (strcmp(s, "*") == 0) {
		*why = "wildcards are not supported: list the header names";
		return -1;
	}
	if (n > CORS_NAME_MAX || !http1_token_ok(s, n)) {
		*why = "is not a header name (an RFC 9110 token)";
		return -1;
	}
	if (cors_list_find(l, s, n, true) >= 0) {
		*why = "is listed twice (header names are case-insensitive)";
		return -1;
	}
	if (strcasecmp(s, always) == 0)
		return 0;       /* listed by fngate in any case */
	return cors_list_add(l, CORS_MAX_HEADERS, s, n, why);
}

int cors_add_header(struct cors_policy *p, const char *s, const char **why)
{
	return cors_add_name(&p->headers, s, "X-Auth-Token", why);
}

int cors_add_expose(struct cors_policy *p, const char *s, const char **why)
{
	return cors_add_name(&p->expose, s, "X-Request-Id", why);
}

/* "first, v[0], v[1]...": a list field's value; NULL on failure. */
static char *cors_join(const char *first, const struct cors_list *l, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (f == NULL)
		return NULL;
	fputs(first != NULL ? first : "", f);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s%s", first != NULL || i > 0 ? ", " : "", l->v[i]);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int cors_policy_finish(struct cors_policy *p, const char **field, const char **why)
{
	static const char *const defaults[] = {"GET", "HEAD", "POST"};

	if (!p->any_origin && p->origins.n == 0) {
		*field = "allow_origins";
		*why = "must list at least one origin";
		return -1;
	}
	if (p->any_origin && p->credentials) {
		*field = "allow_credentials";
		*why = "cannot be true with allow_origins [\"*\"]: browsers refuse credentials "
		       "with a wildcard origin; list the origins instead";
		return -1;
	}
	/* Past the checks, only memory can fail: *field NULL says so. */
	*field = NULL;
	*why = "out of memory";
	if (p->methods.n == 0) {
		for (size_t i = 0; i < ARRAY_LEN(defaults); i++)
			if (cors_list_add(&p->methods, CORS_MAX_METHODS, defaults[i],
					  strlen(defaults[i]), why) != 0)
				return -1;
	}
	p->methods_val = cors_join(NULL, &p->methods, &p->methods_len);
	p->headers_val = cors_join("X-Auth-Token", &p->headers, &p->headers_len);
	p->expose_val = cors_join("X-Request-Id", &p->expose, &p->expose_len);
	p->max_age_len = util_u64_dec(p->max_age_s, p->max_age_val);
	return p->methods_val != NULL && p->headers_val != NULL && p->expose_val != NULL ? 0 : -1;
}

bool cors_origin_allowed(const struct cors_policy *p, const char *origin, size_t len)
{
	if (origin == NULL || len == 0)
		return false;
	if (p->any_origin)
		return true;
	return cors_list_find(&p->origins, origin, len, true) >= 0;
}

/* Every element of the Access-Control-Request-Headers list is fngate's X-Auth-Token or an
 * allowed header. Empty elements are skipped; anything that is not a token fails. */
static bool cors_headers_allowed(const struct cors_policy *p, const char *v, size_t vl)
{
	size_t i = 0;

	while (i < vl) {
		size_t s, e;

		while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vl && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;
		if (!http1_token_ok(v + s, e - s))
			return false;
		if (!util_ieq(v + s, e - s, "x-auth-token") &&
		    cors_list_find(&p->headers, v + s, e - s, true) < 0)
			return false;
	}
	return true;
}

enum outcome cors_check(const struct cors_policy *p, const struct cors_request *rq,
			enum cors_state *st)
{
	bool allowed = rq->norigin == 1 && cors_origin_allowed(p, rq->origin, rq->origin_len);

	*st = allowed ? CORS_ALLOWED : CORS_OTHER;
	/* Fetch: a CORS preflight is an OPTIONS with Origin and Access-Control-Request-Method.
	 * A plain OPTIONS is an ordinary request for the function. */
	if (!rq->options || rq->norigin == 0 || rq->nmethod == 0)
		return OUT_NONE;
	if (!allowed)
		return OUT_CORS_ORIGIN;
	if (rq->nmethod != 1 || cors_list_find(&p->methods, rq->method, rq->method_len, false) < 0)
		return OUT_CORS_METHOD;
	if (rq->nheaders > 1 ||
	    (rq->nheaders == 1 && !cors_headers_allowed(p, rq->headers, rq->headers_len)))
		return OUT_CORS_HEADERS;
	return OUT_CORS_PREFLIGHT;
}

/* Append field name: val (a literal name) to f[n]. */
#define CORS_FIELD(f, n, nm, v, vl)				\
	do {							\
		(f)[n].name = (nm);				\
		(f)[n].name_len = sizeof(nm) - 1;		\
		(f)[n].val = (v);				\
		(f)[n].val_len = (vl);				\
		(n)++;						\
	} while (0)

size_t cors_fields(const struct cors_policy *p, enum cors_state st, enum outcome o,
		   const char *origin, size_t origin_len, struct cors_field f[CORS_FIELDS_MAX])
{
	bool preflight = o == OUT_CORS_PREFLIGHT || o == OUT_CORS_ORIGIN || o == OUT_CORS_METHOD ||
			 o == OUT_CORS_HEADERS;
	const char *vary = preflight ? cors_vary_preflight : cors_vary;
	size_t vary_len = preflight ? sizeof(cors_vary_preflight) - 1 : sizeof(cors_vary) - 1;
	size_t n = 0;

	if (st == CORS_OFF)
		return 0;
	if (st == CORS_ALLOWED) {
		/* "*" only where no credentials are allowed (cors_policy_finish makes sure). */
		CORS_FIELD(f, n, "Access-Control-Allow-Origin", p->any_origin ? "*" : origin,
			   p->any_origin ? 1 : origin_len);
		/* A preflight refused from an allowed origin: no Allow-* follows. */
		if (p->credentials && (o == OUT_CORS_PREFLIGHT || !preflight))
			CORS_FIELD(f, n, "Access-Control-Allow-Credentials", "true", 4);
		if (o == OUT_CORS_PREFLIGHT) {
			CORS_FIELD(f, n, "Access-Control-Allow-Methods", p->methods_val, p->methods_len);
			CORS_FIELD(f, n, "Access-Control-Allow-Headers", p->headers_val, p->headers_len);
			CORS_FIELD(f, n, "Access-Control-Max-Age", p->max_age_val, p->max_age_len);
		} else if (!preflight) {
			CORS_FIELD(f, n, "Access-Control-Expose-Headers", p->expose_val, p->expose_len);
		}
	}
	CORS_FIELD(f, n, "Vary", vary, vary_len);
	return n;
}

bool cors_upstream_field(const char *name, size_t len)
{
	return len > 15 && strncasecmp(name, "access-control-", 15) == 0;
}
