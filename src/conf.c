/* conf.c - the JSON configuration: load, validate completely, refcounted immutable snapshots. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cors.h"
#include "jsonpos.h"
#include "keys.h"
#include "route.h"
#include "store_seal.h"
#include "tls.h"
#include "util.h"

/* Bounds on every input: a configuration is written by people, never this large. */
#define CONF_FILE_MAX        (16u * 1024 * 1024)
#define CONF_PATH_MAX        4096
#define CONF_PREFIX_MAX      512
#define CONF_HOST_MAX        253
#define CONF_ISSUER_MAX      1024
#define CONF_URL_MAX         2048
#define CONF_MAX_NAMESPACES  10000
#define CONF_MAX_FUNCTIONS   10000     /* per namespace */
#define CONF_MAX_KEYS        64        /* per namespace */
#define CONF_MAX_HOSTS       256       /* per function */
#define CONF_MAX_UPSTREAMS   64        /* per function */
#define CONF_MAX_ADDRS       16        /* servers taken from one upstream name's addresses */
#define CONF_MAX_LISTEN      64
#define CONF_MAX_ADMIN_KEYS  1024
#define CONF_MAX_ADMIN_HOSTS 64
#define CONF_DEFAULT_MAX_TOKENS 10000  /* registry records per namespace (security.md: quotas) */
#define CONF_MAX_MAX_TOKENS  1000000   /* the registry's own cap, shared by every namespace */
#define CONF_MAX_ERRORS      200       /* past this, one file is beyond help (and each error
					 * rescans the text for its position) */

/* Defaults: the values of the example in the configuration issue (docs/configuration.md). */
#define CONF_DEF_ACCESS_LOG_FLUSH_MS 1000
#define CONF_DEF_MAX_HEADER       16384
#define CONF_DEF_MAX_BODY         6291456
#define CONF_DEF_MAX_TOKEN        8192
#define CONF_DEF_MAX_CONNS        10000
#define CONF_DEF_HEADER_MS        10000
#define CONF_DEF_CONNECT_MS       2000
#define CONF_DEF_RESPONSE_MS      30000
#define CONF_DEF_TUNNEL_IDLE_MS   300000
#define CONF_DEF_MAX_TUNNELS      1000
#define CONF_DEF_UPSTREAM_KEEPALIVE 64
#define CONF_DEF_SHUTDOWN_MS      10000
#define CONF_DEF_LEEWAY_S         60
#define CONF_DEF_CACHE_ENTRIES    10000
#define CONF_DEF_STATE_DIR        "/var/lib/fngate"
#define CONF_DEF_ADMIN_LISTEN     "127.0.0.1:9090"
#define CONF_DEF_ADMIN_MAX_CONNECTIONS 64

/* Validation state: the text (for positions), where we are in the tree, and the error list. */
struct conf_ctx {
	const char          *text;
	size_t               len;
	const char          *file;
	struct conf_errors  *errs;
	struct conf         *c;
	struct jsonpos_step  path[JSONPOS_MAX_STEPS];
	size_t               depth;
	bool                 nomem;
	/* functions with an error of their own: left out of the route cross-check, so a
	 * refused path_prefix is not reported a second time as a clashing catch-all */
	const struct conf_function **bad;
	size_t               nbad;
	/* the client context of https upstreams without "upstream_tls" (system CA store), made
	 * once per load and shared: reading the store per function would be slow */
	struct tls_client   *tls_default;
};

static _Atomic uint64_t conf_generation;

static pthread_mutex_t conf_current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *conf_current;
static _Atomic uint64_t conf_current_gen;  /* generation of conf_current, read without the lock */

static const char *const conf_top_keys[] = {
	"listen", "workers", "state_dir", "limits", "timeouts", "tokens", "namespaces", "admin",
	"access_log", "access_log_flush_ms", "log_format", "shutdown_timeout_ms", "user", "group", "underscores_in_headers",
	"health", "store", "public_url", "audit", "http2", NULL
};
static const char *const conf_http2_keys[] = {
	"max_concurrent_streams", "initial_window_bytes", "header_table_bytes", "max_resets_per_s",
	"extended_connect", NULL
};
static const char *const conf_limits_keys[] = {
	"max_header_bytes", "max_body_bytes", "max_token_bytes", "max_connections", "max_tunnels", "upstream_keepalive", NULL
};
static const char *const conf_timeouts_keys[] = {
	"client_header_ms", "client_idle_ms", "upstream_connect_ms", "upstream_response_ms",
	"tunnel_idle_ms", NULL
};
static const char *const conf_tokens_keys[] = {
	"leeway_s", "forward_token", "cache_entries", NULL
};
static const char *const conf_ns_keys[] = {
	"id", "name", "issuer", "keys", "functions", "issue_tokens", "require_registered_tokens",
	"signing_key", "max_tokens", "cors", "public_url", NULL
};
static const char *const conf_key_keys[] = {
	"kid", "alg", "public_key", NULL
};
static const char *const conf_fn_keys[] = {
	"id", "name", "privacy", "hosts", "path_prefix", "strip_prefix", "upstreams", "limits",
	"timeouts", "upstream_tls", "cors", "upstream_protocol", NULL
};
static const char *const conf_cors_keys[] = {
	"allow_origins", "allow_methods", "allow_headers", "expose_headers", "max_age_s",
	"allow_credentials", NULL
};
static const char *const conf_listen_keys[] = {
	"address", "tls", "http2", NULL
};
static const char *const conf_listen_tls_keys[] = {
	"cert", "key", "min_version", "certificates", NULL
};
static const char *const conf_cert_keys[] = {
	"cert", "key", NULL
};
static const char *const conf_upstream_tls_keys[] = {
	"ca", "cert", "key", NULL
};
static const char *const conf_admin_keys[] = {
	"listen", "keys", "metrics_auth", "max_connections", "hosts", "tls", NULL
};
static const char *const conf_health_keys[] = {
	"listen", NULL
};
static const char *const conf_admin_key_keys[] = {
	"name", "sha256", "role", "permissions", "namespaces", NULL
};

/* ---- the error list ---- */

static void conf_errors_addv(struct conf_errors *errs, const char *file, int line, int column,
			     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void conf_errors_addv(struct conf_errors *errs, const char *file, int line, int column,
			     const char *fmt, va_list ap)
{
	struct conf_error *v;
	char buf[1024];

	if (errs->n >= CONF_MAX_ERRORS)
		return;
	if (errs->n == CONF_MAX_ERRORS - 1) {
		/* the last slot says that the list is cut, so nobody takes it as complete */
		line = 0;
		column = 0;
		snprintf(buf, sizeof(buf), "too many errors: only the first %d are listed", CONF_MAX_ERRORS - 1);
	} else {
		vsnprintf(buf, sizeof(buf), fmt, ap);
	}
	v = realloc(errs->v, (errs->n + 1) * sizeof(*v));
	if (v == NULL)
		return;
	errs->v = v;
	v[errs->n].file = strdup(file);
	v[errs->n].message = strdup(buf);
	v[errs->n].line = line;
	v[errs->n].column = column;
	if (v[errs->n].file == NULL || v[errs->n].message == NULL) {
		free(v[errs->n].file);
		free(v[errs->n].message);
		return;
	}
	errs->n++;
}

static void conf_errors_add(struct conf_errors *errs, const char *file, int line, int column,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void conf_errors_add(struct conf_errors *errs, const char *file, int line, int column,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_errors_addv(errs, file, line, column, fmt, ap);
	va_end(ap);
}

void conf_errors_print(const struct conf_errors *errs, void *stream)
{
	FILE *f = stream;
	size_t i;

	for (i = 0; i < errs->n; i++) {
		const struct conf_error *e = &errs->v[i];

		if (e->line > 0)
			fprintf(f, "%s:%d:%d: %s\n", e->file, e->line, e->column, e->message);
		else
			fprintf(f, "%s: %s\n", e->file, e->message);
	}
}

void conf_errors_free(struct conf_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].message);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

/* Errors are found tree-first (and cross-checks last); people read files top-down, so the list
 * is put in file order. Stable: errors at one position keep the order they were found in. */
static void conf_errors_sort(struct conf_errors *errs, size_t from)
{
	size_t i, j;

	for (i = from + 1; i < errs->n; i++) {
		struct conf_error e = errs->v[i];

		for (j = i; j > from; j--) {
			const struct conf_error *p = &errs->v[j - 1];

			if (p->line < e.line || (p->line == e.line && p->column <= e.column))
				break;
			errs->v[j] = *p;
		}
		errs->v[j] = e;
	}
}

/* ---- the path stack and located errors ---- */

static void conf_push_key(struct conf_ctx *x, const char *key)
{
	/* The schema is 6 levels deep at most; the bound only guards a future mistake. */
	if (x->depth < JSONPOS_MAX_STEPS) {
		x->path[x->depth].key = key;
		x->path[x->depth].index = 0;
	}
	x->depth++;
}

static void conf_push_index(struct conf_ctx *x, size_t index)
{
	if (x->depth < JSONPOS_MAX_STEPS) {
		x->path[x->depth].key = NULL;
		x->path[x->depth].index = index;
	}
	x->depth++;
}

static void conf_pop(struct conf_ctx *x)
{
	x->depth--;
}

/* Render a path; keys are shown printable and bounded (an unknown key is the user's input). */
static void conf_path_render(const struct jsonpos_step *steps, size_t n, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o + 1 < size; i++) {
		if (steps[i].key == NULL) {
			int w = snprintf(buf + o, size - o, "[%zu]", steps[i].index);

			if (w < 0 || (size_t)w >= size - o)
				break;
			o += (size_t)w;
			continue;
		}
		if (i > 0 && o + 1 < size)
			buf[o++] = '.';
		for (const char *k = steps[i].key; *k != '\0' && o + 1 < size; k++) {
			if (k - steps[i].key >= 64) {
				if (o + 4 < size) {
					memcpy(buf + o, "...", 3);
					o += 3;
				}
				break;
			}
			buf[o++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
		}
		buf[o] = '\0';
	}
	buf[o < size ? o : size - 1] = '\0';
}

/* Position of the deepest existing part of the current path: a missing key is reported where
 * the object that should hold it starts. */
static void conf_locate(const struct conf_ctx *x, const struct jsonpos_step *steps, size_t n,
			enum jsonpos_part part, int *line, int *column)
{
	size_t d = n < JSONPOS_MAX_STEPS ? n : JSONPOS_MAX_STEPS;

	for (;;) {
		if (jsonpos_locate(x->text, x->len, steps, d, d == n ? part : JSONPOS_VALUE,
				   line, column) == 0)
			return;
		if (d == 0)
			break;
		d--;
	}
	*line = 0;
	*column = 0;
}

static void conf_err_at(struct conf_ctx *x, const struct jsonpos_step *steps, size_t n,
			enum jsonpos_part part, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void conf_err_at(struct conf_ctx *x, const struct jsonpos_step *steps, size_t n,
			enum jsonpos_part part, const char *fmt, ...)
{
	char path[512], msg[768];
	int line, column;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_path_render(steps, n < JSONPOS_MAX_STEPS ? n : JSONPOS_MAX_STEPS, path, sizeof(path));
	conf_locate(x, steps, n, part, &line, &column);
	if (path[0] != '\0')
		conf_errors_add(x->errs, x->file, line, column, "%s: %s", path, msg);
	else
		conf_errors_add(x->errs, x->file, line, column, "%s", msg);
}

/* An error about the current path (key or value). */
#define conf_err(x, part, ...) conf_err_at((x), (x)->path, (x)->depth, (part), __VA_ARGS__)

static void conf_nomem(struct conf_ctx *x)
{
	if (!x->nomem)
		conf_errors_add(x->errs, x->file, 0, 0, "out of memory");
	x->nomem = true;
}

/* ---- typed getters: 1 present and valid, 0 absent, -1 invalid (error recorded) ---- */

static const char *conf_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static size_t conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best;

			best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* Unknown keys are errors at every level: a misspelt "privcy" must never leave a default in
 * place silently (a function would stay whatever the default is without anyone noticing). */
static int conf_check_keys(struct conf_ctx *x, json_t *o, const char *const *allowed)
{
	const char *key;
	json_t *v;
	int rc = 0;

	json_object_foreach(o, key, v) {
		const char *best = NULL;
		size_t bestd = 3, i;
		bool ok = false;

		for (i = 0; allowed[i] != NULL; i++) {
			size_t d;

			if (strcmp(key, allowed[i]) == 0) {
				ok = true;
				break;
			}
			d = conf_edit_distance(key, allowed[i]);
			/* "max_headers" for "max_header_bytes": a shortened name is a near miss too */
			if (d >= bestd && strlen(key) >= 4 && strncmp(key, allowed[i], strlen(key) - 1) == 0)
				d = bestd - 1;
			if (d < bestd) {
				bestd = d;
				best = allowed[i];
			}
		}
		if (ok)
			continue;
		conf_push_key(x, key);
		if (best != NULL)
			conf_err(x, JSONPOS_KEY, "unknown key (did you mean \"%s\"?)", best);
		else
			conf_err(x, JSONPOS_KEY, "unknown key");
		conf_pop(x);
		rc = -1;
	}
	return rc;
}

static int conf_get_uint(struct conf_ctx *x, json_t *o, const char *key, uint64_t min, uint64_t max,
			 uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	json_int_t n;
	int rc = -1;

	if (v == NULL)
		return 0;
	conf_push_key(x, key);
	if (!json_is_integer(v)) {
		conf_err(x, JSONPOS_VALUE, "must be an integer, not %s", conf_type_name(v));
		goto cleanup;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		conf_err(x, JSONPOS_VALUE, "%" JSON_INTEGER_FORMAT " is out of range (%" PRIu64 "..%" PRIu64 ")",
			 n, min, max);
		goto cleanup;
	}
	*out = (uint64_t)n;
	rc = 1;
cleanup:
	conf_pop(x);
	return rc;
}

static int conf_get_bool(struct conf_ctx *x, json_t *o, const char *key, bool *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		conf_push_key(x, key);
		conf_err(x, JSONPOS_VALUE, "must be true or false, not %s", conf_type_name(v));
		conf_pop(x);
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* A string of 1..maxlen bytes; with `nullable`, null gives *out = NULL and 1. */
static int conf_get_string(struct conf_ctx *x, json_t *o, const char *key, size_t maxlen,
			   bool nullable, const char **out)
{
	json_t *v = json_object_get(o, key);
	int rc = -1;

	if (v == NULL)
		return 0;
	conf_push_key(x, key);
	if (nullable && json_is_null(v)) {
		*out = NULL;
		rc = 1;
		goto cleanup;
	}
	if (!json_is_string(v)) {
		conf_err(x, JSONPOS_VALUE, "must be a string%s, not %s", nullable ? " or null" : "",
			 conf_type_name(v));
		goto cleanup;
	}
	if (json_string_length(v) == 0) {
		conf_err(x, JSONPOS_VALUE, "must not be empty");
		goto cleanup;
	}
	if (json_string_length(v) > maxlen) {
		conf_err(x, JSONPOS_VALUE, "is too long (%zu bytes, at most %zu)", json_string_length(v),
			 maxlen);
		goto cleanup;
	}
	*out = json_string_value(v);
	rc = 1;
cleanup:
	conf_pop(x);
	return rc;
}

/* A member of the given JSON type: 1 present, 0 absent, -1 wrong type. */
static int conf_get_typed(struct conf_ctx *x, json_t *o, const char *key, json_type type,
			  json_t **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (json_typeof(v) != type) {
		conf_push_key(x, key);
		conf_err(x, JSONPOS_VALUE, "must be %s, not %s",
			 type == JSON_OBJECT ? "an object" : "an array", conf_type_name(v));
		conf_pop(x);
		return -1;
	}
	*out = v;
	return 1;
}

static void conf_missing(struct conf_ctx *x, const char *key)
{
	conf_push_key(x, key);
	conf_err(x, JSONPOS_KEY, "missing (required)");
	conf_pop(x);
}

/* An array member with 1..max elements (`allow_empty`: 0..max). */
static int conf_get_array(struct conf_ctx *x, json_t *o, const char *key, size_t max,
			  bool allow_empty, json_t **out)
{
	int rc = conf_get_typed(x, o, key, JSON_ARRAY, out);

	if (rc != 1)
		return rc;
	if (json_array_size(*out) == 0 && !allow_empty) {
		conf_push_key(x, key);
		conf_err(x, JSONPOS_VALUE, "must not be empty");
		conf_pop(x);
		return -1;
	}
	if (json_array_size(*out) > max) {
		conf_push_key(x, key);
		conf_err(x, JSONPOS_VALUE, "has %zu elements, at most %zu are allowed",
			 json_array_size(*out), max);
		conf_pop(x);
		return -1;
	}
	return 1;
}

/* ---- value syntax ---- */

bool conf_id_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char ch = s[n];

		/* ASCII explicitly: isalnum() would follow the locale */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
		if (n >= CONF_ID_MAX)
			return false;
	}
	return n > 0;
}

static int conf_get_id(struct conf_ctx *x, json_t *o, const char *key, const char **out)
{
	int rc = conf_get_string(x, o, key, CONF_ID_MAX, false, out);

	if (rc != 1)
		return rc;
	if (!conf_id_ok(*out)) {
		conf_push_key(x, key);
		conf_err(x, JSONPOS_VALUE, "must be 1..%d characters of A-Z a-z 0-9 . _ -", CONF_ID_MAX);
		conf_pop(x);
		return -1;
	}
	return 1;
}

/* A DNS name, lowercased into out (CONF_HOST_MAX + 1 bytes): labels of 1..63 [a-z0-9-], not
 * starting or ending with '-'. */
static bool conf_dns_name_ok(const char *s, char *out)
{
	size_t n = strlen(s), i, label = 0;

	if (n == 0 || n > CONF_HOST_MAX)
		return false;
	for (i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || out[i - 1] == '-')
				return false;
			label = 0;
			out[i] = (char)ch;
			continue;
		}
		ch = (unsigned char)tolower(ch);
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-')
			return false;
		if (ch == '-' && label == 0)
			return false;
		out[i] = (char)ch;
		label++;
	}
	return true;
}

