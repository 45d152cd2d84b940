/* cli.c - the command-line clients: token, API key and function commands through the admin API,
 * and the offline commands (token mint, admin-key create, keygen). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "b64url.h"
#include "conf.h"
#include "keys.h"
#include "journal.h"
#include "mint.h"
#include "signkeys.h"
#include "tls.h"
#include "util.h"

#define CLI_DEFAULT_URL       "http://127.0.0.1:9090"
#define CLI_DEFAULT_STATE_DIR "/var/lib/fngate"
#define CLI_TIMEOUT_S         15
#define CLI_KEY_MAX           300     /* bytes of an admin key (fngk_ + 43 base64url: far less) */

/* The options every admin API command takes, for the usage texts. */
#define CLI_COMMON_HELP \
	"common: --admin-url URL (http:// or https://; default $FNGATE_ADMIN_URL or " \
	CLI_DEFAULT_URL ")\n" \
	"        --admin-key-file FILE (- reads standard input)  or $FNGATE_ADMIN_KEY\n" \
	"        --admin-key KEY (visible to every local user in ps: prefer the two above)\n" \
	"        --admin-ca FILE (PEM CA bundle for https://; default $FNGATE_ADMIN_CA or the\n" \
	"        system store)  --json\n"

/* ---------------------------------------------------------------- options */

/* A parsed command line: named options (--name value, --name=value, or flags) and positionals. */
struct cli_opt_spec {
	const char *name;
	bool        takes_value;
};

#define CLI_MAX_OPTS 16
#define CLI_MAX_POS  4

struct cli_args {
	const char *names[CLI_MAX_OPTS];
	const char *values[CLI_MAX_OPTS];   /* "" for flags */
	size_t      nopts;
	const char *pos[CLI_MAX_POS];
	size_t      npos;
};

static const struct cli_opt_spec common_specs[] = {
	{"admin-url", true}, {"admin-key", true}, {"admin-key-file", true}, {"admin-ca", true},
	{"json", false}, {"help", false},
};

/* Parse argv[from..argc) against specs (plus the common ones). 0, or -1 (message printed). */
static int parse_args(int argc, char **argv, int from, const struct cli_opt_spec *specs,
		      size_t nspecs, struct cli_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = from; i < argc; i++) {
		const char *arg = argv[i], *eq, *val = NULL;
		const struct cli_opt_spec *sp = NULL;
		size_t nl;

		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (strcmp(arg, "--") == 0)
				continue;
			if (a->npos == CLI_MAX_POS) {
				fprintf(stderr, "fngate: too many arguments (at \"%s\")\n", arg);
				return -1;
			}
			a->pos[a->npos++] = arg;
			continue;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nl = eq ? (size_t)(eq - arg) : strlen(arg);
		for (size_t k = 0; k < nspecs + ARRAY_LEN(common_specs) && sp == NULL; k++) {
			const struct cli_opt_spec *s = k < nspecs ? &specs[k] :
						       &common_specs[k - nspecs];

			if (strlen(s->name) == nl && strncmp(s->name, arg, nl) == 0)
				sp = s;
		}
		if (sp == NULL) {
			fprintf(stderr, "fngate: unknown option --%.*s\n", (int)nl, arg);
			return -1;
		}
		if (sp->takes_value) {
			if (eq != NULL)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				fprintf(stderr, "fngate: --%s needs a value\n", sp->name);
				return -1;
			}
		} else if (eq != NULL) {
			fprintf(stderr, "fngate: --%s takes no value\n", sp->name);
			return -1;
		} else {
			val = "";
		}
		if (a->nopts == CLI_MAX_OPTS) {
			fprintf(stderr, "fngate: too many options\n");
			return -1;
		}
		a->names[a->nopts] = sp->name;
		a->values[a->nopts++] = val;
	}
	return 0;
}

static const char *opt(const struct cli_args *a, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < a->nopts; i++) {
		if (strcmp(a->names[i], name) == 0)
			v = a->values[i];   /* the last one wins */
	}
	return v;
}

static bool flag(const struct cli_args *a, const char *name)
{
	return opt(a, name) != NULL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fngate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run with --help for usage)\n", stderr);
	return CLI_EXIT_USAGE;
}

/* ---------------------------------------------------------------- the admin API client */

struct http_result {
	int   status;       /* 0: no response */
	char *body;
	bool  done;
	struct event_base *base;
};

static void http_done(struct evhttp_request *req, void *arg)
{
	struct http_result *r = arg;

	r->done = true;
	if (req != NULL && evhttp_request_get_response_code(req) != 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);

		r->status = evhttp_request_get_response_code(req);
		r->body = malloc(n + 1);
		if (r->body != NULL) {
			evbuffer_remove(in, r->body, n);
			r->body[n] = '\0';
		}
	}
	/* The connection stays open (keep-alive): stop the loop ourselves. */
	event_base_loopbreak(r->base);
}

/* The admin key read from --admin-key-file, once per process (standard input can be read only
 * once); wiped at exit. */
static char cli_key_buf[CLI_KEY_MAX + 2];
static bool cli_key_read;

static void cli_key_wipe(void)
{
	util_wipe(cli_key_buf, sizeof(cli_key_buf));
}

/* Read the admin key from path ("-": standard input): its first line, without the line end.
 * NULL with a message printed when it cannot be read or is not one key. */
static const char *key_from_file(const char *path)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if (cli_key_read)
		return cli_key_buf;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		fprintf(stderr, "fngate: --admin-key-file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 077) != 0)
		fprintf(stderr, "fngate: warning: %s is readable by other users (mode %04o): "
			"chmod 600 it\n", path, (unsigned)(st.st_mode & 07777));
	atexit(cli_key_wipe);
	while (len < sizeof(cli_key_buf) - 1 &&
	       (n = read(fd, cli_key_buf + len, sizeof(cli_key_buf) - 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "fngate: --admin-key-file %s: %s\n", path, strerror(errno));
			len = 0;
			break;
		}
		len += (size_t)n;
		if (memchr(cli_key_buf, '\n', len) != NULL)
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	cli_key_buf[len] = '\0';
	cli_key_buf[strcspn(cli_key_buf, "\r\n")] = '\0';
	len = strlen(cli_key_buf);
	if (len == 0 || len > CLI_KEY_MAX) {
		fprintf(stderr, "fngate: --admin-key-file %s: expected one admin key on its first "
			"line (%s)\n", path, len == 0 ? "it is empty" : "too long");
		cli_key_wipe();
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)cli_key_buf[i] <= 0x20 || (unsigned char)cli_key_buf[i] >= 0x7f) {
			fprintf(stderr, "fngate: --admin-key-file %s: the key holds a space or a "
				"control character\n", path);
			cli_key_wipe();
			return NULL;
		}
	}
	cli_key_read = true;
	return cli_key_buf;
}

/* The admin key of a command: --admin-key-file, --admin-key, $FNGATE_ADMIN_KEY, in that order;
 * *ok false (message printed) when a key file was given and cannot be used. */
