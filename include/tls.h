/* tls.h - TLS with OpenSSL 3: certificate sets for TLS listeners (chosen by SNI, ALPN http/1.1,
 * session tickets under rotating keys shared by every worker) and verifying client contexts for
 * https upstreams (CA store or bundle, SNI, host name check, optional client certificate).
 *
 * No event loop here: conf.c builds these objects while it loads a configuration (so a reload
 * reads certificates again and `fngate check` refuses bad ones), and the data plane (conn.c,
 * upstream.c) wraps the SSL objects made here in libevent bufferevents. Both objects are
 * refcounted and immutable once built: the configuration snapshot holds one reference, every
 * SSL made from them holds another until SSL_free, so a connection keeps the certificates it
 * started with across reloads. */
#ifndef FNGATE_TLS_H
#define FNGATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct tls_server;
struct tls_client;

/* How often the session-ticket key changes; the previous key still decrypts (and the ticket is
 * then renewed), so a ticket stays usable between one and two periods. */
#define TLS_TICKET_ROTATE_S     3600
#define TLS_MAX_CERTIFICATES    256     /* per listener */

/* Which file of a pair an error is about, for conf.c to point at the right key. */
enum tls_file {
	TLS_FILE_NONE = 0,
	TLS_FILE_CERT,
	TLS_FILE_KEY,
	TLS_FILE_CA,
};

/* "TLS1.2" / "TLS1.3" -> TLS1_2_VERSION / TLS1_3_VERSION; 0 for anything else (1.0 and 1.1
 * are never accepted). */
int tls_version_from_name(const char *name);

/* A listener's certificate set, empty, accepting versions >= min_version. NULL with a message. */
struct tls_server *tls_server_new(int min_version, char *err, size_t errlen);
/* Add a certificate (PEM, leaf first, then its chain) and its private key. The first one added is
 * the default, served when SNI names no other. Refused, with a message naming the file and
 * *which set to the file at fault: an unreadable or missing file, not PEM, an encrypted key,
 * a key that does not match, a certificate expired or not yet valid. 0 / -1. */
int tls_server_add(struct tls_server *s, const char *cert, const char *key, char *err,
		   size_t errlen, enum tls_file *which);
/* The names (SAN DNS names, else the subject CN) of certificate i; NULL past the end. */
const char *const *tls_server_names(const struct tls_server *s, size_t i, size_t *n);
size_t tls_server_count(const struct tls_server *s);

/* Drop a reference (atomic: snapshots are dropped on any thread); frees at zero. The SSLs
 * made by tls_server_ssl_new hold one each. */
void tls_server_unref(struct tls_server *s);

/* A new SSL in server mode for one accepted connection; it holds a reference on s until it
 * is freed. `h2`: ALPN may choose HTTP/2 (preferred when the client offers it). NULL on
 * allocation failure. */
SSL *tls_server_ssl_new(struct tls_server *s, bool h2);
/* The handshake chose HTTP/2 by ALPN. */
bool tls_alpn_h2(const SSL *ssl);

/* A client context for https upstreams. ca: a PEM bundle, or NULL for the system store.
 * cert/key: a client certificate for mTLS, or both NULL. NULL with a message and *which. */
struct tls_client *tls_client_new(const char *ca, const char *cert, const char *key, char *err,
				  size_t errlen, enum tls_file *which);
struct tls_client *tls_client_ref(struct tls_client *c);
void tls_client_unref(struct tls_client *c);
/* What distinguishes connections made with c from others to the same endpoint: "system" (the
 * system CA store, no client certificate), else 16 hex digits derived from the CA and client
 * certificate paths. Part of the keep-alive pool key. */
const char *tls_client_id(const struct tls_client *c);
/* A new SSL in client mode for `host`: SNI set (unless host is an IP literal) and the peer
 * certificate verified against the trust store and host (DNS name or IP address); ALPN offers
 * http/1.1, or h2 alone when `h2` (an HTTP/2 upstream). NULL on allocation failure. */
SSL *tls_client_ssl_new(struct tls_client *c, const char *host, bool h2);

/* Why a handshake failed, for the log: the certificate verification result when it failed,
 * else the OpenSSL error `e` (0: none known). */
void tls_failure_reason(SSL *ssl, unsigned long e, char *buf, size_t len);

/* Session-ticket keys: rotate when the current key is TLS_TICKET_ROTATE_S old at `now` (seconds;
 * util_now()). Called by the ticket callback on every ticket issued, and by tests. 1 when a
 * new key was made, 0 when not due, -1 on failure. */
int tls_tickets_rotate(int64_t now);
/* Force a rotation now (tests). 0 / -1. */
int tls_tickets_rotate_now(void);
/* Wipe the ticket keys (process exit). */
void tls_shutdown(void);

/* Handshake counters, all workers together (for metrics). */
struct tls_stats {
	uint64_t handshakes;        /* completed, server side */
	uint64_t resumed;           /* of which resumed from a ticket */
	uint64_t failures;          /* server-side handshakes that failed or timed out */
	uint64_t upstream_failures; /* upstream handshakes that failed (verification included) */
};
/* Record a server-side handshake outcome (ssl may be NULL on failure). */
void tls_note_handshake(SSL *ssl, bool ok);
void tls_note_upstream_failure(void);
void tls_stats_get(struct tls_stats *out);

#endif