static char *conf_join(const char *dir, const char *rel)
{
	size_t dl = strlen(dir), rl = strlen(rel);
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	p = malloc(dl + 1 + rl + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, rel, rl + 1);
	return p;
}

/* A path from the file, relative ones anchored at the configuration's directory. */
static int conf_get_path(struct conf_ctx *x, json_t *o, const char *key, char **out)
{
	const char *s;
	int rc = conf_get_string(x, o, key, CONF_PATH_MAX, false, &s);

	if (rc != 1)
		return rc;
	*out = conf_join(x->c->dir, s);
	if (*out == NULL) {
		conf_nomem(x);
		return -1;
	}
	return 1;
}

static int conf_parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 5)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "ip:port", "[v6]:port" or "*:port" (IPv4 any) into a socket address. Numeric only: a listen
 * address is never looked up by name. */
static int conf_parse_listen_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	const char *colon;
	uint16_t port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		hl = (size_t)(close - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (conf_parse_port(close + 2, &port) == -1 || inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*sslen = sizeof(*s6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (conf_parse_port(colon + 1, &port) == -1)
		return -1;
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*sslen = sizeof(*s4);
	}
	return 0;
}

/* A path (prefix or upstream base): '/' first, then visible ASCII; no "..", '%', '?', '#' or
 * "//", so what is matched is what is meant (no encoded or dotted form to route around).
 * The trailing '/' is dropped except for "/" itself. Returns a new string or NULL with *why. */
static char *conf_normalize_path(const char *s, const char **why)
{
	size_t n = strlen(s), i;

	if (s[0] != '/') {
		*why = "must start with '/'";
		return NULL;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f) {
			*why = "must contain visible ASCII characters only";
			return NULL;
		}
		if (ch == '%' || ch == '?' || ch == '#') {
			*why = "must not contain '%', '?' or '#'";
			return NULL;
		}
	}
	if (strstr(s, "..") != NULL) {
		*why = "must not contain \"..\"";
		return NULL;
	}
	if (strstr(s, "//") != NULL) {
		*why = "must not contain \"//\"";
		return NULL;
	}
	while (n > 1 && s[n - 1] == '/')
		n--;
	*why = "out of memory";
	return util_strndup(s, n);
}

/* "public_url" of o: "http(s)://host[:port][/path]", where callers reach fngate's functions.
 * Each mistake gets its own message; the value is stored normalised (lowercase scheme and host,
 * the path without a trailing '/'). */
static void conf_parse_public_url(struct conf_ctx *x, json_t *o, struct conf_public_url *pu)
{
	char host[CONF_HOST_MAX + 3], portstr[8];
	const char *s, *p, *end, *why = NULL;
	char *path = NULL;
	size_t hl, n;
	uint16_t port = 0;

	if (conf_get_string(x, o, "public_url", CONF_URL_MAX, false, &s) != 1)
		return;
	conf_push_key(x, "public_url");
	if (strncasecmp(s, "https://", 8) == 0) {
		pu->tls = true;
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		why = "must start with \"http://\" or \"https://\" (e.g. \"https://fn.example.com\")";
		goto bad;
	}
	if (strchr(s, '?') != NULL) {
		why = "must not have a query (\"?...\"): scheme, host, optional port and path only";
		goto bad;
	}
	if (strchr(s, '#') != NULL) {
		why = "must not have a fragment (\"#...\"): scheme, host, optional port and path only";
		goto bad;
	}
	end = p + strcspn(p, "/");
	if (memchr(p, '@', (size_t)(end - p)) != NULL) {
		why = "must not hold user information (\"user@\"): callers authenticate with tokens";
		goto bad;
	}
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		struct in6_addr a6;

		hl = close != NULL ? (size_t)(close - p + 1) : 0;
		if (close == NULL || hl - 2 >= INET6_ADDRSTRLEN)
			goto bad_host;
		memcpy(host, p, hl);
		host[hl] = '\0';
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6) != 1)
			goto bad_host;
		host[hl - 1] = ']';
		for (size_t i = 0; i < hl; i++)
			host[i] = (char)tolower((unsigned char)host[i]);
		p = close + 1;
	} else {
		char tmp[CONF_HOST_MAX + 1];

		hl = strcspn(p, ":/");
		if (hl == 0 || hl > CONF_HOST_MAX)
			goto bad_host;
		memcpy(tmp, p, hl);
		tmp[hl] = '\0';
		if (!conf_dns_name_ok(tmp, host))
			goto bad_host;
		p += hl;
	}
	if (p != end) {
		size_t pl = (size_t)(end - p - 1);

		if (*p != ':')
			goto bad_host;
		if (pl == 0 || pl >= sizeof(portstr))
			goto bad_port;
		memcpy(portstr, p + 1, pl);
		portstr[pl] = '\0';
		if (conf_parse_port(portstr, &port) == -1)
			goto bad_port;
	}
	if (*end != '\0') {
		path = conf_normalize_path(end, &why);
		if (path == NULL) {
			conf_err(x, JSONPOS_VALUE, "the path %s", why);
			goto cleanup;
		}
		if (strcmp(path, "/") == 0)
			path[0] = '\0';
	} else {
		path = strdup("");
	}
	if (port == (pu->tls ? 443 : 80))
		port = 0;   /* the default port: shown as callers type it, without it */
	n = strlen(host) + strlen(path) + 16;
	pu->port = port;
	pu->host = strdup(host);
	pu->path = path;
	path = NULL;
	pu->url = malloc(n);
	if (pu->host == NULL || pu->path == NULL || pu->url == NULL) {
		conf_nomem(x);
		goto cleanup;
	}
	if (port != 0)
		snprintf(pu->url, n, "%s://%s:%u%s", pu->tls ? "https" : "http", host, port, pu->path);
	else
		snprintf(pu->url, n, "%s://%s%s", pu->tls ? "https" : "http", host, pu->path);
	goto cleanup;
bad_host:
	why = "the host must be a DNS name, an IPv4 address or [IPv6] (http(s)://host[:port][/path])";
	goto bad;
bad_port:
	why = "the port must be 1..65535 (http(s)://host[:port][/path])";