static const char *admin_key(const struct cli_args *a, bool *ok)
{
	const char *file = opt(a, "admin-key-file"), *key = opt(a, "admin-key");

	*ok = true;
	if (file != NULL && key != NULL) {
		fprintf(stderr, "fngate: give --admin-key-file or --admin-key, not both\n");
		*ok = false;
		return NULL;
	}
	if (file != NULL) {
		key = key_from_file(file);
		*ok = key != NULL;
		return key;
	}
	return key != NULL ? key : getenv("FNGATE_ADMIN_KEY");
}

/* A TLS bufferevent for https://host: the peer verified against --admin-ca (or $FNGATE_ADMIN_CA,
 * else the system store) and host. NULL with a message printed. */
static struct bufferevent *tls_bev(const struct cli_args *a, struct event_base *base,
				   const char *host, struct tls_client **tc)
{
	const char *ca = opt(a, "admin-ca");
	enum tls_file which;
	char err[512];
	SSL *ssl;

	if (ca == NULL)
		ca = getenv("FNGATE_ADMIN_CA");
	*tc = tls_client_new(ca, NULL, NULL, err, sizeof(err), &which);
	if (*tc == NULL) {
		fprintf(stderr, "fngate: --admin-ca: %s\n", err);
		return NULL;
	}
	ssl = tls_client_ssl_new(*tc, host, false);
	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
}

/* The first of host's addresses that accepts a TCP connection on port, as a numeric string in
 * out: libevent connects to a name's first address only, and `localhost` is ::1 first on Debian
 * while the admin API listens on 127.0.0.1 by default. 0, or -1 when none answers (then the
 * name itself is given to libevent, which reports the failure). */
static int reachable_addr(const char *host, int port, char *out, size_t outlen)
{
	struct addrinfo hints, *res = NULL;
	char ps[8];
	int rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return -1;
	for (struct addrinfo *ai = res; ai != NULL && rc != 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
		socklen_t el = sizeof(err);
		struct pollfd p;

		if (fd == -1)
			continue;
		p.fd = fd;
		p.events = POLLOUT;
		if ((connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		     (errno == EINPROGRESS && poll(&p, 1, CLI_TIMEOUT_S * 1000) == 1 &&
		      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)) &&
		    getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)outlen, NULL, 0,
				NI_NUMERICHOST) == 0)
			rc = 0;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

/* One request to the admin API. *out gets the parsed JSON body (may be NULL), the status is
 * returned; 0 when the API could not be reached (message printed). */
static int api_call(const struct cli_args *a, const char *method, const char *path,
		    const char *body, json_t **out)
{
	const char *url = opt(a, "admin-url"), *key;
	struct evhttp_uri *u = NULL;
	struct event_base *base = NULL;
	struct evhttp_connection *cn = NULL;
	struct evhttp_request *req = NULL;
	struct bufferevent *bev = NULL;
	struct tls_client *tc = NULL;
	struct http_result res = {0, NULL, false, NULL};
	char full[2048], auth[512], hostbuf[256], addr[NI_MAXHOST];
	const char *host, *base_path, *scheme;
	enum evhttp_cmd_type m;
	bool https, key_ok;
	int port;

	*out = NULL;
	key = admin_key(a, &key_ok);
	if (!key_ok)
		return 0;
	if (url == NULL)
		url = getenv("FNGATE_ADMIN_URL");
	if (url == NULL)
		url = CLI_DEFAULT_URL;
	u = evhttp_uri_parse(url);
	scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
	if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    evhttp_uri_get_host(u) == NULL || strlen(evhttp_uri_get_host(u)) >= sizeof(hostbuf)) {
		fprintf(stderr, "fngate: --admin-url %s: expected http://HOST:PORT or "
			"https://HOST:PORT\n", url);
		goto cleanup;
	}
	https = strcmp(scheme, "https") == 0;
	/* evhttp keeps an IPv6 literal's brackets; connect, SNI and the certificate check want
	 * the bare address */
	snprintf(hostbuf, sizeof(hostbuf), "%s", evhttp_uri_get_host(u));
	host = hostbuf;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		hostbuf[strlen(hostbuf) - 1] = '\0';
		host = hostbuf + 1;
	}
	port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : https ? 443 : 80;
	base_path = evhttp_uri_get_path(u);
	if (base_path == NULL || strcmp(base_path, "/") == 0)
		base_path = "";
	snprintf(full, sizeof(full), "%s%s", base_path, path);
	m = strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST : strcmp(method, "DELETE") == 0 ?
	    EVHTTP_REQ_DELETE : strcmp(method, "PATCH") == 0 ? EVHTTP_REQ_PATCH : EVHTTP_REQ_GET;
	base = event_base_new();
	if (base == NULL)
		goto cleanup;
	res.base = base;
	if (reachable_addr(host, port, addr, sizeof(addr)) != 0)
		snprintf(addr, sizeof(addr), "%s", host);
	if (https) {
		bev = tls_bev(a, base, host, &tc);     /* SNI and the certificate check: the name */
		if (bev == NULL)
			goto cleanup;
		/* owned by the connection from now on */
		cn = evhttp_connection_base_bufferevent_new(base, NULL, bev, addr,
							    (unsigned short)port);
	} else {
		cn = evhttp_connection_base_new(base, NULL, addr, (unsigned short)port);
	}
	req = evhttp_request_new(http_done, &res);
	if (cn == NULL || req == NULL)
		goto cleanup;
	evhttp_connection_set_timeout(cn, CLI_TIMEOUT_S);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  evhttp_uri_get_host(u));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Accept", "application/json");
	if (key != NULL && *key != '\0') {
		if (strlen(key) > CLI_KEY_MAX) {
			fprintf(stderr, "fngate: the admin key is too long\n");
			goto cleanup;
		}
		snprintf(auth, sizeof(auth), "Bearer %s", key);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
		util_wipe(auth, sizeof(auth));
	}
	if (body != NULL) {
		char cl[24];

		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  "application/json");
		/* libevent's client adds Content-Length for POST only. */
		if (m != EVHTTP_REQ_POST) {
			snprintf(cl, sizeof(cl), "%zu", strlen(body));
			evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", cl);
		}
	}
	if (evhttp_make_request(cn, req, m, full) != 0) {
		req = NULL;
		goto cleanup;
	}
	req = NULL;     /* owned by the connection */
	event_base_dispatch(base);
	if (res.status == 0) {
		unsigned long e = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
		SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

		/* a TLS failure proper (the certificate, the protocol); an error of another library
		 * (a refused or cut connection) is "cannot reach" */
		if (ssl != NULL && (SSL_get_verify_result(ssl) != X509_V_OK ||
				    (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL))) {
			char why[256];

			tls_failure_reason(ssl, e, why, sizeof(why));
			fprintf(stderr, "fngate: TLS with the admin API at %s failed: %s (give its "
				"CA with --admin-ca or FNGATE_ADMIN_CA)\n", url, why);
		} else {
			fprintf(stderr, "fngate: cannot reach the admin API at %s (is fngate "
				"running? set --admin-url or FNGATE_ADMIN_URL)\n", url);
		}
		ERR_clear_error();
		goto cleanup;
	}
	if (res.body != NULL && res.body[0] != '\0')
		*out = json_loads(res.body, 0, NULL);
