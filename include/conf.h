/* conf.h - the configuration: loaded and validated whole before use, then immutable.
 *
 * A `struct conf` is a snapshot. The daemon publishes one as current; every request takes a
 * reference to the snapshot it started with (conf_acquire), so a reload (SIGHUP) builds a new
 * snapshot and switches to it while requests in flight finish on the old one. The only mutable
 * field is conf_function.privacy, changed by the admin API at run time (atomic). */
#ifndef FNGATE_CONF_H
#define FNGATE_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "keys.h"

struct cors_policy;
struct route_table;
struct tls_server;
struct tls_client;

enum privacy {
	PRIVACY_PRIVATE = 1,    /* the default: a function is private unless configured public */
	PRIVACY_PUBLIC = 2,
};

struct conf_limits {
	size_t   max_header_bytes;    /* request line + headers; over it -> 431 (414 in the line) */
	size_t   max_body_bytes;      /* request body; over it -> 413 */
	size_t   max_token_bytes;     /* X-Auth-Token; over it -> 403 token_malformed */
	unsigned max_connections;     /* client connections, all workers together */
	unsigned max_tunnels;         /* upgraded connections (WebSocket...), all workers together */
	unsigned upstream_keepalive;  /* idle connections kept per upstream address and worker
				       * (HTTP/1.1 upstreams); past it a finished one is closed */
};

#define CONF_DEFAULT_IDLE_MS 60000     /* timeouts.client_idle_ms when not configured */

struct conf_timeouts {
	unsigned client_header_ms;     /* from first byte of a request to end of its headers */
	unsigned client_idle_ms;       /* keep-alive idle, and any read/write stall on the client */
	unsigned upstream_connect_ms;
	unsigned upstream_response_ms; /* request sent -> response headers, and stalls in the body */
	unsigned tunnel_idle_ms;       /* a tunnel with no byte either way this long is closed */
};

struct conf_key {
	char        *kid;           /* never NULL: configured, or "k<index>" */
	enum key_alg alg;           /* pinned: a token signed with another alg is refused */
	char        *path;          /* resolved path of the PEM */
	EVP_PKEY    *pkey;          /* parsed once at load */
};

/* One server of a function: a configured URL at one of its addresses. A URL whose host name
 * resolves to several addresses gives one entry per address (same url, host, hostport). */
struct conf_upstream {
	char    *url;               /* as configured, e.g. "http://localhost:9000/base" */
	char    *host;              /* "localhost": Host header, SNI and certificate name */
	uint16_t port;
	char    *hostport;          /* "localhost:9000": Host header sent upstream */
	char    *base_path;         /* "" or "/base" (no trailing slash) */
	struct sockaddr_storage addr;   /* resolved at load (and on reload) */
	socklen_t addrlen;
	char    *addr_text;         /* "127.0.0.1:9000", "[::1]:9000": addr, for logs */
	/* https:// endpoints (tls.h); NULL/false for http:// */
	bool     tls;
	struct tls_client *tls_client;  /* a reference: the function's verifying client context */
	/* keep-alive pool and down-mark identity: NULL for a plain http entry whose host is an
	 * address literal (hostport is the key); otherwise "[https://]hostport[@addr][#tls id]" */
	char    *pool_key;
};

/* "public_url": the address callers use (a load balancer, a CDN, a path on a shared host), for
 * the endpoints fngate shows (admin API, console, CLI); fngate itself never listens on it. */
struct conf_public_url {
	char    *url;               /* normalised: "https://example.com:8443/gw"; NULL: not set */
	bool     tls;               /* https:// */
	char    *host;              /* lowercase; an IPv6 address in brackets */
	uint16_t port;              /* 0: the scheme's default */
	char    *path;              /* "" or "/gw": no trailing '/' */
};

struct conf_namespace;

struct conf_function {
	char   *id;                 /* defaults to name */
	char   *name;
	struct conf_namespace *ns;  /* owner */
	_Atomic int privacy;        /* enum privacy; the admin API may change it at run time */
	int     privacy_configured; /* enum privacy as the file says */
	char  **hosts;              /* lowercase; "*.example.com" wildcards allowed */
	size_t  nhosts;
	char   *path_prefix;        /* NULL when routed by host only; never ends with '/' unless "/" */
	size_t  path_prefix_len;
	bool    strip_prefix;       /* default true */
	bool    upstream_h2;        /* "upstream_protocol": "h2" or "h2c": HTTP/2 to its endpoints
				     * (h2up.c): with prior knowledge to http:// ones, by ALPN over
				     * TLS to https:// ones; else HTTP/1.1 (upstream.c) */
	struct conf_upstream *upstreams;
	size_t  nupstreams;
	struct conf_limits   limits;    /* effective: global values overridden per function */
	struct conf_timeouts timeouts;
	/* CORS (cors.h): the function's own "cors" block, else its namespace's; NULL: none */
	const struct cors_policy *cors;
	struct cors_policy *cors_own;   /* the function's own block, freed with it */
	size_t  index;              /* 0..conf.nfunctions-1 over all namespaces */
};