bad:
	conf_err(x, JSONPOS_VALUE, "%s", why);
cleanup:
	free(path);
	conf_pop(x);
}

static void conf_public_url_free(struct conf_public_url *pu)
{
	free(pu->url);
	free(pu->host);
	free(pu->path);
}

/* Free what one upstream entry owns and leave it empty. */
static void conf_upstream_clear(struct conf_upstream *u)
{
	free(u->url);
	free(u->host);
	free(u->hostport);
	free(u->base_path);
	free(u->addr_text);
	free(u->pool_key);
	tls_client_unref(u->tls_client);
	memset(u, 0, sizeof(*u));
}

/* The pool key of an entry: what keeps its connections (and its down mark) apart from every
 * other entry's. A name that resolved to several addresses gives one entry per address, each
 * with the address in its key, so that a failing address is marked down alone and the logs
 * name it. https entries also carry their TLS identity (conf.h). 0 / -1 (out of memory). */
static int conf_upstream_key(struct conf_upstream *u, bool named)
{
	const char *id = u->tls_client != NULL ? tls_client_id(u->tls_client) : "system";
	size_t n = strlen(u->hostport) + strlen(u->addr_text) + strlen(id) + 16;

	if (!u->tls && !named)
		return 0;  /* the key is hostport, which is the address */
	u->pool_key = malloc(n);
	if (u->pool_key == NULL)
		return -1;
	snprintf(u->pool_key, n, "%s%s%s%s%s%s", u->tls ? "https://" : "", u->hostport,
		 named ? "@" : "", named ? u->addr_text : "", strcmp(id, "system") != 0 ? "#" : "",
		 strcmp(id, "system") != 0 ? id : "");
	return 0;
}

/* "http://host[:port][/base]" into entries appended to f->upstreams (room for them is made
 * here): the host is resolved now, numeric or by name, so a name that does not resolve is a
 * configuration error rather than a 502 at the first request; a name with several addresses
 * (IPv4 and IPv6 alike) gives one entry per address, each a server of the function as nginx
 * does, up to CONF_MAX_ADDRS of them. https entries take fn_tls (or the system store).
 * 0 / -1 (recorded). */
static int conf_parse_upstream(struct conf_ctx *x, const char *url, struct conf_function *f,
			       struct tls_client *fn_tls)
{
	char host[CONF_HOST_MAX + 1], portstr[8];
	const char *p, *end, *why;
	struct addrinfo hints, *res = NULL, *ai;
	bool v6 = false, tls = false, named = false;
	uint16_t port = 80;
	char *base_path = NULL;
	size_t hl, naddr = 0, first = f->nupstreams;
	int rc = -1, gai;

	if (strncmp(url, "https://", 8) == 0) {
		tls = true;
		port = 443;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		conf_err(x, JSONPOS_VALUE, "must be http(s)://host:port[/base]");
		return -1;
	}
	if (strpbrk(p, "@?#") != NULL) {
		conf_err(x, JSONPOS_VALUE, "must be http(s)://host:port[/base] (no user, query or fragment)");
		return -1;
	}
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		struct in6_addr a6;

		if (close == NULL || (size_t)(close - p - 1) >= sizeof(host))
			goto bad_host;
		hl = (size_t)(close - p - 1);
		memcpy(host, p + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad_host;
		v6 = true;
		p = close + 1;
		if (p != end && *p != ':')
			goto bad_host;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *hend = colon != NULL ? colon : end;
		char lower[CONF_HOST_MAX + 1], tmp[CONF_HOST_MAX + 1];

		hl = (size_t)(hend - p);
		if (hl == 0 || hl > CONF_HOST_MAX)
			goto bad_host;
		memcpy(tmp, p, hl);
		tmp[hl] = '\0';
		if (!conf_dns_name_ok(tmp, lower))
			goto bad_host;
		memcpy(host, lower, hl + 1);
		p = hend;
		named = inet_pton(AF_INET, host, &(struct in_addr){0}) != 1;
	}
	if (p != end) {
		/* *p == ':' */
		size_t pl = (size_t)(end - p - 1);

		if (pl == 0 || pl >= sizeof(portstr))
			goto bad_port;
		memcpy(portstr, p + 1, pl);
		portstr[pl] = '\0';
		if (conf_parse_port(portstr, &port) == -1)
			goto bad_port;
	}
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	if (*end == '\0') {
		base_path = strdup("");
	} else {
		base_path = conf_normalize_path(end, &why);
		if (base_path == NULL) {
			conf_err(x, JSONPOS_VALUE, "the base path %s", why);
			return -1;
		}
		if (strcmp(base_path, "/") == 0)
			base_path[0] = '\0';
	}
	if (base_path == NULL) {
		conf_nomem(x);
		return -1;
	}
	if (tls && fn_tls == NULL) {
		char err[768];
		enum tls_file which;

		if (x->tls_default == NULL)
			x->tls_default = tls_client_new(NULL, NULL, NULL, err, sizeof(err), &which);
		if (x->tls_default == NULL) {
			conf_err(x, JSONPOS_VALUE, "%s", err);
			goto cleanup;
		}
		fn_tls = x->tls_default;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0 || res == NULL) {
		conf_err(x, JSONPOS_VALUE, "cannot resolve \"%s\": %s", host,
			 gai != 0 ? gai_strerror(gai) : "no address");
		goto cleanup;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		naddr++;
	if (naddr > CONF_MAX_ADDRS)
		naddr = CONF_MAX_ADDRS;
	{
		struct conf_upstream *grown = realloc(f->upstreams, (f->nupstreams + naddr) *
						      sizeof(*f->upstreams));

		if (grown == NULL) {
			conf_nomem(x);
			goto cleanup;
		}
		f->upstreams = grown;
	}
	for (ai = res; ai != NULL && f->nupstreams - first < naddr; ai = ai->ai_next) {
		struct conf_upstream *u = &f->upstreams[f->nupstreams];
		char addr[INET6_ADDRSTRLEN];
		size_t k, tl = strlen(host) + 3 + sizeof(portstr);
		bool dup = false;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(u->addr))
			continue;
		for (k = first; k < f->nupstreams && !dup; k++)
			dup = f->upstreams[k].addrlen == ai->ai_addrlen &&
			      memcmp(&f->upstreams[k].addr, ai->ai_addr, ai->ai_addrlen) == 0;
		if (dup)
			continue;
		memset(u, 0, sizeof(*u));
		memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
		u->addrlen = ai->ai_addrlen;
		u->port = port;
		u->tls = tls;
		u->url = strdup(url);
		u->host = strdup(host);
		u->base_path = strdup(base_path);
		u->hostport = malloc(tl);
		u->addr_text = malloc(INET6_ADDRSTRLEN + 3 + sizeof(portstr));
		if (tls)
			u->tls_client = tls_client_ref(fn_tls);
		if (u->url == NULL || u->host == NULL || u->base_path == NULL || u->hostport == NULL ||
		    u->addr_text == NULL) {
			conf_upstream_clear(u);
			conf_nomem(x);
			goto cleanup;
		}
		snprintf(u->hostport, tl, v6 ? "[%s]:%s" : "%s:%s", host, portstr);
		if (ai->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr,
				  addr, sizeof(addr));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr,
				  addr, sizeof(addr));
		snprintf(u->addr_text, INET6_ADDRSTRLEN + 3 + sizeof(portstr),
			 ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, portstr);
		if (conf_upstream_key(u, named) != 0) {
			conf_upstream_clear(u);
			conf_nomem(x);
			goto cleanup;
		}
		f->nupstreams++;
	}
	if (f->nupstreams == first) {
		conf_err(x, JSONPOS_VALUE, "cannot resolve \"%s\": no IPv4 or IPv6 address", host);
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (res != NULL)
		freeaddrinfo(res);
	free(base_path);
	if (rc == -1) {
		while (f->nupstreams > first)
			conf_upstream_clear(&f->upstreams[--f->nupstreams]);
	}
	return rc;
bad_host:
	conf_err(x, JSONPOS_VALUE, "the host must be a DNS name, an IPv4 address or [IPv6] (http(s)://host:port[/base])");
	return -1;
bad_port:
	conf_err(x, JSONPOS_VALUE, "the port must be 1..65535 (http(s)://host:port[/base])");
	return -1;
}

/* ---- sections ---- */

