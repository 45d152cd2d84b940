/* admin.h - the admin API: its own listener (adminhttp.h), JSON, on the main thread's event loop.
 * It also serves the web console (static files) at "/" and GET /healthz without a key. */
#ifndef FNGATE_ADMIN_H
#define FNGATE_ADMIN_H

#include <stddef.h>

struct event_base;
struct registry;
struct admin;
struct signkeys;
struct conf_admin;
struct conf_admin_key;

/* Start the admin API on the current configuration's admin.listen (conf_acquire() is consulted
 * per request, so a reload takes effect at once; a new listen address needs a restart). It also
 * schedules the flush of last-use times (registry_flush) every ADMIN_FLUSH_MS on `base`.
 * Tokens are minted with `keys` (the daemon's, which a reload updates in place). Returns NULL
 * with a message in err on failure, or when the admin listener is disabled (then err is ""). */
struct admin *admin_start(struct event_base *base, struct registry *reg, struct signkeys *keys,
			  char *err, size_t errlen);
/* Close the listener, flush last-use times one last time, free. NULL is fine. */
void admin_stop(struct admin *a);

#define ADMIN_FLUSH_MS   2000           /* last_used_at reaches the disk at most this late */
#define ADMIN_BODY_MAX   (64u * 1024)   /* request bodies; over it -> 413 */
#define ADMIN_KEY_MAX    256            /* bytes of a presented admin key */

/* The configured key whose SHA-256 equals SHA-256(key): hashes are compared in constant time
 * against every configured key (no early exit). NULL when none matches (-> 401). */
const struct conf_admin_key *admin_authenticate(const struct conf_admin *adm, const char *key,
						size_t len);

/* May key k do `perm` (ADMIN_PERM_*, 0 = any authenticated key) on namespace ns_id? ns_id NULL
 * means "not bound to one namespace": only keys without a namespace restriction may.
 * Returns 0 (allowed) or -1 (-> 403). */
int admin_authorize(const struct conf_admin_key *k, unsigned perm, const char *ns_id);

struct conf;
struct conf_function;

/* The URL callers use for fn under configuration c, written to buf (NUL-terminated): the one
 * place that computes it, for the admin API's "endpoint" and so for the console and the CLI.
 * scheme://authority + base path + (fn's path_prefix, or "/"), where, with a "public_url" (fn's
 * namespace's, else the top-level one), scheme, port and base path are its own and the host is
 * fn's first exact (non-wildcard) host, else the public_url's. Without one, the scheme is
 * https for c's first TLS listener, else http for its first listener, the port that listener's,
 * the host fn's first exact host, else the listener's address (a wildcard one, "*", 0.0.0.0 or
 * [::], shown as the loopback address of its family). A scheme's default port is omitted.
 * Returns 0, or -1 when there is none (fn is routed by wildcard hosts only, or c listens
 * nowhere) or it does not fit in len. */
int admin_function_endpoint(const struct conf *c, const struct conf_function *fn, char *buf,
			    size_t len);

#endif