cleanup:
	if (req != NULL)
		evhttp_request_free(req);
	if (cn != NULL)
		evhttp_connection_free(cn);
	else if (bev != NULL)
		bufferevent_free(bev);  /* no connection took it */
	if (base != NULL)
		event_base_free(base);
	tls_client_unref(tc);
	if (u != NULL)
		evhttp_uri_free(u);
	if (res.body != NULL) {
		util_wipe(res.body, strlen(res.body));  /* may hold a new token */
		free(res.body);
	}
	return res.status;
}

/* Map an API status to an exit code, printing the API's error for the human. */
static int api_exit(int status, json_t *j)
{
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *msg = json_string_value(json_object_get(j, "message"));

	if (status == 0)
		return CLI_EXIT_FAILURE;
	if (status >= 200 && status < 300)
		return CLI_EXIT_OK;
	fprintf(stderr, "fngate: %s (HTTP %d%s%s)\n", msg ? msg : "request failed", status,
		code ? ", " : "", code ? code : "");
	if (status == 401)
		fprintf(stderr, "hint: pass an admin key with --admin-key-file or FNGATE_ADMIN_KEY\n");
	if (status == 401 || status == 403)
		return CLI_EXIT_AUTH;
	if (status == 404)
		return CLI_EXIT_NOT_FOUND;
	if (status == 400 || status == 409 || status == 413 || status == 429)
		return CLI_EXIT_REJECTED;
	return CLI_EXIT_FAILURE;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		puts(s);
		util_wipe(s, strlen(s));
		free(s);
	}
}

/* ---------------------------------------------------------------- output */

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

/* A table: a header row and rows of up to 8 cells, columns padded; cells truncated at 48. */
#define TABLE_COLS 8
#define CELL_MAX   48

static void table_print(const char *const *head, size_t ncols, const char **cells, size_t nrows)
{
	size_t w[TABLE_COLS] = {0};

	for (size_t c = 0; c < ncols; c++)
		w[c] = strlen(head[c]);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			size_t l = strlen(cells[r * ncols + c]);

			if (l > CELL_MAX)
				l = CELL_MAX;
			if (l > w[c])
				w[c] = l;
		}
	}
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)w[c] : 0, head[c], c + 1 < ncols ? "  " : "\n");
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *s = cells[r * ncols + c];

			int pad = c + 1 < ncols ? (int)w[c] : 0;

			if (strlen(s) > CELL_MAX)
				printf("%.*s...%*s", CELL_MAX - 3, s, pad ? (int)(w[c] - CELL_MAX) : 0, "");
			else
				printf("%-*s", pad, s);
			fputs(c + 1 < ncols ? "  " : "\n", stdout);
		}
	}
}

/* A token's or an API key's record, one field a line (an API key has no kid). */
static void token_describe(json_t *t)
{
	static const char *const keys[] = {"id", "scope", "namespace_id", "function_id",
					   "description", "status", "created_at", "expires_at",
					   "revoked_at", "last_used_at", "kid"};

	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (json_object_get(t, keys[i]) != NULL)
			printf("%-13s %s\n", keys[i], js(t, keys[i]));
}

/* ---------------------------------------------------------------- token and API key commands */

/* What `fngate token` and `fngate api-key` differ in: the same commands on another endpoint. */
struct cred_kind {
	const char *cmd;        /* the command: "token", "api-key" */
	const char *noun;       /* in messages */
	const char *path;       /* the API's collection */
	const char *list;       /* the listing's array */
	const char *secret;     /* the creation response's field holding the secret */
};

static const struct cred_kind cred_token = {"token", "token", "/v1/tokens", "tokens", "token"};
static const struct cred_kind cred_api_key = {"api-key", "API key", "/v1/api-keys", "api_keys",
					      "secret"};

#define CLI_ID_MAX 128      /* conf.c's longest id */

/* --function's value as a function id, written to id (CLI_ID_MAX + 1 bytes): a function's id,
 * or its name together with --namespace (names are unique within a namespace only). The
 * functions the key sees are read through the API. Returns CLI_EXIT_OK, or an exit code after
 * saying why: CLI_EXIT_NOT_FOUND for an unknown id or name (silently when `quiet_unknown`: the
 * API said it already), CLI_EXIT_USAGE for a name given without --namespace or one that is a
 * function's name and another's id. */
static int resolve_function(const struct cli_args *a, const char *fn, const char *ns, char *id,
			    bool quiet_unknown)
{
	char path[400], where[256] = "";
	char *e = NULL;
	json_t *resp = NULL, *arr, *f, *by_id = NULL, *by_name = NULL;
	size_t i, named = 0, at = 0;
	int st, rc;

	if (ns != NULL) {
		e = evhttp_uriencode(ns, -1, 0);
		if (e == NULL || strlen(e) > 300) {
			free(e);
			return usage_error("invalid namespace id");
		}
		snprintf(path, sizeof(path), "/v1/namespaces/%s/functions", e);
		free(e);
	}
	st = api_call(a, "GET", ns != NULL ? path : "/v1/functions", NULL, &resp);
	rc = api_exit(st, resp);
	if (rc != CLI_EXIT_OK)
		goto cleanup;
	arr = json_object_get(resp, "functions");
	json_array_foreach(arr, i, f) {
		if (strcmp(js(f, "id"), fn) == 0)
			by_id = f;
		if (strcmp(js(f, "name"), fn) == 0) {
			by_name = f;
			named++;
			if (at < sizeof(where))
				at += (size_t)snprintf(where + at, sizeof(where) - at, "%s%s",
						       named > 1 ? ", " : "", js(f, "namespace_id"));
		}
	}
	if (ns != NULL && by_id != NULL && by_name != NULL && by_id != by_name) {
		fprintf(stderr, "fngate: \"%s\" is ambiguous in namespace %s: the id of one function "
			"and the name of function %s; give that function's id\n", fn, ns,
			js(by_name, "id"));
		rc = CLI_EXIT_USAGE;
	} else if (by_id != NULL || (ns != NULL && by_name != NULL)) {
		snprintf(id, CLI_ID_MAX + 1, "%s", js(by_id != NULL ? by_id : by_name, "id"));
	} else if (ns != NULL) {
		fprintf(stderr, "fngate: namespace %s has no function with the id or name \"%s\" "
			"(fngate function list shows them)\n", ns, fn);
		rc = CLI_EXIT_NOT_FOUND;
	} else if (named > 0) {
		fprintf(stderr, "fngate: no function has the id \"%s\"; it is the name of a function "
			"in namespace%s %s: add --namespace with one of them\n", fn, named > 1 ? "s" : "",
			where);
		rc = CLI_EXIT_USAGE;
	} else {
		if (!quiet_unknown)
			fprintf(stderr, "fngate: no function has the id \"%s\" (fngate function list "
				"shows them; a function's name needs --namespace)\n", fn);
		rc = CLI_EXIT_NOT_FOUND;
	}
cleanup:
	json_decref(resp);
	return rc;
}