static void conf_parse_limits(struct conf_ctx *x, json_t *parent, struct conf_limits *l)
{
	json_t *o;
	uint64_t v;

	if (conf_get_typed(x, parent, "limits", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "limits");
	conf_check_keys(x, o, conf_limits_keys);
	if (conf_get_uint(x, o, "max_header_bytes", 1024, 1024 * 1024, &v) == 1)
		l->max_header_bytes = (size_t)v;
	if (conf_get_uint(x, o, "max_body_bytes", 1, (uint64_t)1 << 40, &v) == 1)
		l->max_body_bytes = (size_t)v;
	if (conf_get_uint(x, o, "max_token_bytes", 64, 65536, &v) == 1)
		l->max_token_bytes = (size_t)v;
	if (conf_get_uint(x, o, "max_connections", 1, 1000000, &v) == 1)
		l->max_connections = (unsigned)v;
	if (conf_get_uint(x, o, "max_tunnels", 0, 1000000, &v) == 1)
		l->max_tunnels = (unsigned)v;
	if (conf_get_uint(x, o, "upstream_keepalive", 0, 100000, &v) == 1)
		l->upstream_keepalive = (unsigned)v;
	conf_pop(x);
}

/* The keys of an "http2" object o over the limits already in h. */
static void conf_parse_http2_keys(struct conf_ctx *x, json_t *o, struct conf_http2 *h)
{
	uint64_t v;

	conf_check_keys(x, o, conf_http2_keys);
	if (conf_get_uint(x, o, "max_concurrent_streams", 1, 1000, &v) == 1)
		h->max_concurrent_streams = (unsigned)v;
	if (conf_get_uint(x, o, "initial_window_bytes", 65535, 1024 * 1024, &v) == 1)
		h->initial_window_bytes = (unsigned)v;
	if (conf_get_uint(x, o, "header_table_bytes", 0, 65536, &v) == 1)
		h->header_table_bytes = (unsigned)v;
	if (conf_get_uint(x, o, "max_resets_per_s", 1, 100000, &v) == 1)
		h->max_resets_per_s = (unsigned)v;
	conf_get_bool(x, o, "extended_connect", &h->extended_connect);
}

/* The top-level "http2": the HTTP/2 limits over safe defaults (listeners may override them). */
static void conf_parse_http2(struct conf_ctx *x, json_t *root, struct conf_http2 *h)
{
	json_t *o;

	h->max_concurrent_streams = 100;
	h->initial_window_bytes = 65535;
	h->header_table_bytes = 4096;
	h->max_resets_per_s = 100;
	h->extended_connect = true;
	if (conf_get_typed(x, root, "http2", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "http2");
	conf_parse_http2_keys(x, o, h);
	conf_pop(x);
}

/* A listener's "http2": false (off), true, or an object of limits over the top-level ones. */
static void conf_parse_listen_http2(struct conf_ctx *x, json_t *v, struct conf_listen *l)
{
	json_t *o = json_object_get(v, "http2");

	l->http2 = true;
	l->h2 = x->c->http2;
	if (o == NULL)
		return;
	conf_push_key(x, "http2");
	if (json_is_boolean(o))
		l->http2 = json_is_true(o);
	else if (json_is_object(o))
		conf_parse_http2_keys(x, o, &l->h2);
	else
		conf_err(x, JSONPOS_VALUE, "must be true, false or an object of HTTP/2 limits");
	conf_pop(x);
}

static void conf_parse_timeouts(struct conf_ctx *x, json_t *parent, struct conf_timeouts *t)
{
	static const uint64_t max = 24u * 3600 * 1000;
	json_t *o;
	uint64_t v;

	if (conf_get_typed(x, parent, "timeouts", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "timeouts");
	conf_check_keys(x, o, conf_timeouts_keys);
	if (conf_get_uint(x, o, "client_header_ms", 1, max, &v) == 1)
		t->client_header_ms = (unsigned)v;
	if (conf_get_uint(x, o, "client_idle_ms", 1, max, &v) == 1)
		t->client_idle_ms = (unsigned)v;
	if (conf_get_uint(x, o, "upstream_connect_ms", 1, max, &v) == 1)
		t->upstream_connect_ms = (unsigned)v;
	if (conf_get_uint(x, o, "upstream_response_ms", 1, max, &v) == 1)
		t->upstream_response_ms = (unsigned)v;
	if (conf_get_uint(x, o, "tunnel_idle_ms", 1, max, &v) == 1)
		t->tunnel_idle_ms = (unsigned)v;
	conf_pop(x);
}

/* "cert" and "key" of o (paths) added to a listener's certificate set; an error points at the
 * file at fault. */
static void conf_tls_pair(struct conf_ctx *x, json_t *o, struct tls_server *s)
{
	char *cert = NULL, *key = NULL, err[768];
	enum tls_file which = TLS_FILE_NONE;
	int rc_cert, rc_key;

	rc_cert = conf_get_path(x, o, "cert", &cert);
	if (rc_cert == 0)
		conf_missing(x, "cert");
	rc_key = conf_get_path(x, o, "key", &key);
	if (rc_key == 0)
		conf_missing(x, "key");
	if (rc_cert == 1 && rc_key == 1 && tls_server_add(s, cert, key, err, sizeof(err), &which) != 0) {
		conf_push_key(x, which == TLS_FILE_KEY ? "key" : "cert");
		conf_err(x, JSONPOS_VALUE, "%s", err);
		conf_pop(x);
	}
	free(cert);
	free(key);
}

/* A listener's "tls" object: the default "cert"/"key" and/or "certificates" chosen by SNI,
 * "min_version". Every certificate is loaded and checked now (tls.c), so `fngate check` and a
 * reload refuse a missing, unreadable, mismatched or expired one. NULL after an error. */
static struct tls_server *conf_parse_listen_tls(struct conf_ctx *x, json_t *o)
{
	struct tls_server *s = NULL;
	const char *ver;
	json_t *a = NULL, *v;
	size_t i, before = x->errs->n;
	int min = TLS1_2_VERSION, rc;
	char err[256];
	bool pair;

	conf_check_keys(x, o, conf_listen_tls_keys);
	if (conf_get_string(x, o, "min_version", 16, false, &ver) == 1 &&
	    (min = tls_version_from_name(ver)) == 0) {
		conf_push_key(x, "min_version");
		conf_err(x, JSONPOS_VALUE, "must be \"TLS1.2\" or \"TLS1.3\" (TLS 1.0 and 1.1 are refused)");
		conf_pop(x);
		min = TLS1_2_VERSION;   /* go on checking the certificates */
	}
	pair = json_object_get(o, "cert") != NULL || json_object_get(o, "key") != NULL;
	rc = conf_get_array(x, o, "certificates", TLS_MAX_CERTIFICATES, false, &a);
	if (rc == 0 && !pair) {
		conf_err(x, JSONPOS_VALUE, "needs \"cert\" and \"key\", or \"certificates\"");
		return NULL;
	}
	s = tls_server_new(min, err, sizeof(err));
	if (s == NULL) {
		conf_err(x, JSONPOS_VALUE, "%s", err);
		return NULL;
	}
	/* The first certificate added is the default: the top-level pair, else certificates[0]. */
	if (pair)
		conf_tls_pair(x, o, s);
	if (rc == 1) {
		conf_push_key(x, "certificates");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			if (!json_is_object(v)) {
				conf_err(x, JSONPOS_VALUE, "must be an object {\"cert\", \"key\"}, not %s",
					 conf_type_name(v));
			} else {
				conf_check_keys(x, v, conf_cert_keys);
				conf_tls_pair(x, v, s);
			}
			conf_pop(x);
		}
		conf_pop(x);
	}
	if (x->errs->n != before) {
		tls_server_unref(s);
		s = NULL;
	}
	return s;
}

/* "listen": strings "ip:port" (plain HTTP) or objects {"address", "tls"}. */
static void conf_parse_listen(struct conf_ctx *x, json_t *root)
{
	struct conf *c = x->c;
	json_t *a, *v;
	size_t i, j;
	int rc;

	rc = conf_get_array(x, root, "listen", CONF_MAX_LISTEN, false, &a);
	if (rc == 0)
		conf_missing(x, "listen");
	if (rc != 1)
		return;
	c->listen = calloc(json_array_size(a), sizeof(*c->listen));
	if (c->listen == NULL) {
		conf_nomem(x);
		return;
	}
	conf_push_key(x, "listen");
	json_array_foreach(a, i, v) {
		struct conf_listen *l = &c->listen[c->nlisten];
		const char *addr = NULL;
		json_t *tls = NULL;
		bool obj = json_is_object(v);

		conf_push_index(x, i);
		l->http2 = true;
		l->h2 = c->http2;
		if (obj) {
			conf_check_keys(x, v, conf_listen_keys);
			conf_parse_listen_http2(x, v, l);
			rc = conf_get_string(x, v, "address", 128, false, &addr);
			if (rc == 0)
				conf_missing(x, "address");
			conf_get_typed(x, v, "tls", JSON_OBJECT, &tls);
			if (rc != 1) {
				conf_pop(x);
				continue;
			}
			conf_push_key(x, "address");
		} else if (!json_is_string(v) || json_string_length(v) > 128) {
			conf_err(x, JSONPOS_VALUE, "must be a string \"ip:port\", \"[ipv6]:port\" or \"*:port\", "
				 "or an object {\"address\", \"tls\"}");
			conf_pop(x);
			continue;
		} else {
			addr = json_string_value(v);
		}
		if (conf_parse_listen_addr(addr, &l->addr, &l->addrlen) == -1) {
			conf_err(x, JSONPOS_VALUE, "must be \"ip:port\", \"[ipv6]:port\" or \"*:port\" (port 1..65535)");
		} else {
			for (j = 0; j < c->nlisten; j++) {
				if (c->listen[j].addrlen == l->addrlen &&
				    memcmp(&c->listen[j].addr, &l->addr, l->addrlen) == 0)
					break;
			}
			if (j < c->nlisten) {
				conf_err(x, JSONPOS_VALUE, "\"%s\" is listed twice", addr);
			} else if ((l->address = strdup(addr)) == NULL) {
				conf_nomem(x);
			} else {
				c->nlisten++;
			}
		}
		if (obj)
			conf_pop(x);
		if (tls != NULL && l->address != NULL) {
			conf_push_key(x, "tls");
			l->tls = conf_parse_listen_tls(x, tls);
			conf_pop(x);
		}
		conf_pop(x);
	}
	conf_pop(x);
}

static void conf_parse_key(struct conf_ctx *x, json_t *o, size_t index, struct conf_key *k)
{
	const char *s;
	char err[256];
	int rc;

	if (!json_is_object(o)) {
		conf_err(x, JSONPOS_VALUE, "must be an object {\"kid\", \"alg\", \"public_key\"}, not %s",
			 conf_type_name(o));
		return;
	}
	conf_check_keys(x, o, conf_key_keys);
	rc = conf_get_string(x, o, "kid", CONF_ID_MAX, false, &s);
	if (rc == 1) {
		for (const char *p = s; *p != '\0'; p++) {
			if (*p < 0x21 || *p > 0x7e) {
				conf_push_key(x, "kid");
				conf_err(x, JSONPOS_VALUE, "must be visible ASCII characters");
				conf_pop(x);
				rc = -1;
				break;
			}
		}
		if (rc == 1)
			k->kid = strdup(s);
	} else if (rc == 0) {
		char def[32];

		/* "k1" for the first key, as in the documented example */
		snprintf(def, sizeof(def), "k%zu", index + 1);
		k->kid = strdup(def);
	}
	if (rc != -1 && k->kid == NULL)
		conf_nomem(x);

	rc = conf_get_string(x, o, "alg", 16, false, &s);
	if (rc == 0)
		conf_missing(x, "alg");
	if (rc == 1) {
		k->alg = keys_alg_from_name(s, strlen(s));
		if (k->alg != KEY_ALG_RS256 && k->alg != KEY_ALG_ES256) {
			k->alg = KEY_ALG_NONE;
			conf_push_key(x, "alg");
			conf_err(x, JSONPOS_VALUE, "\"%s\" is not accepted: \"RS256\" or \"ES256\"", s);
			conf_pop(x);
		}
	}

	rc = conf_get_path(x, o, "public_key", &k->path);
	if (rc == 0)
		conf_missing(x, "public_key");
	if (rc == 1 && k->alg != KEY_ALG_NONE) {
		err[0] = '\0';
		k->pkey = keys_load_public(k->path, k->alg, err, sizeof(err));
		if (k->pkey == NULL) {
			conf_push_key(x, "public_key");
			/* keys.c names the file in its messages */
			conf_err(x, JSONPOS_VALUE, "%s", err[0] != '\0' ? err : "cannot load the key");
			conf_pop(x);
		}
	}
}

/* A function's "upstream_tls": {"ca", "cert", "key"} for its https upstreams. NULL when absent
 * or refused (the error recorded). */
static struct tls_client *conf_parse_upstream_tls(struct conf_ctx *x, json_t *o)
{
	struct tls_client *cl = NULL;
	char *ca = NULL, *cert = NULL, *key = NULL, err[768];
	enum tls_file which = TLS_FILE_NONE;
	json_t *t;

	if (conf_get_typed(x, o, "upstream_tls", JSON_OBJECT, &t) != 1)
		return NULL;
	conf_push_key(x, "upstream_tls");
	conf_check_keys(x, t, conf_upstream_tls_keys);
	if (conf_get_path(x, t, "ca", &ca) < 0 || conf_get_path(x, t, "cert", &cert) < 0 ||
	    conf_get_path(x, t, "key", &key) < 0)
		goto cleanup;
	cl = tls_client_new(ca, cert, key, err, sizeof(err), &which);
	if (cl == NULL) {
		const char *k = which == TLS_FILE_CA ? "ca" : which == TLS_FILE_CERT ? "cert" :
				which == TLS_FILE_KEY ? "key" : NULL;

		if (k != NULL)
			conf_push_key(x, k);
		conf_err(x, k != NULL ? JSONPOS_VALUE : JSONPOS_KEY, "%s", err);
		if (k != NULL)
			conf_pop(x);
	}
cleanup:
	conf_pop(x);
	free(ca);
	free(cert);
	free(key);
	return cl;
}

/* "upstream_tls" with no https upstream is a mistake worth stopping for: the operator meant
 * TLS and the traffic would go in clear. */
static void conf_upstream_tls_unused(struct conf_ctx *x, json_t *o, const struct conf_function *f,
				     const struct tls_client *fn_tls)
{
	size_t i;

	if (json_object_get(o, "upstream_tls") == NULL || fn_tls == NULL || f->nupstreams == 0)
		return;
	for (i = 0; i < f->nupstreams; i++)
		if (f->upstreams[i].tls)
			return;
	conf_push_key(x, "upstream_tls");
	conf_err(x, JSONPOS_KEY, "is set but no upstream is https://");
	conf_pop(x);
}

/* One list of a "cors" block: each element, a string, handed to `add` (cors.h), whose
 * complaint is reported at the element. */
static void conf_cors_list(struct conf_ctx *x, json_t *o, const char *key, size_t max,
			   bool required, bool allow_empty, struct cors_policy *p,
			   int (*add)(struct cors_policy *, const char *, const char **))
{
	const char *why;
	json_t *a, *v;
	size_t i;
	int rc = conf_get_array(x, o, key, max, allow_empty, &a);

	if (rc == 0 && required)
		conf_missing(x, key);
	if (rc != 1)
		return;
	conf_push_key(x, key);
	json_array_foreach(a, i, v) {
		conf_push_index(x, i);
		if (!json_is_string(v))
			conf_err(x, JSONPOS_VALUE, "must be a string, not %s", conf_type_name(v));
		else if (add(p, json_string_value(v), &why) != 0)
			conf_err(x, JSONPOS_VALUE, "%s", why);
		conf_pop(x);
	}
	conf_pop(x);
}

/* The "cors" block of a namespace (its functions' default) or of a function (replacing that
 * default as a whole; null: no CORS). 1 with *out (NULL for null), 0 when absent, -1 when
 * invalid (errors recorded). */
static int conf_parse_cors(struct conf_ctx *x, json_t *parent, struct cors_policy **out)
{
	json_t *o = json_object_get(parent, "cors");
	size_t before = x->errs->n;
	struct cors_policy *p;
	const char *field, *why;
	uint64_t age;

	*out = NULL;
	if (o == NULL)
		return 0;
	if (json_is_null(o))
		return 1;
	conf_push_key(x, "cors");
	if (!json_is_object(o)) {
		conf_err(x, JSONPOS_VALUE, "must be an object or null, not %s", conf_type_name(o));
		conf_pop(x);
		return -1;
	}
	if ((p = cors_policy_new()) == NULL) {
		conf_nomem(x);
		conf_pop(x);
		return -1;
	}
	conf_check_keys(x, o, conf_cors_keys);
	conf_cors_list(x, o, "allow_origins", CORS_MAX_ORIGINS, true, false, p, cors_add_origin);
	conf_cors_list(x, o, "allow_methods", CORS_MAX_METHODS, false, false, p, cors_add_method);
	conf_cors_list(x, o, "allow_headers", CORS_MAX_HEADERS, false, true, p, cors_add_header);
	conf_cors_list(x, o, "expose_headers", CORS_MAX_HEADERS, false, true, p, cors_add_expose);
	if (conf_get_uint(x, o, "max_age_s", 0, CORS_MAX_AGE_MAX, &age) == 1)
		p->max_age_s = (unsigned)age;
	conf_get_bool(x, o, "allow_credentials", &p->credentials);
	if (x->errs->n == before && cors_policy_finish(p, &field, &why) != 0) {
		if (field == NULL) {
			conf_nomem(x);
		} else {
			conf_push_key(x, field);
			conf_err(x, JSONPOS_VALUE, "%s", why);
			conf_pop(x);
		}
	}
	conf_pop(x);
	if (x->errs->n != before) {
		cors_policy_free(p);
		return -1;
	}
	*out = p;
	return 1;
}

static void conf_parse_function(struct conf_ctx *x, json_t *o, struct conf_namespace *ns,
				struct conf_function *f)
{
	struct tls_client *up_tls = NULL;
	const char *s, *why;
	json_t *a, *v;
	size_t i, j;
	int rc;
	bool h2c_only = false;      /* "upstream_protocol": "h2c" (no TLS) */

	size_t before = x->errs->n;

	f->ns = ns;
	f->privacy_configured = PRIVACY_PRIVATE;
	f->strip_prefix = true;
	f->limits = x->c->limits;
	f->timeouts = x->c->timeouts;
	if (!json_is_object(o)) {
		conf_err(x, JSONPOS_VALUE, "must be an object, not %s", conf_type_name(o));
		goto done;
	}
	conf_check_keys(x, o, conf_fn_keys);

	rc = conf_get_id(x, o, "name", &s);
	if (rc == 0)
		conf_missing(x, "name");
	if (rc == 1 && (f->name = strdup(s)) == NULL)
		conf_nomem(x);
	rc = conf_get_id(x, o, "id", &s);
	if (rc == 1)
		f->id = strdup(s);
	else if (rc == 0 && f->name != NULL)
		f->id = strdup(f->name);
	if ((rc == 1 || (rc == 0 && f->name != NULL)) && f->id == NULL)
		conf_nomem(x);

	rc = conf_get_string(x, o, "privacy", 16, false, &s);
	if (rc == 1) {
		if (strcmp(s, "public") == 0) {
			f->privacy_configured = PRIVACY_PUBLIC;
		} else if (strcmp(s, "private") != 0) {
			conf_push_key(x, "privacy");
			conf_err(x, JSONPOS_VALUE, "must be \"public\" or \"private\"");
			conf_pop(x);
		}
	}

	if (conf_get_array(x, o, "hosts", CONF_MAX_HOSTS, false, &a) == 1) {
		f->hosts = calloc(json_array_size(a), sizeof(*f->hosts));
		if (f->hosts == NULL) {
			conf_nomem(x);
			goto done;
		}
		conf_push_key(x, "hosts");
		json_array_foreach(a, i, v) {
			char lower[CONF_HOST_MAX + 1];
			const char *h = json_string_value(v);
			bool wild;

			conf_push_index(x, i);
			if (h == NULL) {
				conf_err(x, JSONPOS_VALUE, "must be a string, not %s", conf_type_name(v));
				conf_pop(x);
				continue;
			}
			wild = strncmp(h, "*.", 2) == 0;
			if (!conf_dns_name_ok(wild ? h + 2 : h, lower + (wild ? 2 : 0)) ||
			    strlen(h) > CONF_HOST_MAX) {
				conf_err(x, JSONPOS_VALUE, "must be a DNS name (labels of a-z 0-9 -) or \"*.suffix\"");
				conf_pop(x);
				continue;
			}
			if (wild)
				memcpy(lower, "*.", 2);
			for (j = 0; j < f->nhosts; j++) {
				if (strcmp(f->hosts[j], lower) == 0)
					break;
			}
			if (j < f->nhosts) {
				conf_err(x, JSONPOS_VALUE, "\"%s\" is listed twice", lower);
			} else if ((f->hosts[f->nhosts] = strdup(lower)) == NULL) {
				conf_nomem(x);
			} else {
				f->nhosts++;
			}
			conf_pop(x);
		}
		conf_pop(x);
	}

	if (conf_get_string(x, o, "path_prefix", CONF_PREFIX_MAX, false, &s) == 1) {
		f->path_prefix = conf_normalize_path(s, &why);
		conf_push_key(x, "path_prefix");
		if (f->path_prefix == NULL)
			conf_err(x, JSONPOS_VALUE, "%s", why);
		else
			f->path_prefix_len = strlen(f->path_prefix);
		conf_pop(x);
	}
	conf_get_bool(x, o, "strip_prefix", &f->strip_prefix);

	rc = conf_get_string(x, o, "upstream_protocol", 8, false, &s);
	if (rc == 1) {
		if (strcmp(s, "h2c") == 0 || strcmp(s, "h2") == 0) {
			f->upstream_h2 = true;
			h2c_only = s[2] == 'c';
		} else if (strcmp(s, "http1") != 0) {
			conf_push_key(x, "upstream_protocol");
			conf_err(x, JSONPOS_VALUE, "must be \"http1\", \"h2\" or \"h2c\"");
			conf_pop(x);
		}
	}

	up_tls = conf_parse_upstream_tls(x, o);
	rc = conf_get_array(x, o, "upstreams", CONF_MAX_UPSTREAMS, false, &a);
	if (rc == 0)
		conf_missing(x, "upstreams");
	if (rc == 1) {
		conf_push_key(x, "upstreams");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			if (!json_is_string(v) || json_string_length(v) > CONF_PATH_MAX)
				conf_err(x, JSONPOS_VALUE, "must be a string http(s)://host:port[/base]");
			else
				conf_parse_upstream(x, json_string_value(v), f, up_tls);
			conf_pop(x);
		}
		conf_pop(x);
	}
	conf_upstream_tls_unused(x, o, f, up_tls);
	/* "h2c" names HTTP/2 without TLS: an https:// endpoint is "h2" (h2 by ALPN). */
	for (i = 0; h2c_only && i < f->nupstreams; i++) {
		if (f->upstreams[i].tls) {
			conf_push_key(x, "upstream_protocol");
			conf_err(x, JSONPOS_VALUE, "\"h2c\" needs http:// upstreams (\"h2\" for https://)");
			conf_pop(x);
			break;
		}
	}
	/* Only the keys present override the global values. */
	conf_parse_limits(x, o, &f->limits);
	conf_parse_timeouts(x, o, &f->timeouts);
	f->cors = conf_parse_cors(x, o, &f->cors_own) == 0 ? ns->cors : f->cors_own;
done:
	tls_client_unref(up_tls);
	atomic_store(&f->privacy, f->privacy_configured);
	if (x->errs->n != before) {
		const struct conf_function **b = realloc(x->bad, (x->nbad + 1) * sizeof(*b));

		if (b == NULL) {
			conf_nomem(x);
			return;
		}
		x->bad = b;
		x->bad[x->nbad++] = f;
	}
}

static bool conf_fn_bad(const struct conf_ctx *x, const struct conf_function *f)
{
	size_t i;

	for (i = 0; i < x->nbad; i++) {
		if (x->bad[i] == f)
			return true;
	}
	return false;
}

static void conf_parse_namespace(struct conf_ctx *x, json_t *o, struct conf_namespace *ns)
{
	uint64_t u;
	const char *s;
	json_t *a, *v;
	size_t i, j;
	int rc;

	if (!json_is_object(o)) {
		conf_err(x, JSONPOS_VALUE, "must be an object, not %s", conf_type_name(o));
		return;
	}
	conf_check_keys(x, o, conf_ns_keys);

	rc = conf_get_id(x, o, "name", &s);
	if (rc == 0)
		conf_missing(x, "name");
	if (rc == 1 && (ns->name = strdup(s)) == NULL)
		conf_nomem(x);
	rc = conf_get_id(x, o, "id", &s);
	if (rc == 1)
		ns->id = strdup(s);
	else if (rc == 0 && ns->name != NULL)
		ns->id = strdup(ns->name);
	if ((rc == 1 || (rc == 0 && ns->name != NULL)) && ns->id == NULL)
		conf_nomem(x);

	if (conf_get_string(x, o, "issuer", CONF_ISSUER_MAX, true, &s) == 1 && s != NULL &&
	    (ns->issuer = strdup(s)) == NULL)
		conf_nomem(x);
	conf_get_bool(x, o, "issue_tokens", &ns->issue_tokens);
	ns->require_registered_tokens = ns->issue_tokens;
	conf_get_bool(x, o, "require_registered_tokens", &ns->require_registered_tokens);
	conf_get_path(x, o, "signing_key", &ns->signing_key);
	conf_parse_public_url(x, o, &ns->public_url);
	ns->max_tokens = CONF_DEFAULT_MAX_TOKENS;
	if (conf_get_uint(x, o, "max_tokens", 1, CONF_MAX_MAX_TOKENS, &u) == 1)
		ns->max_tokens = (size_t)u;
	/* before the functions, which take it as their default */
	conf_parse_cors(x, o, &ns->cors);

	if (conf_get_array(x, o, "keys", CONF_MAX_KEYS, true, &a) == 1 && json_array_size(a) > 0) {
		ns->keys = calloc(json_array_size(a), sizeof(*ns->keys));
		if (ns->keys == NULL) {
			conf_nomem(x);
			return;
		}
		ns->nkeys = json_array_size(a);
		conf_push_key(x, "keys");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			conf_parse_key(x, v, i, &ns->keys[i]);
			for (j = 0; j < i && ns->keys[i].kid != NULL; j++) {
				if (ns->keys[j].kid != NULL && strcmp(ns->keys[j].kid, ns->keys[i].kid) == 0) {
					conf_push_key(x, "kid");
					conf_err(x, JSONPOS_VALUE, "\"%s\" is already the kid of keys[%zu]",
						 ns->keys[i].kid, j);
					conf_pop(x);
					break;
				}
			}
			conf_pop(x);
		}
		conf_pop(x);
	}

	if (conf_get_array(x, o, "functions", CONF_MAX_FUNCTIONS, true, &a) == 1 && json_array_size(a) > 0) {
		ns->functions = calloc(json_array_size(a), sizeof(*ns->functions));
		if (ns->functions == NULL) {
			conf_nomem(x);
			return;
		}
		ns->nfunctions = json_array_size(a);
		conf_push_key(x, "functions");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			conf_parse_function(x, v, ns, &ns->functions[i]);
			conf_pop(x);
		}
		conf_pop(x);
	}
}