struct conf_namespace {
	char   *id;                 /* defaults to name */
	char   *name;
	char   *issuer;             /* NULL: any iss accepted; else must equal the token's iss */
	struct conf_key *keys;
	size_t  nkeys;
	struct conf_function *functions;
	size_t  nfunctions;
	bool    issue_tokens;               /* fngate mints tokens for this namespace */
	bool    require_registered_tokens;  /* default: equal to issue_tokens */
	char   *signing_key;                /* optional: PEM path of the private key used to mint */
	struct conf_public_url public_url;  /* overrides conf.public_url for its functions */
	size_t  max_tokens;                 /* registry records (tokens and revocations) it may hold */
	struct cors_policy *cors;           /* the default "cors" of its functions; NULL: none */
};

/* "http2": the HTTP/2 front end's limits (h2.c, docs/security.md). */
struct conf_http2 {
	unsigned max_concurrent_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS (100) */
	unsigned initial_window_bytes;      /* SETTINGS_INITIAL_WINDOW_SIZE: per stream (65535) */
	unsigned header_table_bytes;        /* SETTINGS_HEADER_TABLE_SIZE: HPACK state (4096) */
	unsigned max_resets_per_s;          /* streams a client may reset per second (100) */
	bool     extended_connect;          /* SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over
					     * HTTP/2, RFC 8441 (true) */
};

struct conf_listen {
	char   *address;            /* "127.0.0.1:8080", "[::1]:8080", "*:8080" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct tls_server *tls;     /* NULL: plain HTTP; else a reference on the certificates (tls.h) */
	bool    http2;              /* HTTP/2 too (default): h2 by ALPN with TLS, else h2c with prior
				     * knowledge */
	struct conf_http2 h2;       /* its limits: the top-level ones, overridden by its own block */
};

enum admin_role {
	ADMIN_ROLE_NONE = 0,
	ADMIN_ROLE_OWNER = 1,
};

/* Admin permissions, a bit set. */
#define ADMIN_PERM_TOKENS_READ     0x1u
#define ADMIN_PERM_TOKENS_WRITE    0x2u
#define ADMIN_PERM_FUNCTIONS_WRITE 0x4u
#define ADMIN_PERM_ALL             0x7u

struct conf_admin_key {
	char         *name;
	unsigned char sha256[32];   /* hash of the key; the key itself is never stored */
	unsigned      perms;        /* ADMIN_PERM_* (owner: all) */
	char        **namespaces;   /* NULL/0: every namespace */
	size_t        nnamespaces;
};

struct conf_admin {
	char   *listen;             /* NULL: admin API disabled; default "127.0.0.1:9090" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct conf_admin_key *keys;
	size_t  nkeys;
	bool    metrics_auth;       /* GET /metrics needs an admin key (default false) */
	unsigned max_connections;   /* admin connections at once (default 64): never starves the data plane */
	char  **hosts;              /* Host names accepted besides localhost and the listener's address */
	size_t  nhosts;
	struct tls_server *tls;     /* NULL: plain HTTP; else HTTPS with these certificates (tls.h) */
};

/* "health": {"listen": ...}: liveness/readiness on a listener of its own (health.c), which
 * works with the admin API disabled. */
struct conf_health {
	char   *listen;             /* NULL: no health listener */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* The "store" block: where the registry's state lives (store.h, docs/fleet.md). */
enum conf_store_type {
	CONF_STORE_LOCAL = 1,       /* state_dir's journal (default) */
	CONF_STORE_POSTGRESQL,      /* a PostgreSQL shared by every node of a fleet */
};
enum conf_stale_policy {
	CONF_STALE_REFUSE = 1,      /* private calls answer 503 once the store is stale */
	CONF_STALE_SERVE,           /* served from the last known state (logged, counted) */
};
struct conf_store {
	enum conf_store_type   type;
	char                  *conninfo;        /* libpq conninfo; postgresql only (may hold a password) */
	char                  *key_file;        /* resolved path; postgresql only */
	unsigned               max_staleness_s; /* 0: no cap */
	enum conf_stale_policy stale_policy;
};

#define CONF_AUDIT_RETENTION_DEFAULT 90
#define CONF_AUDIT_RETENTION_MAX     3650

struct conf {
	_Atomic long refs;
	uint64_t generation;        /* increases with each successful load in this process */
	char    *path;              /* the file as given */
	char    *dir;               /* its directory: base of relative paths */