/* After a creation: a curl line with the token (or API key) for the function (a function
 * token), or for each function of the namespace (a namespace token), at the endpoints the API
 * gives. Silent when the functions cannot be read: the token itself is already printed. */
static void token_print_curl(const struct cli_args *a, const char *ns, const char *fn,
			     const char *token)
{
	char path[400];
	char *e = evhttp_uriencode(ns != NULL ? ns : fn, -1, 0);
	json_t *resp = NULL, *arr;
	size_t n;

	if (e == NULL || strlen(e) > 300) {
		free(e);
		return;
	}
	snprintf(path, sizeof(path), ns != NULL ? "/v1/namespaces/%s/functions" : "/v1/functions/%s",
		 e);
	free(e);
	if (api_call(a, "GET", path, NULL, &resp) == 200) {
		arr = json_object_get(resp, "functions");
		n = ns != NULL ? json_array_size(arr) : 1;
		for (size_t i = 0; i < n; i++) {
			json_t *f = ns != NULL ? json_array_get(arr, i) : resp;
			const char *ep = json_string_value(json_object_get(f, "endpoint"));

			if (ep != NULL)
				printf("curl -H 'X-Auth-Token: %s' '%s'\n", token, ep);
		}
	}
	json_decref(resp);
}

static int token_create(const struct cli_args *a, const struct cred_kind *k)
{
	const char *ns = opt(a, "namespace"), *fn = opt(a, "function"), *desc = opt(a, "description");
	const char *exp = opt(a, "expires");
	char fid[CLI_ID_MAX + 1];
	json_t *req, *resp = NULL;
	char *body;
	int64_t t;
	int st, rc;

	if (ns == NULL && fn == NULL)
		return usage_error("%s create: give --namespace ID (a namespace %s), or --function "
				   "ID or --function NAME --namespace ID (a function %s)", k->cmd,
				   k->noun, k->noun);
	if (desc == NULL)
		return usage_error("%s create: --description TEXT is required", k->cmd);
	if ((exp == NULL) == !flag(a, "no-expiry"))
		return usage_error("%s create: give exactly one of --expires RFC3339 "
				   "(e.g. 2030-01-31T00:00:00Z) or --no-expiry", k->cmd);
	if (exp != NULL && util_parse_rfc3339(exp, &t) != 0)
		return usage_error("%s create: --expires %s is not RFC 3339 "
				   "(e.g. 2030-01-31T00:00:00Z)", k->cmd, exp);
	/* An id alone goes to the API as it is (one call); with --namespace, it may be a name. */
	if (fn != NULL && ns != NULL) {
		if ((rc = resolve_function(a, fn, ns, fid, false)) != CLI_EXIT_OK)
			return rc;
		fn = fid;
		ns = NULL;      /* it named the function's namespace: a function token */
	}
	req = json_pack("{s:s,s:o}", "description", desc, "expires_at",
			exp ? json_string(exp) : json_null());
	json_object_set_new(req, ns ? "namespace_id" : "function_id", json_string(ns ? ns : fn));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	st = api_call(a, "POST", k->path, body, &resp);
	free(body);
	rc = api_exit(st, resp);
	if (rc != CLI_EXIT_OK && fn != NULL && ns == NULL &&
	    strcmp(js(resp, "error"), "unknown_function") == 0 &&
	    resolve_function(a, fn, NULL, fid, true) == CLI_EXIT_USAGE)
		rc = CLI_EXIT_USAGE;    /* a name without --namespace: said so */
	if (rc == CLI_EXIT_OK) {
		if (flag(a, "json")) {
			print_json(resp);
		} else {
			token_describe(resp);
			printf("\n%s:\n%s\n\n", k->secret, js(resp, k->secret));
			token_print_curl(a, ns, fn, js(resp, k->secret));
			fprintf(stderr, "warning: this is the only time the %s is shown; store it "
				"now (it cannot be retrieved again, only deleted).\n", k->noun);
		}
	}
	json_decref(resp);
	return rc;
}

static int token_list(const struct cli_args *a, const struct cred_kind *k)
{
	static const char *const head[] = {"ID", "SCOPE", "TARGET", "STATUS", "EXPIRES",
					   "LAST USED", "DESCRIPTION"};
	char path[1024], *e;
	size_t off, n;
	const char *v;
	char fid[CLI_ID_MAX + 1];
	json_t *resp = NULL, *arr;
	const char **cells;
	int st, rc;

	if ((v = opt(a, "function")) != NULL &&
	    (rc = resolve_function(a, v, opt(a, "namespace"), fid, false)) != CLI_EXIT_OK)
		return rc;
	off = (size_t)snprintf(path, sizeof(path), "%s?order_by=%s", k->path,
			       flag(a, "desc") ? "created_at_desc" : "created_at_asc");
	static const char *const qs[][2] = {{"namespace", "namespace_id"},
					    {"function", "function_id"},
					    {"page", "page"}, {"page-size", "page_size"}};
	for (size_t i = 0; i < ARRAY_LEN(qs); i++) {
		if ((v = opt(a, qs[i][0])) == NULL)
			continue;
		if (strcmp(qs[i][0], "function") == 0)
			v = fid;
		e = evhttp_encode_uri(v);
		if (e == NULL)
			return CLI_EXIT_FAILURE;
		off += (size_t)snprintf(path + off, sizeof(path) - off, "&%s=%s", qs[i][1], e);
		free(e);
		if (off >= sizeof(path))
			return usage_error("%s list: arguments too long", k->cmd);
	}
	st = api_call(a, "GET", path, NULL, &resp);
	rc = api_exit(st, resp);
	if (rc != CLI_EXIT_OK)
		goto cleanup;
	if (flag(a, "json")) {
		print_json(resp);
		goto cleanup;
	}
	arr = json_object_get(resp, k->list);
	n = json_array_size(arr);
	cells = calloc(n * 7 + 1, sizeof(*cells));
	if (cells == NULL) {
		rc = CLI_EXIT_FAILURE;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		bool fnscope = json_is_string(json_object_get(t, "function_id"));

		cells[i * 7 + 0] = js(t, "id");
		cells[i * 7 + 1] = js(t, "scope");
		cells[i * 7 + 2] = fnscope ? js(t, "function_id") : js(t, "namespace_id");
		cells[i * 7 + 3] = json_is_true(json_object_get(t, "expired")) &&
				   strcmp(js(t, "status"), "ready") == 0 ? "expired" : js(t, "status");
		cells[i * 7 + 4] = json_is_string(json_object_get(t, "expires_at")) ?
				   js(t, "expires_at") : "never";
		cells[i * 7 + 5] = js(t, "last_used_at");
		cells[i * 7 + 6] = js(t, "description");
	}
	table_print(head, 7, cells, n);
	printf("%zu shown, %lld in total\n", n,
	       (long long)json_integer_value(json_object_get(resp, "total_count")));
	free(cells);
cleanup:
	json_decref(resp);
	return rc;
}