static bool conf_hex32(const char *s, unsigned char out[32])
{
	size_t i;

	if (strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++) {
		int c = tolower((unsigned char)s[i]), v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return false;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return true;
}

static void conf_parse_admin_key(struct conf_ctx *x, json_t *o, struct conf_admin_key *k)
{
	static const struct { const char *name; unsigned bit; } perms[] = {
		{ "tokens:read", ADMIN_PERM_TOKENS_READ },
		{ "tokens:write", ADMIN_PERM_TOKENS_WRITE },
		{ "functions:write", ADMIN_PERM_FUNCTIONS_WRITE },
	};
	const char *s;
	json_t *a, *v;
	size_t i, j;
	int rc, role;

	if (!json_is_object(o)) {
		conf_err(x, JSONPOS_VALUE, "must be an object, not %s", conf_type_name(o));
		return;
	}
	conf_check_keys(x, o, conf_admin_key_keys);
	rc = conf_get_id(x, o, "name", &s);
	if (rc == 0)
		conf_missing(x, "name");
	if (rc == 1 && (k->name = strdup(s)) == NULL)
		conf_nomem(x);
	rc = conf_get_string(x, o, "sha256", 64, false, &s);
	if (rc == 0)
		conf_missing(x, "sha256");
	if (rc == 1 && !conf_hex32(s, k->sha256)) {
		conf_push_key(x, "sha256");
		conf_err(x, JSONPOS_VALUE, "must be 64 hexadecimal characters (the SHA-256 of the key)");
		conf_pop(x);
	}

	role = conf_get_string(x, o, "role", 32, false, &s);
	if (role == 1 && strcmp(s, "owner") != 0) {
		conf_push_key(x, "role");
		conf_err(x, JSONPOS_VALUE, "must be \"owner\" (or omit it and list \"permissions\")");
		conf_pop(x);
	}
	if (role != 0) {
		k->perms = ADMIN_PERM_ALL;
		if (json_object_get(o, "permissions") != NULL) {
			conf_push_key(x, "permissions");
			conf_err(x, JSONPOS_KEY, "a key with a \"role\" takes no \"permissions\"");
			conf_pop(x);
		}
		if (json_object_get(o, "namespaces") != NULL) {
			conf_push_key(x, "namespaces");
			conf_err(x, JSONPOS_KEY, "a key with a \"role\" takes no \"namespaces\" (an owner has them all)");
			conf_pop(x);
		}
		return;
	}

	rc = conf_get_array(x, o, "permissions", ARRAY_LEN(perms), false, &a);
	if (rc == 0)
		conf_missing(x, "permissions");
	if (rc == 1) {
		conf_push_key(x, "permissions");
		json_array_foreach(a, i, v) {
			s = json_string_value(v);
			for (j = 0; s != NULL && j < ARRAY_LEN(perms); j++) {
				if (strcmp(s, perms[j].name) == 0)
					break;
			}
			if (s == NULL || j == ARRAY_LEN(perms)) {
				conf_push_index(x, i);
				conf_err(x, JSONPOS_VALUE,
					 "must be \"tokens:read\", \"tokens:write\" or \"functions:write\"");
				conf_pop(x);
				continue;
			}
			k->perms |= perms[j].bit;
		}
		conf_pop(x);
	}

	if (conf_get_array(x, o, "namespaces", CONF_MAX_NAMESPACES, false, &a) == 1) {
		k->namespaces = calloc(json_array_size(a), sizeof(*k->namespaces));
		if (k->namespaces == NULL) {
			conf_nomem(x);
			return;
		}
		conf_push_key(x, "namespaces");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			s = json_string_value(v);
			if (s == NULL)
				conf_err(x, JSONPOS_VALUE, "must be a namespace id, not %s", conf_type_name(v));
			else if (conf_find_namespace(x->c, s) == NULL)
				conf_err(x, JSONPOS_VALUE, "no namespace has the id \"%.128s\"", s);
			else if ((k->namespaces[k->nnamespaces] = strdup(s)) == NULL)
				conf_nomem(x);
			else
				k->nnamespaces++;
			conf_pop(x);
		}
		conf_pop(x);
	}
}