	struct conf_listen *listen;
	size_t   nlisten;
	struct conf_public_url public_url;  /* url NULL: endpoints are derived from "listen" */
	int      workers;           /* >= 1; default: number of CPUs */
	char    *state_dir;         /* resolved */

	struct conf_limits   limits;
	struct conf_timeouts timeouts;
	struct conf_http2    http2;
	unsigned shutdown_timeout_ms;   /* SIGTERM: how long requests in flight may take */

	long     leeway_s;          /* clock skew allowed on exp / nbf */
	bool     forward_token;     /* forward X-Auth-Token upstream (default false) */
	/* forward request fields with '_' in their names (default false: dropped, as nginx does);
	 * even then one that reads as a field fngate sets, strips or frames with is dropped */
	bool     underscores_in_headers;
	size_t   cache_entries;     /* verified-token cache size per worker (0 disables) */

	struct conf_namespace *namespaces;
	size_t   nnamespaces;
	size_t   nfunctions;        /* over all namespaces */
	struct conf_function **functions;   /* by conf_function.index */

	struct conf_admin admin;
	struct conf_health health;
	struct conf_store store;
	unsigned audit_retention_days;  /* "audit": {"retention_days"}: events older are compacted */

	char    *access_log;        /* NULL or "-": stderr; else a file path */
	char    *log_format;        /* "json" (default) or "combined" */
	unsigned access_log_flush_ms;   /* 0: a write per line; else buffered, written at least this often */

	char    *user;              /* NULL: keep the starting user; else switch to it after binding */
	char    *group;             /* NULL: the user's primary group */
	uid_t    uid;               /* resolved at load (getpwnam) when user is set */
	gid_t    gid;

	struct route_table *routes; /* built at load (route.h) */
};

/* One configuration error, reported as file:line:column: message. */
struct conf_error {
	char *file;
	int   line;     /* 1-based; 0 when unknown */
	int   column;   /* 1-based; 0 when unknown */
	char *message;  /* includes the JSON path of the key, e.g. "namespaces[0].functions[1].privacy: ..." */
};

struct conf_errors {
	struct conf_error *v;
	size_t n;
};

/* Identifiers (the id and name of namespaces, functions and admin keys): 1..CONF_ID_MAX bytes of
 * A-Z a-z 0-9 . _ -. They appear in URLs, file names, log lines and metric labels; the admin API
 * checks the ids it is given with the same rule (conf_id_ok). */
#define CONF_ID_MAX 128
bool conf_id_ok(const char *s);

/* Load and validate a configuration file completely: syntax, unknown keys, types, ranges,
 * duplicate ids, routes claimed twice, keys (each PEM parsed and checked against its alg),
 * upstream URLs, listen addresses. Every error found is appended to errs (as many as can be
 * found in one pass). Returns a new snapshot with one reference, or NULL when errs->n > 0. */
struct conf *conf_load(const char *path, struct conf_errors *errs);
/* The same from a JSON text in memory; `path` names it in errors and anchors relative paths. */
struct conf *conf_load_string(const char *text, size_t len, const char *path, struct conf_errors *errs);

/* Print every error as "file:line:column: message" to the stream (a FILE *). */
void conf_errors_print(const struct conf_errors *errs, void *stream);
void conf_errors_free(struct conf_errors *errs);

/* References. conf_unref frees the snapshot (keys, routes, everything) at zero. */
struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c);

/* The published snapshot. conf_acquire returns it with a new reference (NULL before the first
 * publish); conf_publish installs `c` (taking over the caller's reference) and drops the old. */
struct conf *conf_acquire(void);
void conf_publish(struct conf *c);
/* Generation of the published snapshot (0 when none), read without a lock: workers compare it
 * with the snapshot they hold and call conf_acquire only when it changed. */
uint64_t conf_current_generation(void);

/* Lookups on a snapshot; NULL when absent. */
struct conf_namespace *conf_find_namespace(const struct conf *c, const char *id);
struct conf_function *conf_find_function(const struct conf *c, const char *id);

/* A namespace's key by kid; NULL when absent. */
const struct conf_key *conf_find_key(const struct conf_namespace *ns, const char *kid, size_t len);

#endif