/* GET or DELETE /v1/tokens/ID (/v1/api-keys/ID). */
static int token_one(const struct cli_args *a, const struct cred_kind *k, const char *method,
		     const char *id)
{
	char path[512];
	char *e = evhttp_uriencode(id, -1, 0);
	json_t *resp = NULL;
	int st, rc;

	if (e == NULL || strlen(e) > 300) {
		free(e);
		return usage_error("invalid %s id", k->noun);
	}
	snprintf(path, sizeof(path), "%s/%s", k->path, e);
	free(e);
	st = api_call(a, method, path, NULL, &resp);
	rc = api_exit(st, resp);
	if (rc == CLI_EXIT_OK) {
		if (flag(a, "json"))
			print_json(resp);
		else if (strcmp(method, "DELETE") == 0)
			printf("%s %s %s at %s; it is refused from now on.\n", k->noun,
			       js(resp, "id"), k == &cred_api_key ? "deleted" : "revoked",
			       js(resp, "revoked_at"));
		else
			token_describe(resp);
	}
	json_decref(resp);
	return rc;
}

static int token_delete(const struct cli_args *a, const struct cred_kind *k)
{
	char line[16];

	if (a->npos != 2)
		return usage_error("%s delete: give the %s ID", k->cmd, k->noun);
	if (!flag(a, "yes")) {
		if (!isatty(STDIN_FILENO))
			return usage_error("%s delete: not a terminal: confirm with --yes", k->cmd);
		fprintf(stderr, "Delete %s %s? Every request with it will be refused; this "
			"cannot be undone. [y/N] ", k->noun, a->pos[1]);
		if (fgets(line, sizeof(line), stdin) == NULL ||
		    (line[0] != 'y' && line[0] != 'Y')) {
			fprintf(stderr, "not deleted\n");
			return CLI_EXIT_FAILURE;
		}
	}
	return token_one(a, k, "DELETE", a->pos[1]);
}

static int token_revoke(const struct cli_args *a)
{
	const char *jti = opt(a, "jti"), *ns = opt(a, "namespace");
	json_t *req, *resp = NULL;
	char *body;
	int st, rc;

	if (jti == NULL)
		return usage_error("token revoke: --jti ID is required (the token's jti claim)");
	req = json_pack("{s:s}", "jti", jti);
	if (ns != NULL)
		json_object_set_new(req, "namespace_id", json_string(ns));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	st = api_call(a, "POST", "/v1/tokens/revoke", body, &resp);
	rc = api_exit(st, resp);
	free(body);
	if (rc == CLI_EXIT_OK) {
		if (flag(a, "json"))
			print_json(resp);
		else
			printf("jti %s revoked at %s; tokens carrying it are refused from now on.\n",
			       js(resp, "id"), js(resp, "revoked_at"));
	}
	json_decref(resp);
	return rc;
}

static int token_mint(const struct cli_args *a)
{
	const char *keyp = opt(a, "key"), *ns = opt(a, "namespace"), *fn = opt(a, "function");
	const char *exp = opt(a, "expires"), *algs = opt(a, "alg"), *jti = opt(a, "jti");
	char err[256], uuid[37];
	struct mint_params p;
	enum key_alg alg;
	EVP_PKEY *pk = NULL;
	char *tok = NULL;
	int64_t e = 0;
	int rc = CLI_EXIT_FAILURE;

	if (keyp == NULL)
		return usage_error("token mint: --key PRIVATE.pem is required");
	if ((ns == NULL) == (fn == NULL))
		return usage_error("token mint: give exactly one of --namespace ID or --function ID");
	if (exp != NULL && flag(a, "no-expiry"))
		return usage_error("token mint: --expires and --no-expiry exclude each other");
	if (exp != NULL && util_parse_rfc3339(exp, &e) != 0)
		return usage_error("token mint: --expires %s is not RFC 3339", exp);
	if (algs != NULL) {
		alg = keys_alg_from_name(algs, strlen(algs));
		if (alg == KEY_ALG_NONE)
			return usage_error("token mint: --alg must be RS256 or ES256");
		pk = keys_load_private(keyp, alg, err, sizeof(err));
	} else {
		alg = KEY_ALG_RS256;
		pk = keys_load_private(keyp, alg, err, sizeof(err));
		if (pk == NULL) {
			alg = KEY_ALG_ES256;
			pk = keys_load_private(keyp, alg, err, sizeof(err));
		}
	}
	if (pk == NULL) {
		fprintf(stderr, "fngate: %s: %s\n", keyp, err);
		return CLI_EXIT_FAILURE;
	}
	if (jti == NULL) {
		if (util_uuid4(uuid) != 0)
			goto cleanup;
		jti = uuid;
	}
	memset(&p, 0, sizeof(p));
	p.key = pk;
	p.alg = alg;
	p.kid = opt(a, "kid");
	p.ns_id = ns;
	p.function_id = fn;
	p.jti = jti;
	p.iat = util_now();
	p.exp = e;
	p.iss = opt(a, "iss");
	tok = mint_token_ex(&p);
	if (tok == NULL) {
		fprintf(stderr, "fngate: minting failed\n");
		goto cleanup;
	}
	if (flag(a, "json")) {
		json_t *o = json_pack("{s:s,s:s,s:o}", "token", tok, "jti", jti, "expires_at",
				      e ? json_integer(e) : json_null());

		print_json(o);
		json_decref(o);
	} else {
		puts(tok);
	}
	rc = CLI_EXIT_OK;
cleanup:
	util_free_secret(tok);
	EVP_PKEY_free(pk);
	return rc;
}

/* The options of `fngate token`; the first API_KEY_NSPECS are those of `fngate api-key` too. */
static const struct cli_opt_spec token_specs[] = {
	{"namespace", true}, {"function", true}, {"description", true}, {"expires", true},
	{"no-expiry", false}, {"yes", false}, {"page", true}, {"page-size", true}, {"desc", false},
	{"jti", true}, {"key", true}, {"kid", true}, {"alg", true}, {"iss", true},
};
#define API_KEY_NSPECS 9