/* "health": {"listen": "ip:port"}: an address of its own, neither a listen entry nor the
 * admin API's. */
static void conf_parse_health(struct conf_ctx *x, json_t *root)
{
	struct conf_health *h = &x->c->health;
	const char *s = NULL;
	json_t *o = NULL;
	bool clash;

	if (conf_get_typed(x, root, "health", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "health");
	conf_check_keys(x, o, conf_health_keys);
	if (conf_get_string(x, o, "listen", 128, false, &s) == 0) {
		conf_err(x, JSONPOS_KEY, "needs \"listen\": \"ip:port\"");
		goto done;
	}
	if (s == NULL)
		goto done;
	conf_push_key(x, "listen");
	if (conf_parse_listen_addr(s, &h->addr, &h->addrlen) == -1) {
		conf_err(x, JSONPOS_VALUE, "must be \"ip:port\", \"[ipv6]:port\" or \"*:port\"");
		goto pop;
	}
	clash = x->c->admin.listen != NULL && x->c->admin.addrlen == h->addrlen &&
		memcmp(&x->c->admin.addr, &h->addr, h->addrlen) == 0;
	for (size_t i = 0; i < x->c->nlisten && !clash; i++)
		clash = x->c->listen[i].addrlen == h->addrlen &&
			memcmp(&x->c->listen[i].addr, &h->addr, h->addrlen) == 0;
	if (clash)
		conf_err(x, JSONPOS_VALUE, "\"%s\" is also a listen or admin address: the health "
			 "listener needs its own", s);
	else if ((h->listen = strdup(s)) == NULL)
		conf_nomem(x);
pop:
	conf_pop(x);
done:
	conf_pop(x);
}

static const char *const conf_audit_keys[] = {
	"retention_days", NULL
};

/* The "audit" block: how long the audit trail keeps its events (audit.h). */
static void conf_parse_audit(struct conf_ctx *x, json_t *root)
{
	json_t *o;
	uint64_t v;

	x->c->audit_retention_days = CONF_AUDIT_RETENTION_DEFAULT;
	if (conf_get_typed(x, root, "audit", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "audit");
	conf_check_keys(x, o, conf_audit_keys);
	if (conf_get_uint(x, o, "retention_days", 1, CONF_AUDIT_RETENTION_MAX, &v) == 1)
		x->c->audit_retention_days = (unsigned)v;
	conf_pop(x);
}

static const char *const conf_store_keys[] = {
	"type", "conninfo", "key_file", "max_staleness_s", "stale_policy", NULL
};

/* The "store" block (issue 12, docs/fleet.md). "local" takes no other key; "postgresql" needs
 * conninfo and key_file, and the key file is checked now (32 bytes, owner-only mode) so that
 * `fngate check` finds what would stop a node later. */
static void conf_parse_store(struct conf_ctx *x, json_t *root)
{
	struct conf_store *st = &x->c->store;
	const char *s;
	json_t *o;
	uint64_t v;

	st->type = CONF_STORE_LOCAL;
	st->stale_policy = CONF_STALE_REFUSE;
	if (conf_get_typed(x, root, "store", JSON_OBJECT, &o) != 1)
		return;
	conf_push_key(x, "store");
	conf_check_keys(x, o, conf_store_keys);
	if (conf_get_string(x, o, "type", 16, false, &s) == 1) {
		if (strcmp(s, "postgresql") == 0)
			st->type = CONF_STORE_POSTGRESQL;
		else if (strcmp(s, "local") != 0) {
			conf_push_key(x, "type");
			conf_err(x, JSONPOS_VALUE, "must be \"local\" or \"postgresql\"");
			conf_pop(x);
		}
	}
	if (conf_get_string(x, o, "stale_policy", 16, false, &s) == 1) {
		if (strcmp(s, "serve") == 0)
			st->stale_policy = CONF_STALE_SERVE;
		else if (strcmp(s, "refuse") != 0) {
			conf_push_key(x, "stale_policy");
			conf_err(x, JSONPOS_VALUE, "must be \"refuse\" or \"serve\"");
			conf_pop(x);
		}
	}
	if (conf_get_uint(x, o, "max_staleness_s", 0, 86400, &v) == 1)
		st->max_staleness_s = (unsigned)v;
	if (conf_get_string(x, o, "conninfo", 4096, false, &s) == 1 &&
	    (st->conninfo = strdup(s)) == NULL)
		conf_nomem(x);
	if (conf_get_path(x, o, "key_file", &st->key_file) == 1) {
		uint8_t key[STORE_SEAL_KEY_LEN];
		char err[CONF_PATH_MAX + 128];

		conf_push_key(x, "key_file");
		if (store_seal_key_load(st->key_file, key, err, sizeof(err)) != 0)
			conf_err(x, JSONPOS_VALUE, "%s", err);
		util_wipe(key, sizeof(key));
		conf_pop(x);
	}
	if (st->type == CONF_STORE_POSTGRESQL) {
		if (st->conninfo == NULL && json_object_get(o, "conninfo") == NULL)
			conf_err(x, JSONPOS_KEY, "\"postgresql\" needs \"conninfo\"");
		if (st->key_file == NULL && json_object_get(o, "key_file") == NULL)
			conf_err(x, JSONPOS_KEY, "\"postgresql\" needs \"key_file\"");
	} else {
		for (const char *const *k = conf_store_keys + 1; *k != NULL; k++)
			if (json_object_get(o, *k) != NULL) {
				conf_push_key(x, *k);
				conf_err(x, JSONPOS_KEY, "applies to \"type\": \"postgresql\" only");
				conf_pop(x);
			}
	}
	conf_pop(x);
}

static void conf_parse_admin(struct conf_ctx *x, json_t *root)
{
	struct conf_admin *ad = &x->c->admin;
	const char *s = CONF_DEF_ADMIN_LISTEN;
	json_t *o = NULL, *a, *v;
	size_t i, j;
	uint64_t u;
	int rc;

	ad->max_connections = CONF_DEF_ADMIN_MAX_CONNECTIONS;
	rc = conf_get_typed(x, root, "admin", JSON_OBJECT, &o);
	if (rc == -1)
		return;
	if (rc == 1) {
		conf_push_key(x, "admin");
		conf_check_keys(x, o, conf_admin_keys);
		conf_get_bool(x, o, "metrics_auth", &ad->metrics_auth);
		if (conf_get_uint(x, o, "max_connections", 1, 4096, &u) == 1)
			ad->max_connections = (unsigned)u;
		rc = conf_get_string(x, o, "listen", 128, true, &s);
		if (rc == 0)
			s = CONF_DEF_ADMIN_LISTEN;
		else if (rc == -1)
			s = NULL;
	}
	if (s != NULL) {
		if (conf_parse_listen_addr(s, &ad->addr, &ad->addrlen) == -1) {
			conf_push_key(x, "listen");
			conf_err(x, JSONPOS_VALUE, "must be \"ip:port\", \"[ipv6]:port\", \"*:port\" or null");
			conf_pop(x);
		} else if ((ad->listen = strdup(s)) == NULL) {
			conf_nomem(x);
		} else {
			for (i = 0; i < x->c->nlisten; i++) {
				if (x->c->listen[i].addrlen != ad->addrlen ||
				    memcmp(&x->c->listen[i].addr, &ad->addr, ad->addrlen) != 0)
					continue;
				if (o != NULL) {
					conf_push_key(x, "listen");
					conf_err(x, JSONPOS_VALUE, "\"%s\" is also listen[%zu]: the admin API needs its own address",
						 s, i);
					conf_pop(x);
				} else {
					/* the default clashes: point at the listen entry, which is in the file */
					conf_push_key(x, "listen");
					conf_push_index(x, i);
					conf_err(x, JSONPOS_VALUE, "\"%s\" is also the admin API's default address: set "
						 "\"admin\": {\"listen\": ...} to another address or null", s);
					conf_pop(x);
					conf_pop(x);
				}
			}
		}
	}
	if (o == NULL)
		return;

	/* the listen entries' "tls" object: certificates loaded and checked now */
	if (conf_get_typed(x, o, "tls", JSON_OBJECT, &v) == 1 && ad->listen != NULL) {
		conf_push_key(x, "tls");
		ad->tls = conf_parse_listen_tls(x, v);
		conf_pop(x);
	}
	if (conf_get_array(x, o, "hosts", CONF_MAX_ADMIN_HOSTS, true, &a) == 1 && json_array_size(a) > 0) {
		ad->hosts = calloc(json_array_size(a), sizeof(*ad->hosts));
		if (ad->hosts == NULL) {
			conf_nomem(x);
			goto done;
		}
		conf_push_key(x, "hosts");
		json_array_foreach(a, i, v) {
			const char *h = json_string_value(v);

			conf_push_index(x, i);
			/* a DNS name or address literal as it appears in Host, compared case-insensitively */
			if (h == NULL || *h == '\0' || strlen(h) > 253 || strspn(h,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") != strlen(h))
				conf_err(x, JSONPOS_VALUE, "must be a host name or address literal "
					 "(letters, digits, \".-_:[]\")");
			else if ((ad->hosts[ad->nhosts] = strdup(h)) == NULL)
				conf_nomem(x);
			else
				ad->nhosts++;
			conf_pop(x);
		}
		conf_pop(x);
	}
	if (conf_get_array(x, o, "keys", CONF_MAX_ADMIN_KEYS, true, &a) == 1 && json_array_size(a) > 0) {
		ad->keys = calloc(json_array_size(a), sizeof(*ad->keys));
		if (ad->keys == NULL) {
			conf_nomem(x);
			goto done;
		}
		ad->nkeys = json_array_size(a);
		conf_push_key(x, "keys");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			conf_parse_admin_key(x, v, &ad->keys[i]);
			for (j = 0; j < i; j++) {
				if (ad->keys[i].name != NULL && ad->keys[j].name != NULL &&
				    strcmp(ad->keys[i].name, ad->keys[j].name) == 0) {
					conf_push_key(x, "name");
					conf_err(x, JSONPOS_VALUE, "\"%s\" is already the name of admin.keys[%zu]",
						 ad->keys[i].name, j);
					conf_pop(x);
				}
				if (json_object_get(v, "sha256") != NULL &&
				    util_ct_equal(ad->keys[i].sha256, ad->keys[j].sha256, 32)) {
					conf_push_key(x, "sha256");
					conf_err(x, JSONPOS_VALUE, "the same key as admin.keys[%zu]", j);
					conf_pop(x);
				}
			}
			conf_pop(x);
		}
		conf_pop(x);
	}
done:
	conf_pop(x);
}

/* ---- cross-checks: duplicates and routes claimed twice ---- */

struct conf_claim {
	const char *a;          /* id, name, or host ("" for none) */
	const char *b;          /* second key part (route prefix) or "" */
	size_t      ns, fn;     /* where it was declared */
	size_t      order;      /* declaration order: the later one is reported */
};

static int conf_claim_cmp(const void *pa, const void *pb)
{
	const struct conf_claim *a = pa, *b = pb;
	int r = strcmp(a->a, b->a);

	if (r == 0)
		r = strcmp(a->b, b->b);
	if (r == 0)
		r = a->order < b->order ? -1 : a->order > b->order;
	return r;
}

static void conf_fn_path(struct jsonpos_step *steps, size_t ns, size_t fn)
{
	steps[0].key = "namespaces";
	steps[1].key = NULL;
	steps[1].index = ns;
	steps[2].key = "functions";
	steps[3].key = NULL;
	steps[3].index = fn;
}

static void conf_cross_check(struct conf_ctx *x)
{
	struct conf *c = x->c;
	struct conf_claim *cl = NULL;
	struct jsonpos_step st[5];
	size_t n, i, j, k, order, cap;

	/* namespace ids, globally */
	cl = calloc(c->nnamespaces + 1, sizeof(*cl));
	if (cl == NULL)
		goto nomem;
	for (i = n = 0; i < c->nnamespaces; i++) {
		if (c->namespaces[i].id != NULL)
			cl[n++] = (struct conf_claim){ c->namespaces[i].id, "", i, 0, i };
	}
	qsort(cl, n, sizeof(*cl), conf_claim_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(cl[i].a, cl[i - 1].a) != 0)
			continue;
		st[0].key = "namespaces";
		st[1].key = NULL;
		st[1].index = cl[i].ns;
		/* point at "id" when written, else at the "name" it defaulted to */
		st[2].key = "id";
		if (jsonpos_locate(x->text, x->len, st, 3, JSONPOS_VALUE, &(int){ 0 }, &(int){ 0 }) == -1)
			st[2].key = "name";
		conf_err_at(x, st, 3, JSONPOS_VALUE, "namespace id \"%s\" is already the id of namespaces[%zu]",
			    cl[i].a, cl[i - 1].ns);
	}
	free(cl);
	cl = NULL;

	/* function ids globally, names within their namespace, routes: one pass builds all three */
	cap = c->nfunctions * 2 + 1;
	for (i = 0; i < c->nfunctions; i++)
		cap += c->functions[i]->nhosts;
	cl = calloc(cap, sizeof(*cl));
	if (cl == NULL)
		goto nomem;

	for (i = n = 0; i < c->nfunctions; i++) {
		const struct conf_function *f = c->functions[i];

		if (f->id != NULL)
			cl[n++] = (struct conf_claim){ f->id, "", (size_t)(f->ns - c->namespaces),
						      (size_t)(f - f->ns->functions), i };
	}
	qsort(cl, n, sizeof(*cl), conf_claim_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(cl[i].a, cl[i - 1].a) != 0)
			continue;
		conf_fn_path(st, cl[i].ns, cl[i].fn);
		st[4].key = "id";
		if (jsonpos_locate(x->text, x->len, st, 5, JSONPOS_VALUE, &(int){ 0 }, &(int){ 0 }) == -1)
			st[4].key = "name";
		conf_err_at(x, st, 5, JSONPOS_VALUE,
			    "function id \"%s\" is already the id of namespaces[%zu].functions[%zu]",
			    cl[i].a, cl[i - 1].ns, cl[i - 1].fn);
	}

	for (i = n = 0; i < c->nfunctions; i++) {
		const struct conf_function *f = c->functions[i];

		/* namespace id + name: names are unique within one namespace */
		if (f->name != NULL && f->ns->id != NULL)
			cl[n++] = (struct conf_claim){ f->ns->id, f->name, (size_t)(f->ns - c->namespaces),
						      (size_t)(f - f->ns->functions), i };
	}
	qsort(cl, n, sizeof(*cl), conf_claim_cmp);
	for (i = 1; i < n; i++) {
		if (cl[i].ns != cl[i - 1].ns || strcmp(cl[i].b, cl[i - 1].b) != 0)
			continue;
		conf_fn_path(st, cl[i].ns, cl[i].fn);
		st[4].key = "name";
		conf_err_at(x, st, 5, JSONPOS_VALUE,
			    "function name \"%s\" is already used by namespaces[%zu].functions[%zu]",
			    cl[i].b, cl[i - 1].ns, cl[i - 1].fn);
	}

	/* Routes: every (host, prefix) pair belongs to one function. No hosts is the host "";
	 * no prefix is "/" (both match every path). */
	for (i = n = order = 0; i < c->nfunctions; i++) {
		const struct conf_function *f = c->functions[i];
		const char *pfx = f->path_prefix != NULL ? f->path_prefix : "/";
		size_t nsi = (size_t)(f->ns - c->namespaces), fni = (size_t)(f - f->ns->functions);

		if (conf_fn_bad(x, f))
			continue;
		if (f->nhosts == 0)
			cl[n++] = (struct conf_claim){ "", pfx, nsi, fni, i };
		for (k = 0; k < f->nhosts; k++)
			cl[n++] = (struct conf_claim){ f->hosts[k], pfx, nsi, fni, i };
	}
	qsort(cl, n, sizeof(*cl), conf_claim_cmp);
	for (i = 1; i < n; i++) {
		const struct conf_function *f, *g;

		if (strcmp(cl[i].a, cl[i - 1].a) != 0 || strcmp(cl[i].b, cl[i - 1].b) != 0)
			continue;
		/* the first claimant of this pair */
		for (j = i - 1; j > 0 && strcmp(cl[j - 1].a, cl[i].a) == 0 && strcmp(cl[j - 1].b, cl[i].b) == 0; j--)
			;
		f = &c->namespaces[cl[i].ns].functions[cl[i].fn];
		g = &c->namespaces[cl[j].ns].functions[cl[j].fn];
		if (f == g)
			continue;
		conf_fn_path(st, cl[i].ns, cl[i].fn);
		if (f->path_prefix != NULL)
			st[4].key = "path_prefix";
		else if (f->nhosts > 0)
			st[4].key = "hosts";
		else
			st[4].key = NULL;
		if (cl[i].a[0] == '\0' && f->path_prefix == NULL)
			conf_err_at(x, st, 4, JSONPOS_VALUE,
				    "a second catch-all function (neither hosts nor path_prefix): "
				    "namespaces[%zu].functions[%zu] (\"%s\") already is the catch-all",
				    cl[j].ns, cl[j].fn, g->name != NULL ? g->name : "");
		else
			conf_err_at(x, st, st[4].key != NULL ? 5 : 4, JSONPOS_KEY,
				    "the route host \"%s\" path_prefix \"%s\" is already claimed by "
				    "namespaces[%zu].functions[%zu] (\"%s\")",
				    cl[i].a[0] != '\0' ? cl[i].a : "(any)", cl[i].b, cl[j].ns, cl[j].fn,
				    g->name != NULL ? g->name : "");
	}
	free(cl);
	return;
nomem:
	free(cl);
	conf_nomem(x);
}

/* ---- load ---- */

static void conf_free(struct conf *c)
{
	size_t i, j, k;

	if (c == NULL)
		return;
	route_free(c->routes);
	c->routes = NULL;
	for (i = 0; i < c->nnamespaces; i++) {
		struct conf_namespace *ns = &c->namespaces[i];

		for (j = 0; j < ns->nkeys; j++) {
			free(ns->keys[j].kid);
			free(ns->keys[j].path);
			EVP_PKEY_free(ns->keys[j].pkey);
		}
		free(ns->keys);
		for (j = 0; j < ns->nfunctions; j++) {
			struct conf_function *f = &ns->functions[j];

			free(f->id);
			free(f->name);
			for (k = 0; k < f->nhosts; k++)
				free(f->hosts[k]);
			free(f->hosts);
			free(f->path_prefix);
			for (k = 0; k < f->nupstreams; k++)
				conf_upstream_clear(&f->upstreams[k]);
			free(f->upstreams);
			cors_policy_free(f->cors_own);
		}
		free(ns->functions);
		free(ns->id);
		free(ns->name);
		free(ns->issuer);
		free(ns->signing_key);
		cors_policy_free(ns->cors);
		conf_public_url_free(&ns->public_url);
	}
	free(c->namespaces);
	free(c->functions);
	for (i = 0; i < c->nlisten; i++) {
		free(c->listen[i].address);
		tls_server_unref(c->listen[i].tls);
	}
	free(c->listen);
	conf_public_url_free(&c->public_url);
	tls_server_unref(c->admin.tls);
	for (i = 0; i < c->admin.nkeys; i++) {
		struct conf_admin_key *k2 = &c->admin.keys[i];

		free(k2->name);
		util_wipe(k2->sha256, sizeof(k2->sha256));
		for (j = 0; j < k2->nnamespaces; j++)
			free(k2->namespaces[j]);
		free(k2->namespaces);
	}
	free(c->admin.keys);
	for (i = 0; i < c->admin.nhosts; i++)
		free(c->admin.hosts[i]);
	free(c->admin.hosts);
	free(c->admin.listen);
	free(c->health.listen);
	util_free_secret(c->store.conninfo);
	free(c->store.key_file);
	free(c->access_log);
	free(c->log_format);
	free(c->user);
	free(c->group);
	free(c->state_dir);
	free(c->path);
	free(c->dir);
	free(c);
}

/* The directory of `path`, made absolute so a daemon that changes directory keeps its paths. */
static char *conf_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[CONF_PATH_MAX], *dir, *abs;

	if (slash == path)
		return strdup("/");
	dir = slash != NULL ? util_strndup(path, (size_t)(slash - path)) : strdup(".");
	if (dir == NULL || dir[0] == '/')
		return dir;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		free(dir);
		return NULL;
	}
	if (strcmp(dir, ".") == 0) {
		free(dir);
		return strdup(cwd);
	}
	abs = conf_join(cwd, dir);
	free(dir);
	return abs;
}

