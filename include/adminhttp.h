/* adminhttp.h - the admin listener's HTTP/1.1 transport: accept under its own connection cap,
 * strict parsing (llhttp, http1.h), deadlines for the head and the body, a body limit checked
 * before buffering, Host checks, and replies that always carry the security headers. The
 * handler (admin.c) sees whole requests and answers each before returning. */
#ifndef FNGATE_ADMINHTTP_H
#define FNGATE_ADMINHTTP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct adminhttp;
struct adminhttp_req;
struct json_t;

enum adminhttp_method {
	ADMINHTTP_GET = 1,
	ADMINHTTP_HEAD,
	ADMINHTTP_POST,
	ADMINHTTP_PATCH,
	ADMINHTTP_DELETE,
	ADMINHTTP_OTHER,        /* a method llhttp knows (PUT, OPTIONS, ...) but the API never takes */
};

/* Called once per complete request; it must call adminhttp_reply() before returning. */
typedef void (*adminhttp_cb)(struct adminhttp_req *r, void *arg);

/* Serve on listening socket fd (non-blocking; owned from now on, also on failure). max_conns:
 * connections at once; past it accept waits. max_head: bytes of a request head, at most the
 * configuration's max_header_bytes (0: that). check_host: refuse (421) a Host that is not a name
 * of this listener (its address, localhost, admin.hosts), against DNS rebinding: on for the
 * admin API, off for the health listener, whose probes name whatever address they reach.
 * admin_tls: HTTPS with the configuration's admin.tls certificates when it has them (read at
 * each accept, so a reload's certificates apply to new connections). NULL on failure (out of
 * memory). */
struct adminhttp *adminhttp_start(struct event_base *base, int fd, unsigned max_conns,
				  size_t max_head, bool check_host, bool admin_tls, adminhttp_cb cb,
				  void *arg);
/* Close the listener and every connection. NULL is fine. */
void adminhttp_stop(struct adminhttp *h);

/* The request. Strings are NUL-terminated and live until the reply. */
enum adminhttp_method adminhttp_method(const struct adminhttp_req *r);
const char *adminhttp_path(const struct adminhttp_req *r);     /* raw (percent-encoded), "/..." */
const char *adminhttp_query(const struct adminhttp_req *r);    /* after '?', or NULL */
/* The value of header `name` (case-insensitive; singleton headers are never repeated), or NULL. */
const char *adminhttp_header(const struct adminhttp_req *r, const char *name);
const char *adminhttp_body(const struct adminhttp_req *r, size_t *len);
const char *adminhttp_peer(const struct adminhttp_req *r);     /* "ip:port", for the log */

/* Add a response header (name and value are constants or short; copied). */
void adminhttp_add_header(struct adminhttp_req *r, const char *name, const char *value);
/* Reply `code` with the JSON body (taken: decref'd here; NULL: empty), Content-Type and
 * Cache-Control: no-store; the serialized text is wiped after use (a creation reply holds a
 * token). Out of memory: 500 with a fixed JSON body. */
void adminhttp_reply_json(struct adminhttp_req *r, int code, struct json_t *body);
/* Send the reply: status line, the security headers, the added headers, Content-Length, and
 * body (drained; NULL: empty; not sent for HEAD). */
void adminhttp_reply(struct adminhttp_req *r, int code, struct evbuffer *body);

#endif