static void token_usage(FILE *f)
{
	fputs("usage:\n"
	      "  fngate token create (--function ID | --function NAME --namespace ID | --namespace ID)\n"
	      "                      --description TEXT (--expires RFC3339 | --no-expiry)\n"
	      "  fngate token list [--namespace ID] [--function ID | --function NAME --namespace ID]\n"
	      "                    [--desc] [--page N] [--page-size N]\n"
	      "  fngate token get ID\n"
	      "  fngate token delete ID [--yes]\n"
	      "  fngate token revoke --jti ID [--namespace ID]   (tokens fngate never issued too)\n"
	      "  fngate token mint --key PRIVATE.pem (--namespace ID | --function ID)   (ids only)\n"
	      "                    [--expires RFC3339 | --no-expiry] [--kid K] [--alg RS256|ES256]\n"
	      "                    [--jti ID] [--iss ISSUER]          (offline)\n"
	      CLI_COMMON_HELP
	      "exit codes: 0 ok, 1 failure, 2 usage, 3 not authorised (401/403), 4 not found,\n"
	      "            5 request refused (400/409/413/429)\n", f);
}

static void api_key_usage(FILE *f)
{
	fputs("usage:\n"
	      "  fngate api-key create (--function ID | --function NAME --namespace ID | --namespace ID)\n"
	      "                        --description TEXT (--expires RFC3339 | --no-expiry)\n"
	      "  fngate api-key list [--namespace ID] [--function ID | --function NAME --namespace ID]\n"
	      "                      [--desc] [--page N] [--page-size N]\n"
	      "  fngate api-key get ID\n"
	      "  fngate api-key delete ID [--yes]\n"
	      CLI_COMMON_HELP
	      "exit codes: 0 ok, 1 failure, 2 usage, 3 not authorised (401/403), 4 not found,\n"
	      "            5 request refused (400/409/413/429)\n", f);
}

/* The commands `fngate token` and `fngate api-key` share: create, list, get, delete (parsed a).
 * Returns the exit code, or -1 when sub is none of them. */
static int cred_command(const struct cli_args *a, const struct cred_kind *k, const char *sub)
{
	if (strcmp(sub, "create") == 0)
		return a->npos == 1 ? token_create(a, k) : usage_error("%s create takes no ID", k->cmd);
	if (strcmp(sub, "list") == 0)
		return a->npos == 1 ? token_list(a, k) : usage_error("%s list takes no ID", k->cmd);
	if (strcmp(sub, "get") == 0)
		return a->npos == 2 ? token_one(a, k, "GET", a->pos[1]) :
		       usage_error("%s get: give the %s ID", k->cmd, k->noun);
	if (strcmp(sub, "delete") == 0)
		return token_delete(a, k);
	return -1;
}