/* "user" and "group": who the daemon becomes after binding its ports (serve.c, privdrop.c).
 * Resolved here, so an unknown name is a configuration error with its line and column. */
static void conf_parse_user(struct conf_ctx *x, json_t *root)
{
	struct conf *c = x->c;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[16384];
	const char *s;
	int rc;

	rc = conf_get_string(x, root, "user", 64, true, &s);
	if (rc == 1 && s != NULL) {
		if (getpwnam_r(s, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL) {
			conf_push_key(x, "user");
			conf_err(x, JSONPOS_VALUE, "unknown user \"%s\"", s);
			conf_pop(x);
		} else if ((c->user = strdup(s)) == NULL) {
			conf_nomem(x);
		} else {
			c->uid = pw.pw_uid;
			c->gid = pw.pw_gid;
		}
	}
	rc = conf_get_string(x, root, "group", 64, true, &s);
	if (rc != 1 || s == NULL)
		return;
	conf_push_key(x, "group");
	if (json_object_get(root, "user") == NULL || json_is_null(json_object_get(root, "user"))) {
		conf_err(x, JSONPOS_VALUE, "\"group\" needs \"user\"");
	} else if (getgrnam_r(s, &gr, buf, sizeof(buf), &grp) != 0 || grp == NULL) {
		conf_err(x, JSONPOS_VALUE, "unknown group \"%s\"", s);
	} else if ((c->group = strdup(s)) == NULL) {
		conf_nomem(x);
	} else {
		c->gid = gr.gr_gid;
	}
	conf_pop(x);
}

static void conf_parse_root(struct conf_ctx *x, json_t *root)
{
	struct conf *c = x->c;
	const char *s;
	json_t *o, *a, *v;
	uint64_t u;
	long ncpu;
	size_t i, j, nf;
	int rc;

	if (!json_is_object(root)) {
		conf_err(x, JSONPOS_VALUE, "the configuration must be a JSON object, not %s",
			 conf_type_name(root));
		return;
	}
	conf_check_keys(x, root, conf_top_keys);

	/* Before the listeners: theirs start from it. */
	conf_parse_http2(x, root, &c->http2);
	conf_parse_listen(x, root);
	conf_parse_public_url(x, root, &c->public_url);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	c->workers = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;
	if (conf_get_uint(x, root, "workers", 1, 256, &u) == 1)
		c->workers = (int)u;
	if (conf_get_path(x, root, "state_dir", &c->state_dir) == 0 &&
	    (c->state_dir = strdup(CONF_DEF_STATE_DIR)) == NULL)
		conf_nomem(x);

	c->limits.max_header_bytes = CONF_DEF_MAX_HEADER;
	c->limits.max_body_bytes = CONF_DEF_MAX_BODY;
	c->limits.max_token_bytes = CONF_DEF_MAX_TOKEN;
	c->limits.max_connections = CONF_DEF_MAX_CONNS;
	c->limits.max_tunnels = CONF_DEF_MAX_TUNNELS;
	c->limits.upstream_keepalive = CONF_DEF_UPSTREAM_KEEPALIVE;
	conf_parse_limits(x, root, &c->limits);
	c->timeouts.client_header_ms = CONF_DEF_HEADER_MS;
	c->timeouts.client_idle_ms = CONF_DEFAULT_IDLE_MS;
	c->timeouts.upstream_connect_ms = CONF_DEF_CONNECT_MS;
	c->timeouts.upstream_response_ms = CONF_DEF_RESPONSE_MS;
	c->timeouts.tunnel_idle_ms = CONF_DEF_TUNNEL_IDLE_MS;
	conf_parse_timeouts(x, root, &c->timeouts);
	c->shutdown_timeout_ms = CONF_DEF_SHUTDOWN_MS;
	if (conf_get_uint(x, root, "shutdown_timeout_ms", 1, 3600u * 1000, &u) == 1)
		c->shutdown_timeout_ms = (unsigned)u;

	c->leeway_s = CONF_DEF_LEEWAY_S;
	c->forward_token = false;
	c->underscores_in_headers = false;
	conf_get_bool(x, root, "underscores_in_headers", &c->underscores_in_headers);
	c->cache_entries = CONF_DEF_CACHE_ENTRIES;
	if (conf_get_typed(x, root, "tokens", JSON_OBJECT, &o) == 1) {
		conf_push_key(x, "tokens");
		conf_check_keys(x, o, conf_tokens_keys);
		if (conf_get_uint(x, o, "leeway_s", 0, 3600, &u) == 1)
			c->leeway_s = (long)u;
		conf_get_bool(x, o, "forward_token", &c->forward_token);
		if (conf_get_uint(x, o, "cache_entries", 0, 10000000, &u) == 1)
			c->cache_entries = (size_t)u;
		conf_pop(x);
	}

	rc = conf_get_string(x, root, "access_log", CONF_PATH_MAX, true, &s);
	if (rc == 1 && s != NULL) {
		/* "-" (stderr) and "off" (no access log) are keywords, not paths. */
		c->access_log = strcmp(s, "-") == 0 || strcmp(s, "off") == 0 ? strdup(s) :
		    conf_join(c->dir, s);
		if (c->access_log == NULL)
			conf_nomem(x);
	}
	/* a file is buffered by default (the cost of a write(2) per request, issue 15); stderr,
	 * read live by journald, docker and people, is not */
	c->access_log_flush_ms = c->access_log != NULL && strcmp(c->access_log, "-") != 0 &&
				 strcmp(c->access_log, "off") != 0 ? CONF_DEF_ACCESS_LOG_FLUSH_MS : 0;
	if (conf_get_uint(x, root, "access_log_flush_ms", 0, 60000, &u) == 1)
		c->access_log_flush_ms = (unsigned)u;
	rc = conf_get_string(x, root, "log_format", 16, false, &s);
	if (rc == 1 && strcmp(s, "json") != 0 && strcmp(s, "combined") != 0) {
		conf_push_key(x, "log_format");
		conf_err(x, JSONPOS_VALUE, "must be \"json\" or \"combined\"");
		conf_pop(x);
	}
	c->log_format = strdup(rc == 1 ? s : "json");
	if (c->log_format == NULL)
		conf_nomem(x);
	conf_parse_user(x, root);

	rc = conf_get_array(x, root, "namespaces", CONF_MAX_NAMESPACES, true, &a);
	if (rc == 0)
		conf_missing(x, "namespaces");
	if (rc == 1 && json_array_size(a) > 0) {
		c->namespaces = calloc(json_array_size(a), sizeof(*c->namespaces));
		if (c->namespaces == NULL) {
			conf_nomem(x);
			return;
		}
		c->nnamespaces = json_array_size(a);
		conf_push_key(x, "namespaces");
		json_array_foreach(a, i, v) {
			conf_push_index(x, i);
			conf_parse_namespace(x, v, &c->namespaces[i]);
			conf_pop(x);
		}
		conf_pop(x);
	}
	for (i = nf = 0; i < c->nnamespaces; i++)
		nf += c->namespaces[i].nfunctions;
	if (nf > 0) {
		c->functions = calloc(nf, sizeof(*c->functions));
		if (c->functions == NULL) {
			conf_nomem(x);
			return;
		}
	}
	for (i = 0; i < c->nnamespaces; i++) {
		for (j = 0; j < c->namespaces[i].nfunctions; j++) {
			struct conf_function *f = &c->namespaces[i].functions[j];

			f->index = c->nfunctions;
			c->functions[c->nfunctions++] = f;
		}
	}

	conf_parse_admin(x, root);
	conf_parse_health(x, root);
	conf_parse_store(x, root);
	conf_parse_audit(x, root);
	conf_cross_check(x);
}

struct conf *conf_load_string(const char *text, size_t len, const char *path, struct conf_errors *errs)
{
	struct conf_ctx x;
	struct conf *c = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	size_t before = errs->n;

	memset(&x, 0, sizeof(x));
	x.text = text;
	x.len = len;
	x.file = path;
	x.errs = errs;

	if (len > CONF_FILE_MAX) {
		conf_errors_add(errs, path, 0, 0, "the file is larger than %u bytes", CONF_FILE_MAX);
		goto cleanup;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		conf_errors_add(errs, path, jerr.line > 0 ? jerr.line : 0, jerr.column > 0 ? jerr.column : 0,
				"%s", jerr.text);
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		conf_nomem(&x);
		goto cleanup;
	}
	atomic_init(&c->refs, 1);
	c->path = strdup(path);
	c->dir = conf_dirname(path);
	if (c->path == NULL || c->dir == NULL) {
		conf_nomem(&x);
		goto cleanup;
	}
	x.c = c;
	conf_parse_root(&x, root);
	if (errs->n == before && !x.nomem) {
		c->routes = route_build(c);
		if (c->routes == NULL)
			conf_nomem(&x);
	}
cleanup:
	json_decref(root);
	free(x.bad);
	tls_client_unref(x.tls_default);
	if (errs->n > before || x.nomem) {
		conf_errors_sort(errs, before);
		conf_free(c);
		return NULL;
	}
	c->generation = atomic_fetch_add(&conf_generation, 1) + 1;
	return c;
}

struct conf *conf_load(const char *path, struct conf_errors *errs)
{
	struct conf *c = NULL;
	struct stat st;
	char *text = NULL;
	FILE *f;
	size_t n;

	f = fopen(path, "rb");
	if (f == NULL) {
		conf_errors_add(errs, path, 0, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		conf_errors_add(errs, path, 0, 0, "not a regular file");
		goto cleanup;
	}
	if ((uint64_t)st.st_size > CONF_FILE_MAX) {
		conf_errors_add(errs, path, 0, 0, "the file is larger than %u bytes", CONF_FILE_MAX);
		goto cleanup;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		conf_errors_add(errs, path, 0, 0, "out of memory");
		goto cleanup;
	}
	n = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		conf_errors_add(errs, path, 0, 0, "cannot read: %s", strerror(errno));
		goto cleanup;
	}
	text[n] = '\0';
	c = conf_load_string(text, n, path, errs);
cleanup:
	free(text);
	fclose(f);
	return c;
}

/* ---- snapshots ---- */

struct conf *conf_ref(struct conf *c)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void conf_unref(struct conf *c)
{
	/* acq_rel: every use of the snapshot by other threads happens before the free */
	if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		conf_free(c);
}

struct conf *conf_acquire(void)
{
	struct conf *c;

	/* The pointer read and the reference are one step under the lock, so a concurrent
	 * publish cannot drop the last reference between them. */
	pthread_mutex_lock(&conf_current_lock);
	c = conf_ref(conf_current);
	pthread_mutex_unlock(&conf_current_lock);
	return c;
}

uint64_t conf_current_generation(void)
{
	return atomic_load_explicit(&conf_current_gen, memory_order_acquire);
}

void conf_publish(struct conf *c)
{
	struct conf *old;

	pthread_mutex_lock(&conf_current_lock);
	old = conf_current;
	conf_current = c;
	atomic_store_explicit(&conf_current_gen, c != NULL ? c->generation : 0, memory_order_release);
	pthread_mutex_unlock(&conf_current_lock);
	/* outside the lock: the last unref may free a whole configuration */
	conf_unref(old);
}

/* ---- lookups ---- */

struct conf_namespace *conf_find_namespace(const struct conf *c, const char *id)
{
	size_t i;

	for (i = 0; c != NULL && id != NULL && i < c->nnamespaces; i++) {
		if (c->namespaces[i].id != NULL && strcmp(c->namespaces[i].id, id) == 0)
			return &c->namespaces[i];
	}
	return NULL;
}

struct conf_function *conf_find_function(const struct conf *c, const char *id)
{
	size_t i;

	for (i = 0; c != NULL && id != NULL && i < c->nfunctions; i++) {
		if (c->functions[i]->id != NULL && strcmp(c->functions[i]->id, id) == 0)
			return c->functions[i];
	}
	return NULL;
}

const struct conf_key *conf_find_key(const struct conf_namespace *ns, const char *kid, size_t len)
{
	size_t i;

	for (i = 0; ns != NULL && kid != NULL && i < ns->nkeys; i++) {
		const char *k = ns->keys[i].kid;

		if (k != NULL && strlen(k) == len && memcmp(k, kid, len) == 0)
			return &ns->keys[i];
	}
	return NULL;
}
