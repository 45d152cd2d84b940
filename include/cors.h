/* cors.h - CORS (the Fetch standard's cross-origin rules) for functions that configure it: the
 * policy built from a "cors" block, the origin match, the preflight decision and the response
 * fields. No event loop: conf.c builds policies, the request path (conn.c, reply.c, response.c)
 * asks them, and tests/unit/test_cors.c drives them directly. docs/configuration.md describes the
 * block, docs/security.md what it opens. */
#ifndef FNGATE_CORS_H
#define FNGATE_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "outcome.h"

/* Bounds on a "cors" block (a configuration is written by people). */
#define CORS_MAX_ORIGINS   256
#define CORS_MAX_METHODS   32
#define CORS_MAX_HEADERS   64     /* allow_headers, and expose_headers */
#define CORS_ORIGIN_MAX    300    /* bytes of one origin */
#define CORS_NAME_MAX      128    /* bytes of one method or header name */
#define CORS_MAX_AGE_MAX   86400  /* max_age_s: a day (Firefox's cap; Chromium's is 2 hours) */
#define CORS_DEF_MAX_AGE   600

struct cors_list {
	char  **v;
	size_t *len;
	size_t  n;
};

/* One function's CORS policy; immutable once cors_policy_finish succeeded. */
struct cors_policy {
	bool             any_origin;    /* allow_origins ["*"] */
	size_t           origins_seen;  /* entries offered, valid or not: "*" must be alone */
	struct cors_list origins;       /* serialized as browsers send them: lowercase scheme and
					 * host, no default port */
	struct cors_list methods;       /* case-sensitive, as HTTP methods are */
	struct cors_list headers;       /* allow_headers, as written (matched case-insensitively) */
	struct cors_list expose;        /* expose_headers, as written */
	unsigned         max_age_s;
	bool             credentials;
	/* the list fields' values, built by cors_policy_finish */
	char            *methods_val;   /* Access-Control-Allow-Methods */
	size_t           methods_len;
	char            *headers_val;   /* Access-Control-Allow-Headers (X-Auth-Token first) */
	size_t           headers_len;
	char            *expose_val;    /* Access-Control-Expose-Headers (X-Request-Id first) */
	size_t           expose_len;
	char             max_age_val[24];   /* Access-Control-Max-Age */
	size_t           max_age_len;
};

/* A new empty policy (no origin yet, methods unset, max_age_s CORS_DEF_MAX_AGE), or NULL. */
struct cors_policy *cors_policy_new(void);
void cors_policy_free(struct cors_policy *p);

/* Add one configured value. Each returns 0, or -1 with *why set to a static text saying what is
 * wrong with it (nothing added): syntax, "*" mixed with origins, a value listed twice...
 * Origins are scheme://host[:port] (no path, query, fragment or user information; not "null"),
 * or "*" alone; methods are tokens (RFC 9110 5.6.2), not "*", CONNECT, TRACE or TRACK, and
 * DELETE/GET/HEAD/OPTIONS/POST/PUT in upper case; header names are tokens, not "*". */
int cors_add_origin(struct cors_policy *p, const char *s, const char **why);
int cors_add_method(struct cors_policy *p, const char *s, const char **why);
int cors_add_header(struct cors_policy *p, const char *s, const char **why);
int cors_add_expose(struct cors_policy *p, const char *s, const char **why);

/* The lists are complete: check the whole (an origin at least; credentials never with "*"),
 * default allow_methods to GET, HEAD, POST, and build the response fields. 0, or -1 with *why
 * and `*field`, the key it is about ("allow_origins", "allow_credentials"), NULL when memory
 * ran out. */
int cors_policy_finish(struct cors_policy *p, const char **field, const char **why);

/* Whether an Origin header value (len bytes) is allowed: equal, ASCII case-insensitively, to a
 * configured origin, or anything non-empty under "*". */
bool cors_origin_allowed(const struct cors_policy *p, const char *origin, size_t len);

/* What a function with CORS does with a request's Origin. */
enum cors_state {
	CORS_OFF = 0,       /* the function has no "cors": no field added, none removed */
	CORS_OTHER,         /* no Origin, or one not allowed: only Vary: Origin */
	CORS_ALLOWED,       /* an allowed Origin: Access-Control-Allow-Origin and the rest */
};

/* The fields of a request that CORS reads (several fields of one name count as invalid). */
struct cors_request {
	bool        options;            /* the method is OPTIONS */
	const char *origin;
	size_t      origin_len;
	unsigned    norigin;            /* how many Origin fields */
	const char *method;             /* Access-Control-Request-Method */
	size_t      method_len;
	unsigned    nmethod;
	const char *headers;            /* Access-Control-Request-Headers */
	size_t      headers_len;
	unsigned    nheaders;
};

/* Classify a request to a function with policy p: *st tells which fields its response gets.
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) returns its answer, which
 * fngate gives itself: OUT_CORS_PREFLIGHT (204), or OUT_CORS_ORIGIN / OUT_CORS_METHOD /
 * OUT_CORS_HEADERS (403). Any other request returns OUT_NONE: it goes through the gate. */
enum outcome cors_check(const struct cors_policy *p, const struct cors_request *rq,
			enum cors_state *st);

/* One response field, as name and value: each front end formats it for its protocol. */
struct cors_field {
	const char *name;
	size_t      name_len;
	const char *val;
	size_t      val_len;
};

/* The CORS fields of a response, at most CORS_FIELDS_MAX, to add in order; returns how many.
 * `o` is the outcome fngate answers with itself (a preflight's gets the preflight fields),
 * OUT_NONE for a response relayed from the upstream. They point into p, static text, or
 * `origin` (echoed when allowed). */
#define CORS_FIELDS_MAX 6
size_t cors_fields(const struct cors_policy *p, enum cors_state st, enum outcome o,
		   const char *origin, size_t origin_len, struct cors_field f[CORS_FIELDS_MAX]);

/* An upstream response field fngate replaces on a function with CORS: Access-Control-*. */
bool cors_upstream_field(const char *name, size_t len);

#endif