int cli_api_key(int argc, char **argv)
{
	struct cli_args a;
	int rc;

	/* token's options less those of revoke and mint, which API keys have not */
	if (parse_args(argc, argv, 1, token_specs, API_KEY_NSPECS, &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos == 0) {
		api_key_usage(a.npos == 0 && !flag(&a, "help") ? stderr : stdout);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	rc = cred_command(&a, &cred_api_key, a.pos[0]);
	return rc >= 0 ? rc : usage_error("api-key: unknown command \"%s\" (create, list, get, "
					  "delete)", a.pos[0]);
}

int cli_token(int argc, char **argv)
{
	struct cli_args a;
	const char *sub;
	int rc;

	if (parse_args(argc, argv, 1, token_specs, ARRAY_LEN(token_specs), &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos == 0) {
		token_usage(a.npos == 0 && !flag(&a, "help") ? stderr : stdout);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	sub = a.pos[0];
	if ((rc = cred_command(&a, &cred_token, sub)) >= 0)
		return rc;
	if (strcmp(sub, "revoke") == 0)
		return token_revoke(&a);
	if (strcmp(sub, "mint") == 0)
		return token_mint(&a);
	return usage_error("token: unknown command \"%s\" (create, list, get, delete, revoke, "
			   "mint)", sub);
}

/* ---------------------------------------------------------------- audit */

static const struct cli_opt_spec audit_specs[] = {
	{"namespace", true}, {"actor", true}, {"action", true}, {"since", true}, {"until", true},
	{"page", true}, {"page-size", true},
};

int cli_audit(int argc, char **argv)
{
	static const char *const head[] = {"TIME", "ACTOR", "ACTION", "TARGET", "NAMESPACE",
					   "SOURCE", "OUTCOME", "COUNT"};
	static const char *const qs[][2] = {{"namespace", "namespace_id"}, {"actor", "actor"},
					    {"action", "action"}, {"since", "since"},
					    {"until", "until"}, {"page", "page"},
					    {"page-size", "page_size"}};
	struct cli_args a;
	char path[2048], *e;
	char (*counts)[24] = NULL;
	size_t off, n;
	const char *v;
	const char **cells = NULL;
	json_t *resp = NULL, *arr;
	int st, rc;

	if (parse_args(argc, argv, 1, audit_specs, ARRAY_LEN(audit_specs), &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos > 0) {
		fputs("usage: fngate audit [--namespace ID] [--actor NAME] [--action ACTION]\n"
		      "                    [--since RFC3339] [--until RFC3339] [--page N] [--page-size N]\n"
		      "the audit trail, newest first; actions: token.create, token.delete, token.revoke,\n"
		      "api_key.create, api_key.delete, function.privacy, function.reset_privacy,\n"
		      "signing_key.generate, signing_key.rotate, config.reload, admin.auth_failed\n"
		      CLI_COMMON_HELP
		      "exit codes: 0 ok, 1 failure, 2 usage, 3 not authorised (401/403),\n"
		      "            5 request refused (400)\n", flag(&a, "help") ? stdout : stderr);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	off = (size_t)snprintf(path, sizeof(path), "/v1/audit");
	for (size_t i = 0; i < ARRAY_LEN(qs); i++) {
		if ((v = opt(&a, qs[i][0])) == NULL)
			continue;
		e = evhttp_encode_uri(v);
		if (e == NULL)
			return CLI_EXIT_FAILURE;
		off += (size_t)snprintf(path + off, sizeof(path) - off, "%c%s=%s",
					strchr(path, '?') ? '&' : '?', qs[i][1], e);
		free(e);
		if (off >= sizeof(path))
			return usage_error("audit: arguments too long");
	}
	st = api_call(&a, "GET", path, NULL, &resp);
	rc = api_exit(st, resp);
	if (rc != CLI_EXIT_OK)
		goto cleanup;
	if (flag(&a, "json")) {
		print_json(resp);
		goto cleanup;
	}
	arr = json_object_get(resp, "events");
	n = json_array_size(arr);
	cells = calloc(n * ARRAY_LEN(head) + 1, sizeof(*cells));
	counts = calloc(n + 1, sizeof(*counts));
	if (cells == NULL || counts == NULL) {
		rc = CLI_EXIT_FAILURE;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *ev = json_array_get(arr, i);
		const char **row = &cells[i * ARRAY_LEN(head)];

		snprintf(counts[i], sizeof(counts[i]), "%lld",
			 (long long)json_integer_value(json_object_get(ev, "count")));
		row[0] = js(ev, "time");
		row[1] = js(ev, "actor");
		row[2] = js(ev, "action");
		row[3] = js(ev, "target_id");
		row[4] = js(ev, "namespace_id");
		row[5] = js(ev, "source");
		row[6] = js(ev, "outcome");
		row[7] = counts[i];
	}
	table_print(head, ARRAY_LEN(head), cells, n);
	printf("%zu shown, %lld in total\n", n,
	       (long long)json_integer_value(json_object_get(resp, "total_count")));
cleanup:
	free(counts);
	free(cells);
	json_decref(resp);
	return rc;
}

/* ---------------------------------------------------------------- function commands */

int cli_function(int argc, char **argv)
{
	static const char *const head[] = {"ID", "NAME", "NAMESPACE", "PRIVACY", "CONFIGURED",
					   "ENDPOINT"};
	struct cli_args a;
	char path[512], *e = NULL;
	json_t *resp = NULL;
	const char *sub;
	int st, rc;

	if (parse_args(argc, argv, 1, NULL, 0, &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos == 0) {
		fputs("usage:\n  fngate function list\n  fngate function get ID\n"
		      "  fngate function set-privacy ID private|public\n"
		      "  fngate function reset-privacy ID\n"
		      CLI_COMMON_HELP,
		      flag(&a, "help") ? stdout : stderr);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	sub = a.pos[0];
	if (strcmp(sub, "list") == 0 && a.npos == 1) {
		json_t *arr;
		const char **cells;
		size_t n;

		st = api_call(&a, "GET", "/v1/functions", NULL, &resp);
		rc = api_exit(st, resp);
		if (rc != CLI_EXIT_OK || flag(&a, "json")) {
			if (rc == CLI_EXIT_OK)
				print_json(resp);
			goto cleanup;
		}
		arr = json_object_get(resp, "functions");
		n = json_array_size(arr);
		cells = calloc(n * ARRAY_LEN(head) + 1, sizeof(*cells));
		if (cells == NULL) {
			rc = CLI_EXIT_FAILURE;
			goto cleanup;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *f = json_array_get(arr, i);

			const char **row = cells + i * ARRAY_LEN(head);

			row[0] = js(f, "id");
			row[1] = js(f, "name");
			row[2] = js(f, "namespace_id");
			row[3] = js(f, "privacy");
			row[4] = js(f, "privacy_configured");
			row[5] = js(f, "endpoint");
		}
		table_print(head, ARRAY_LEN(head), cells, n);
		free(cells);
		goto cleanup;
	}
	if ((strcmp(sub, "get") == 0 && a.npos == 2) ||
	    (strcmp(sub, "set-privacy") == 0 && a.npos == 3) ||
	    (strcmp(sub, "reset-privacy") == 0 && a.npos == 2)) {
		char body[64];
		bool set = strcmp(sub, "set-privacy") == 0;
		bool reset = strcmp(sub, "reset-privacy") == 0;

		if (set && strcmp(a.pos[2], "private") != 0 && strcmp(a.pos[2], "public") != 0)
			return usage_error("function set-privacy: the privacy is \"private\" or "
					   "\"public\", not \"%s\"", a.pos[2]);
		e = evhttp_uriencode(a.pos[1], -1, 0);
		if (e == NULL || strlen(e) > 300) {
			free(e);
			return usage_error("invalid function id");
		}
		snprintf(path, sizeof(path), "/v1/functions/%s%s", e, reset ? "/privacy" : "");
		snprintf(body, sizeof(body), "{\"privacy\":\"%s\"}", set ? a.pos[2] : "");
		/* Two statements: the call must fill resp before api_exit reads it. */
		st = api_call(&a, set ? "PATCH" : reset ? "DELETE" : "GET", path, set ? body : NULL,
			      &resp);
		rc = api_exit(st, resp);
		if (rc == CLI_EXIT_OK) {
			if (flag(&a, "json"))
				print_json(resp);
			else if (set)
				printf("function %s is now %s.\n", js(resp, "id"), js(resp, "privacy"));
			else if (reset)
				printf("function %s is now %s, as the configuration says.\n",
				       js(resp, "id"), js(resp, "privacy"));
			else
				printf("id            %s\nname          %s\nnamespace_id  %s\n"
				       "privacy       %s\nconfigured    %s\npath_prefix   %s\n"
				       "endpoint      %s\n", js(resp, "id"), js(resp, "name"),
				       js(resp, "namespace_id"), js(resp, "privacy"),
				       js(resp, "privacy_configured"), js(resp, "path_prefix"),
				       js(resp, "endpoint"));
		}
		goto cleanup;
	}
	return usage_error("function: expected list, get ID, set-privacy ID private|public, or "
			   "reset-privacy ID");
cleanup:
	free(e);
	json_decref(resp);
	return rc;
}

/* ---------------------------------------------------------------- admin-key create (offline) */

int cli_admin_key(int argc, char **argv)
{
	static const struct cli_opt_spec specs[] = {
		{"name", true}, {"role", true}, {"permissions", true}, {"namespaces", true},
	};
	struct cli_args a;
	unsigned char raw[32], md[32];
	char key[64], hex[65];
	unsigned int mdlen = 0;
	const char *name, *role, *perms, *nss;
	json_t *line = NULL, *arr;
	char *text = NULL;
	int rc = CLI_EXIT_FAILURE;

	if (parse_args(argc, argv, 1, specs, ARRAY_LEN(specs), &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos != 1 || strcmp(a.pos[0], "create") != 0) {
		fputs("usage: fngate admin-key create --name NAME (--role owner |\n"
		      "         --permissions tokens:read,tokens:write,functions:write"
		      " [--namespaces ID,ID])\n", flag(&a, "help") ? stdout : stderr);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	name = opt(&a, "name");
	role = opt(&a, "role");
	perms = opt(&a, "permissions");
	nss = opt(&a, "namespaces");
	if (name == NULL || *name == '\0')
		return usage_error("admin-key create: --name NAME is required");
	if ((role == NULL) == (perms == NULL))
		return usage_error("admin-key create: give --role owner or --permissions LIST");
	if (role != NULL && strcmp(role, "owner") != 0)
		return usage_error("admin-key create: the only role is \"owner\"");
	line = json_pack("{s:s}", "name", name);
	if (role != NULL) {
		json_object_set_new(line, "role", json_string("owner"));
	} else {
		char *dup = strdup(perms), *save = NULL;

		arr = json_array();
		for (char *p = strtok_r(dup, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
			if (strcmp(p, "tokens:read") != 0 && strcmp(p, "tokens:write") != 0 &&
			    strcmp(p, "functions:write") != 0) {
				free(dup);
				json_decref(arr);
				json_decref(line);
				return usage_error("admin-key create: unknown permission \"%s\" "
						   "(tokens:read, tokens:write, functions:write)", p);
			}
			json_array_append_new(arr, json_string(p));
		}
		free(dup);
		json_object_set_new(line, "permissions", arr);
	}
	if (nss != NULL) {
		char *dup = strdup(nss), *save = NULL;

		arr = json_array();
		for (char *p = strtok_r(dup, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
			json_array_append_new(arr, json_string(p));
		free(dup);
		json_object_set_new(line, "namespaces", arr);
	}
	/* 256 random bits, base64url: "fngk_" + 43 characters. */
	memcpy(key, "fngk_", 5);
	if (util_random(raw, sizeof(raw)) != 0 ||
	    b64url_encode(raw, sizeof(raw), key + 5, sizeof(key) - 5) < 0 ||
	    EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) != 1)
		goto cleanup;
	util_hex(md, sizeof(md), hex);
	json_object_set_new(line, "sha256", json_string(hex));
	if (flag(&a, "json")) {
		json_t *o = json_pack("{s:s,s:O}", "key", key, "config", line);

		print_json(o);
		json_decref(o);
	} else {
		text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("admin key \"%s\" (shown once: store it now; fngate keeps only its hash):\n"
		       "%s\n\nadd this to \"admin\": {\"keys\": [...]} in the configuration, then "
		       "reload (SIGHUP):\n%s\n", name, key, text ? text : "");
	}
	rc = CLI_EXIT_OK;
cleanup:
	util_wipe(raw, sizeof(raw));
	util_wipe(key, sizeof(key));
	free(text);
	json_decref(line);
	return rc;
}

/* ---------------------------------------------------------------- keygen (offline) */

int cli_keygen(int argc, char **argv)
{
	static const struct cli_opt_spec specs[] = {
		{"namespace", true}, {"alg", true}, {"bits", true}, {"rotate", false},
		{"state-dir", true}, {"config", true},
	};
	struct cli_args a;
	const char *ns, *algs, *bitss, *dir;
	char old[32], kid[32], err[512], path[4096];
	struct conf *c = NULL;
	struct conf_errors errs = {0};
	enum key_alg alg = KEY_ALG_RS256;
	int bits = 2048, rc = CLI_EXIT_FAILURE;
	bool had, fleet = false;
	const struct conf_namespace *cns;
	char *pem = NULL;

	if (parse_args(argc, argv, 1, specs, ARRAY_LEN(specs), &a) != 0)
		return CLI_EXIT_USAGE;
	if (flag(&a, "help") || a.npos != 0 || opt(&a, "namespace") == NULL) {
		fputs("usage: fngate keygen --namespace ID [--alg RS256|ES256] [--bits 2048|3072|4096]\n"
		      "                     [--rotate] [--state-dir DIR | --config FILE]\n",
		      flag(&a, "help") ? stdout : stderr);
		return flag(&a, "help") ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	ns = opt(&a, "namespace");
	algs = opt(&a, "alg");
	bitss = opt(&a, "bits");
	if (algs != NULL && (alg = keys_alg_from_name(algs, strlen(algs))) == KEY_ALG_NONE)
		return usage_error("keygen: --alg must be RS256 or ES256");
	if (bitss != NULL) {
		bits = atoi(bitss);
		if (alg != KEY_ALG_RS256)
			return usage_error("keygen: --bits applies to RS256 only");
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return usage_error("keygen: --bits must be 2048, 3072 or 4096");
	}
	dir = opt(&a, "state-dir");
	if (dir == NULL && opt(&a, "config") != NULL) {
		c = conf_load(opt(&a, "config"), &errs);
		if (c == NULL) {
			conf_errors_print(&errs, stderr);
			goto cleanup;
		}
		dir = c->state_dir;
	}
	if (dir == NULL)
		dir = CLI_DEFAULT_STATE_DIR;
	had = signkeys_current_kid(dir, ns, old, sizeof(old)) == 0;
	if (had && !flag(&a, "rotate")) {
		fprintf(stderr, "fngate: namespace %s already has a signing key (%s) in %s/keys/%s; "
			"use --rotate to make a new one\n", ns, old, dir, ns);
		goto cleanup;
	}
	if (signkeys_generate(dir, ns, alg, bits, kid, sizeof(kid), err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate: keygen: %s\n", err);
		goto cleanup;
	}
	/* A fleet's generated key lives in the store: the new one replaces it there, or the
	 * previous key stays current here too (nothing half-done). */
	fleet = c != NULL && c->store.type == CONF_STORE_POSTGRESQL &&
		(cns = conf_find_namespace(c, ns)) != NULL && cns->issue_tokens &&
		cns->signing_key == NULL;
	if (fleet && cli_store_share_key(c, ns, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate: keygen: the fleet's store did not take the new key: %s\n",
			err);
		if (had) {
			char cur[4200 + 32], line[40];

			snprintf(cur, sizeof(cur), "%s/keys/%s/current", dir, ns);
			snprintf(line, sizeof(line), "%s\n", old);
			if (journal_write_atomic(cur, line, strlen(line), 0600) != 0)
				fprintf(stderr, "fngate: keygen: and %s could not be put back to %s: %s\n",
					cur, old, strerror(errno));
			else
				fprintf(stderr, "fngate: keygen: %s is current again in %s\n", old,
					dir);
		}
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/keys/%s/%s.pub.pem", dir, ns, kid);
	if (flag(&a, "json")) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:b}", "namespace", ns, "kid", kid, "alg",
				      keys_alg_name(alg), "public_key", path, "previous_kid",
				      had ? json_string(old) : json_null(), "fleet", fleet);

		print_json(o);
		json_decref(o);
	} else {
		size_t len;
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			pem = calloc(1, 16384);
			len = pem ? fread(pem, 1, 16383, f) : 0;
			fclose(f);
			(void)len;
		}
		printf("namespace %s: new signing key %s (%s%s%d bits), private key in "
		       "%s/keys/%s/%s.pem (0600)\n\n%s\n", ns, kid, keys_alg_name(alg),
		       alg == KEY_ALG_RS256 ? ", " : "", alg == KEY_ALG_RS256 ? bits : 256, dir, ns,
		       kid, pem ? pem : "");
		if (fleet)
			printf("the fleet's store holds it now (sealed): every node adopts it and "
			       "reloads by itself, and signs new tokens with %s.\n", kid);
		else
			printf("add to the namespace's \"keys\" in the configuration:\n"
			       "  {\"kid\": \"%s\", \"alg\": \"%s\", \"public_key\": \"%s\"}\n",
			       kid, keys_alg_name(alg), path);
		if (had)
			printf("and keep the previous key while tokens it signed must work:\n"
			       "  {\"kid\": \"%s\", \"alg\": \"...\", \"public_key\": "
			       "\"%s/keys/%s/%s.pub.pem\"}\n", old, dir, ns, old);
		if (!fleet)
			printf("then reload fngate (SIGHUP): new tokens are signed with %s.\n", kid);
	}
	rc = CLI_EXIT_OK;
cleanup:
	free(pem);
	if (c != NULL)
		conf_unref(c);
	conf_errors_free(&errs);
	return rc;
}
