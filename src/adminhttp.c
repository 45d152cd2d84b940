/* adminhttp.c - the admin listener's HTTP/1.1 transport on llhttp (strict), with the data plane's
 * limits: its own connection cap, a deadline for the whole head and one for the body, the body
 * limit checked before buffering, accept paused on EMFILE, Host checks against DNS rebinding,
 * JSON errors carrying the security headers, and HTTPS with admin.tls. */
#include "adminhttp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "conf.h"
#include "http1.h"
#include "listener.h"
#include "log.h"
#include "exchange.h"
#include "tls.h"
#include "util.h"

#define AH_MAX_HEADERS   64
#define AH_OUT_MAX       1024       /* added response headers */
#define AH_BACKOFF_MIN   100        /* ms; doubles up to AH_BACKOFF_MAX while accept fails */
#define AH_BACKOFF_MAX   2000
#define AH_PAUSE_LOG_US  (60 * 1000000ull)   /* "pausing" lines: at most one a minute */
#define AH_LINGER_MS     2000       /* discarding input after an error, at most this long */
#define AH_LINGER_BYTES  (1024 * 1024)   /* ... and this much */

/* Headers that may appear once: a second one is how a proxy and fngate could disagree on who
 * is calling, which host is meant, or where the body ends. */
static const char *const ah_singletons[] = {
	"Host", "Authorization", "X-Auth-Token", "Content-Length", "Transfer-Encoding",
	"Content-Type", "Expect",
};

struct ah_hdr {
	size_t name, value;         /* offsets into head */
};

struct adminhttp_req {
	struct ah_conn *conn;
	enum adminhttp_method method;
	char   *head;               /* url, then names and values, each NUL-terminated */
	size_t  head_len, head_cap;
	size_t  url;                /* offset of the target */
	char   *query;              /* inside head, or NULL */
	struct ah_hdr hdr[AH_MAX_HEADERS];
	size_t  nhdr;
	bool    value_open;         /* a header's value is being collected (not yet terminated) */
	char   *body;
	size_t  body_len;
	char    out[AH_OUT_MAX];    /* added response headers, "Name: value\r\n"... */
	size_t  out_len;
	bool    replied;
};

enum ah_phase {
	AH_IDLE = 0,                /* between requests: the idle timeout */
	AH_HEAD,                    /* the head deadline runs from its first byte */
	AH_BODY,                    /* the body deadline runs from the end of the head */
	AH_HANDLING,                /* the handler runs (synchronously) */
	AH_WRITING,                 /* a reply is being written; input waits */
	AH_CLOSING,                 /* the last reply is being written, then close */
	AH_LINGER,                  /* after an error: our side shut, unread input discarded */
};

struct ah_conn {
	struct adminhttp      *h;
	struct bufferevent    *bev;
	struct event          *deadline;
	llhttp_t               parser;
	struct http1_scan      scan;
	enum ah_phase          phase;
	struct adminhttp_req   req;
	size_t                 head_bytes;
	size_t                 discarded;      /* AH_LINGER: bytes discarded so far */
	uint64_t               linger_want;    /* ... and the refused body's length, if known */
	const char            *why;            /* a callback's refusal (AH_E_*), for ah_refuse */
	size_t                 max_head;
	unsigned               header_ms, idle_ms;
	char                   peer[INET6_ADDRSTRLEN + 8];
	char                   local[INET6_ADDRSTRLEN + 2];     /* "127.0.0.1" or "[::1]" */
	unsigned               local_port;
	bool                   tls, tls_done;  /* HTTPS; its handshake completed */
	struct ah_conn        *next, *prev;
};

struct adminhttp {
	struct event_base *base;
	int                fd;
	struct event      *accept_ev;
	struct event      *retry_ev;
	unsigned           backoff_ms;
	uint64_t           pause_logged_us;    /* last "pausing" line; at most one a minute */
	unsigned long      pauses;             /* pauses since that line */
	unsigned           nconns, max_conns;
	bool               check_host;         /* adminhttp_start */
	bool               admin_tls;          /* adminhttp_start: HTTPS when admin.tls is set */
	size_t             max_head;           /* 0: limits.max_header_bytes */
	struct ah_conn    *conns;
	adminhttp_cb       cb;
	void              *arg;
};

static const llhttp_settings_t ah_settings;

/* ---------------------------------------------------------------- replies */

void adminhttp_reply_json(struct adminhttp_req *req, int code, json_t *body)
{
	struct evbuffer *b = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	adminhttp_add_header(req, "Content-Type", "application/json");
	adminhttp_add_header(req, "Cache-Control", "no-store");
	if (b != NULL && text != NULL) {
		evbuffer_add(b, text, strlen(text));
		evbuffer_add(b, "\n", 1);
	} else if (b != NULL) {
		code = 500;
		evbuffer_add_printf(b, "{\"error\":\"internal\",\"message\":\"out of memory\"}\n");
	}
	adminhttp_reply(req, code, b);
	if (text != NULL) {
		/* A creation reply holds a token: do not leave it in freed memory. */
		util_wipe(text, strlen(text));
		free(text);
	}
	if (b != NULL)
		evbuffer_free(b);
	json_decref(body);
}

void adminhttp_add_header(struct adminhttp_req *r, const char *name, const char *value)
{
	int n = snprintf(r->out + r->out_len, sizeof(r->out) - r->out_len, "%s: %s\r\n", name, value);

	if (n > 0 && (size_t)n < sizeof(r->out) - r->out_len)
		r->out_len += (size_t)n;
	else
		r->out[r->out_len] = '\0';
}

static void ah_close(struct ah_conn *c);
static void ah_arm(struct ah_conn *c, unsigned ms);

void adminhttp_reply(struct adminhttp_req *r, int code, struct evbuffer *body)
{
	struct ah_conn *c = r->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = body ? evbuffer_get_length(body) : 0;
	/* a handler's reply to a whole request may keep the connection; a transport error
	 * (the input is not framed any more) never does */
	bool keep = c->phase == AH_HANDLING && llhttp_should_keep_alive(&c->parser) != 0;

	if (r->replied)
		return;
	r->replied = true;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
			    "Content-Security-Policy: default-src 'self'; script-src 'self'; "
			    "object-src 'none'; frame-ancestors 'none'\r\n"
			    "X-Frame-Options: DENY\r\n"
			    "X-Content-Type-Options: nosniff\r\n"
			    "Referrer-Policy: no-referrer\r\n"
			    "%.*s"
			    "Content-Length: %zu\r\n"
			    "%s\r\n", code, reply_reason(code), (int)r->out_len, r->out, len,
			    keep ? "" : "Connection: close\r\n");
	if (body != NULL && r->method != ADMINHTTP_HEAD)
		evbuffer_add_buffer(out, body);
	else if (body != NULL)
		evbuffer_drain(body, len);
	c->phase = keep ? AH_WRITING : AH_CLOSING;
	/* no more input until the reply is out: a pipelining client cannot pile up replies */
	bufferevent_disable(c->bev, EV_READ);
	ah_arm(c, c->idle_ms);
}

/* A transport-level error: JSON body, then close (the input is not framed any more). */
static void ah_error(struct ah_conn *c, int code, const char *err, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		ah_close(c);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":\"%s\",\"message\":\"%s\"}\n", err, msg);
	adminhttp_add_header(&c->req, "Content-Type", "application/json");
	adminhttp_add_header(&c->req, "Cache-Control", "no-store");
	c->phase = AH_HEAD;     /* never keep-alive */
	adminhttp_reply(&c->req, code, b);
	evbuffer_free(b);
}

/* ---------------------------------------------------------------- the request */

enum adminhttp_method adminhttp_method(const struct adminhttp_req *r)
{
	return r->method;
}

const char *adminhttp_path(const struct adminhttp_req *r)
{
	return r->head + r->url;
}

const char *adminhttp_query(const struct adminhttp_req *r)
{
	return r->query;
}

const char *adminhttp_header(const struct adminhttp_req *r, const char *name)
{
	for (size_t i = 0; i < r->nhdr; i++) {
		if (strcasecmp(r->head + r->hdr[i].name, name) == 0)
			return r->head + r->hdr[i].value;
	}
	return NULL;
}

const char *adminhttp_body(const struct adminhttp_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body;
}

const char *adminhttp_peer(const struct adminhttp_req *r)
{
	return r->conn->peer;
}

static void ah_req_reset(struct adminhttp_req *r)
{
	struct ah_conn *c = r->conn;

	free(r->head);
	if (r->body != NULL)
		util_wipe(r->body, r->body_len);     /* may hold a token's claims or a key */
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->conn = c;
}

/* Append at..len to the head text (the piece of a URL, name or value being collected). */
static int ah_append(struct adminhttp_req *r, const char *at, size_t len)
{
	if (r->head_len + len + 1 > r->head_cap) {
		size_t cap = r->head_cap ? r->head_cap : 1024;
		char *n;

		while (cap < r->head_len + len + 1)
			cap *= 2;
		if ((n = realloc(r->head, cap)) == NULL)
			return -1;
		r->head = n;
		r->head_cap = cap;
	}
	memcpy(r->head + r->head_len, at, len);
	r->head_len += len;
	r->head[r->head_len] = '\0';
	return 0;
}

/* End the string being collected (NUL, already there) and start the next at the following byte. */
static int ah_terminate(struct adminhttp_req *r)
{
	if (ah_append(r, "", 0) != 0)
		return -1;
	r->head_len++;
	return ah_append(r, "", 0);
}

static struct ah_conn *ah_of(llhttp_t *p)
{
	return p->data;
}

static int ah_on_url(llhttp_t *p, const char *at, size_t len)
{
	return ah_append(&ah_of(p)->req, at, len) == 0 ? 0 : -1;
}

static int ah_on_url_complete(llhttp_t *p)
{
	return ah_terminate(&ah_of(p)->req) == 0 ? 0 : -1;
}

static int ah_on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct adminhttp_req *r = &ah_of(p)->req;

	if (r->nhdr == 0 || r->hdr[r->nhdr - 1].value != 0) {
		if (r->value_open && ah_terminate(r) != 0)
			return -1;
		r->value_open = false;
		if (r->nhdr == AH_MAX_HEADERS) {
			ah_of(p)->why = "too_many_headers";
			return -1;
		}
		r->hdr[r->nhdr].name = r->head_len;
		r->hdr[r->nhdr].value = 0;
		r->nhdr++;
	}
	return ah_append(r, at, len) == 0 ? 0 : -1;
}

static int ah_on_header_field_complete(llhttp_t *p)
{
	struct adminhttp_req *r = &ah_of(p)->req;

	if (ah_terminate(r) != 0)
		return -1;
	r->hdr[r->nhdr - 1].value = r->head_len;
	r->value_open = true;
	return 0;
}

static int ah_on_header_value(llhttp_t *p, const char *at, size_t len)
{
	/* A NUL would cut the value short for every reader after this one (strlen). */
	if (memchr(at, '\0', len) != NULL) {
		ah_of(p)->why = "nul_in_header";
		return -1;
	}
	return ah_append(&ah_of(p)->req, at, len) == 0 ? 0 : -1;
}

static int ah_on_header_value_complete(llhttp_t *p)
{
	struct adminhttp_req *r = &ah_of(p)->req;

	r->value_open = false;
	return ah_terminate(r) == 0 ? 0 : -1;
}

/* The Host value names this listener: its address literal or localhost (either with or without
 * the listener's port), or one of admin.hosts. A page whose own name was rebound to 127.0.0.1
 * sends its own name, which is none of these. */
static bool ah_host_allowed(const struct ah_conn *c, const char *v)
{
	struct conf *cf = conf_acquire();
	size_t n = strlen(v), hl = n;
	const char *colon = v[0] == '[' ? strchr(v, ']') : v;
	bool ok = false;

	colon = colon ? strchr(colon, ':') : NULL;
	if (colon != NULL) {
		char port[8];

		hl = (size_t)(colon - v);
		snprintf(port, sizeof(port), "%u", c->local_port);
		if (strcmp(colon + 1, port) != 0)
			goto done;
	}
	if (util_ieq(v, hl, "localhost") || util_ieq(v, hl, c->local))
		ok = true;
	for (size_t i = 0; !ok && cf != NULL && i < cf->admin.nhosts; i++)
		ok = util_ieq(v, hl, cf->admin.hosts[i]);
done:
	if (cf != NULL)
		conf_unref(cf);
	return ok;
}

static enum adminhttp_method ah_method(uint8_t m)
{
	switch (m) {
	case HTTP_GET:    return ADMINHTTP_GET;
	case HTTP_HEAD:   return ADMINHTTP_HEAD;
	case HTTP_POST:   return ADMINHTTP_POST;
	case HTTP_PATCH:  return ADMINHTTP_PATCH;
	case HTTP_DELETE: return ADMINHTTP_DELETE;
	default:          return ADMINHTTP_OTHER;
	}
}

/* Error codes set by the callbacks, read back in ah_parse. */
#define AH_E_HOST_MISSING  "host_missing"
#define AH_E_HOST_REFUSED  "host_refused"
#define AH_E_DUPLICATE     "duplicate_header"
#define AH_E_TOO_LARGE     "body_too_large"
#define AH_E_BAD_TARGET    "bad_target"

static int ah_on_headers_complete(llhttp_t *p)
{
	struct ah_conn *c = ah_of(p);
	struct adminhttp_req *r = &c->req;
	const char *host;
	char *q;

	r->method = ah_method(llhttp_get_method(p));
	if (r->value_open && ah_terminate(r) != 0)
		return -1;
	r->value_open = false;
	for (size_t i = 0; i < ARRAY_LEN(ah_singletons); i++) {
		size_t seen = 0;

		for (size_t k = 0; k < r->nhdr; k++)
			seen += strcasecmp(r->head + r->hdr[k].name, ah_singletons[i]) == 0;
		if (seen > 1) {
			c->why = AH_E_DUPLICATE;
			return -1;
		}
	}
	if (!http1_target_ok(r->head + r->url, strlen(r->head + r->url), false)) {
		c->why = AH_E_BAD_TARGET;
		return -1;
	}
	if ((q = strchr(r->head + r->url, '?')) != NULL) {
		r->query = q + 1;
		*q = '\0';
	}
	host = adminhttp_header(r, "Host");
	if (host == NULL && (llhttp_get_http_major(p) > 1 || llhttp_get_http_minor(p) >= 1)) {
		c->why = AH_E_HOST_MISSING;
		return -1;
	}
	if (host != NULL && (!http1_host_ok(host, strlen(host)) ||
			     (c->h->check_host && !ah_host_allowed(c, host)))) {
		c->why = AH_E_HOST_REFUSED;
		return -1;
	}
	/* The body limit before any byte of it is buffered. */
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > ADMIN_BODY_MAX) {
		c->why = AH_E_TOO_LARGE;
		return -1;
	}
	c->phase = AH_BODY;
	ah_arm(c, c->header_ms);
	if (p->content_length > 0 || (p->flags & F_CHUNKED)) {
		const char *e = adminhttp_header(r, "Expect");

		if (e != NULL && strcasecmp(e, "100-continue") == 0)
			bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	return 0;
}

static int ah_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct ah_conn *c = ah_of(p);
	struct adminhttp_req *r = &c->req;
	char *n;

	/* chunked bodies are counted as they come */
	if (r->body_len + len > ADMIN_BODY_MAX) {
		c->why = AH_E_TOO_LARGE;
		return -1;
	}
	if ((n = realloc(r->body, r->body_len + len + 1)) == NULL)
		return -1;
	r->body = n;
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static int ah_on_message_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;      /* dispatched by ah_parse, then resumed */
}

static const llhttp_settings_t ah_settings = {
	.on_url = ah_on_url,
	.on_url_complete = ah_on_url_complete,
	.on_header_field = ah_on_header_field,
	.on_header_field_complete = ah_on_header_field_complete,
	.on_header_value = ah_on_header_value,
	.on_header_value_complete = ah_on_header_value_complete,
	.on_headers_complete = ah_on_headers_complete,
	.on_body = ah_on_body,
	.on_message_complete = ah_on_message_complete,
};

/* Whether the request starts with a syntactically valid method token and a space: what llhttp
 * refused as HPE_INVALID_METHOD is then an unknown method (405), else garbage (400). */
static bool ah_method_token(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && http1_tchar((unsigned char)p[i]))
		i++;
	return i > 0 && i < n && p[i] == ' ';
}

/* llhttp's refusal -> status and JSON error. unknown_method: see ah_method_token. */
static void ah_refuse(struct ah_conn *c, llhttp_errno_t e, bool unknown_method)
{
	const char *why = c->why;

	if (why != NULL && strcmp(why, AH_E_TOO_LARGE) == 0) {
		if (c->parser.flags & F_CONTENT_LENGTH)
			c->linger_want = c->parser.content_length;
		ah_error(c, 413, "body_too_large", "the request body is over the admin API's limit");
	} else if (why != NULL && strcmp(why, AH_E_HOST_REFUSED) == 0) {
		ah_error(c, 421, "misdirected_request", "this Host is not a name of the admin "
			 "listener (see admin.hosts)");
	} else if (why != NULL && strcmp(why, AH_E_HOST_MISSING) == 0) {
		ah_error(c, 400, "bad_request", "HTTP/1.1 requires a Host header");
	} else if (why != NULL && strcmp(why, AH_E_DUPLICATE) == 0) {
		ah_error(c, 400, "bad_request", "a header that may appear once is repeated");
	} else if (why != NULL && strcmp(why, "too_many_headers") == 0) {
		ah_error(c, 431, "headers_too_large", "too many header fields");
	} else if (e == HPE_INVALID_METHOD && unknown_method) {
		adminhttp_add_header(&c->req, "Allow", "GET, HEAD, POST, PATCH, DELETE");
		ah_error(c, 405, "method_not_allowed", "unknown method");
	} else {
		ah_error(c, 400, "bad_request", "malformed request");
	}
}

/* Feed the input to the scanner and llhttp; dispatch each complete request. */
static void ah_parse(struct ah_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->phase != AH_WRITING && c->phase != AH_CLOSING && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		enum outcome why = OUT_NONE;
		llhttp_errno_t e;
		size_t n, used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = v.iov_len;
		if (c->phase == AH_IDLE) {
			c->phase = AH_HEAD;
			c->head_bytes = 0;
			ah_arm(c, c->header_ms);     /* for the whole head: not restarted per byte */
		}
		if (c->phase == AH_HEAD) {
			size_t room = c->max_head - c->head_bytes + 1;

			if (n > room)
				n = room;
			if (http1_scan_head(&c->scan, v.iov_base, n, &why) != 0) {
				ah_error(c, 400, "bad_request", outcome_name(why));
				return;
			}
		}
		e = llhttp_execute(&c->parser, v.iov_base, n);
		used = e == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&c->parser) - (char *)v.iov_base);
		if (c->phase == AH_HEAD) {
			c->head_bytes += used;
			if (c->head_bytes > c->max_head) {
				enum outcome o = http1_head_too_large(c->req.nhdr, c->req.head_len);

				ah_error(c, outcome_status(o), outcome_name(o), o == OUT_URI_TOO_LONG ?
					 "the request target is too long" : "the request head is too large");
				return;
			}
		}
		if (e != HPE_OK && e != HPE_PAUSED) {
			bool method = ah_method_token(v.iov_base, n);

			evbuffer_drain(in, used);   /* what follows is the refused body, discarded */
			ah_refuse(c, e, method);
			return;
		}
		evbuffer_drain(in, used);
		if (e == HPE_PAUSED) {
			llhttp_resume(&c->parser);
			c->phase = AH_HANDLING;
			c->h->cb(&c->req, c->h->arg);
			if (!c->req.replied)
				ah_error(c, 500, "internal", "no reply");
		}
	}
}

/* ---------------------------------------------------------------- connections */

static void ah_arm(struct ah_conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_add(c->deadline, &tv);
}

static void ah_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ah_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->phase == AH_HEAD || c->phase == AH_BODY)
		ah_error(c, 408, "timeout", "the request was not complete in time");
	else
		ah_close(c);    /* idle, or a reply the client does not read */
}

/* close_notify, once the handshake is done: a TLS client can then tell a reply ended by the
 * close from a cut one. One non-blocking attempt. */
static void ah_tls_close_notify(struct ah_conn *c)
{
	SSL *ssl;

	if (!c->tls || !c->tls_done || (ssl = bufferevent_openssl_get_ssl(c->bev)) == NULL)
		return;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	c->tls_done = false;    /* not twice */
}

static void ah_read_cb(struct bufferevent *bev, void *arg)
{
	struct ah_conn *c = arg;

	if (c->phase == AH_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);

		c->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->discarded > AH_LINGER_BYTES ||
		    (c->linger_want > 0 && c->discarded >= c->linger_want))
			ah_close(c);
		return;
	}
	ah_parse(c);
}

static void ah_write_cb(struct bufferevent *bev, void *arg)
{
	struct ah_conn *c = arg;

	if (c->phase == AH_CLOSING) {
		/* The client may still be sending what we refused (a body over the limit): closing
		 * with unread input would reset the connection and lose the reply. Discard its
		 * input for a bounded time: a refused body of known length to its end, then close
		 * (a FIN while it still writes makes some clients drop the reply); otherwise shut
		 * our side first (as the data plane does). */
		if (c->linger_want == 0) {
			ah_tls_close_notify(c);
			if (shutdown(bufferevent_getfd(bev), SHUT_WR) == -1) {
				ah_close(c);
				return;
			}
		}
		c->phase = AH_LINGER;
		ah_arm(c, AH_LINGER_MS);
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (c->phase != AH_WRITING)
		return;
	ah_req_reset(&c->req);
	memset(&c->scan, 0, sizeof(c->scan));
	c->phase = AH_IDLE;
	ah_arm(c, c->idle_ms);
	bufferevent_enable(c->bev, EV_READ);
	ah_parse(c);
}

static void ah_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ah_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {   /* the TLS handshake completed */
		c->tls_done = true;
		return;
	}

	/* EOF with a reply still going out: finish it, then close; else nothing can be answered */
	if ((what & BEV_EVENT_EOF) && (c->phase == AH_WRITING || c->phase == AH_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->phase = AH_CLOSING;
		return;
	}
	ah_close(c);
}

static void ah_accept_enable(struct adminhttp *h, bool on)
{
	if (on)
		event_add(h->accept_ev, NULL);
	else
		event_del(h->accept_ev);
}

static void ah_close(struct ah_conn *c)
{
	struct adminhttp *h = c->h;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ah_req_reset(&c->req);
	event_free(c->deadline);
	if (c->phase != AH_LINGER)
		ah_tls_close_notify(c);
	bufferevent_free(c->bev);
	free(c);
	if (h->nconns-- == h->max_conns && !evtimer_pending(h->retry_ev, NULL))
		ah_accept_enable(h, true);
}

static void ah_addr_text(const struct sockaddr_storage *ss, char *host, size_t hl, unsigned *port)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(host, hl, "[%s]", ip);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(host, hl, "%s", ip);
		*port = ntohs(s4->sin_port);
	}
}

static int ah_conn_new(struct adminhttp *h, int fd, const struct sockaddr_storage *peer)
{
	struct ah_conn *c = calloc(1, sizeof(*c));
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	struct conf *cf = conf_acquire();
	char host[INET6_ADDRSTRLEN + 2];
	unsigned port;

	if (c == NULL || cf == NULL)
		goto fail;
	c->h = h;
	c->req.conn = c;
	c->max_head = h->max_head != 0 && h->max_head < cf->limits.max_header_bytes ? h->max_head :
		      cf->limits.max_header_bytes;
	c->header_ms = cf->timeouts.client_header_ms;
	c->idle_ms = cf->timeouts.client_idle_ms;
	ah_addr_text(peer, host, sizeof(host), &port);
	snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == -1)
		goto fail;
	ah_addr_text(&local, c->local, sizeof(c->local), &c->local_port);
	if (h->admin_tls && cf->admin.tls != NULL) {
		/* the current certificates: the SSL keeps a reference, a reload changes only later
		 * connections. The handshake counts against the head's deadline, armed below. */
		SSL *ssl = tls_server_ssl_new(cf->admin.tls, false);

		if (ssl == NULL)
			goto fail;
		/* on failure libevent has freed ssl already (BEV_OPT_CLOSE_ON_FREE), not the fd */
		c->bev = bufferevent_openssl_socket_new(h->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		c->tls = true;
	} else {
		c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	conf_unref(cf);
	cf = NULL;
	if (c->bev == NULL)
		goto fail;
	fd = -1;
	c->deadline = evtimer_new(h->base, ah_deadline_cb, c);
	if (c->deadline == NULL)
		goto fail;
	llhttp_init(&c->parser, HTTP_REQUEST, &ah_settings);
	c->parser.data = c;
	bufferevent_setcb(c->bev, ah_read_cb, ah_write_cb, ah_event_cb, c);
	/* reads stop while a head or body piece waits: input stays within one read's worth */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 16 * 1024);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		goto fail;
	c->phase = AH_HEAD;
	ah_arm(c, c->header_ms);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	if (++h->nconns == h->max_conns)
		ah_accept_enable(h, false);
	return 0;
fail:
	if (cf != NULL)
		conf_unref(cf);
	if (c != NULL) {
		if (c->deadline != NULL)
			event_free(c->deadline);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		free(c);
	}
	if (fd != -1)
		close(fd);
	return -1;
}

static void ah_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct adminhttp *h = arg;

	(void)fd;
	(void)what;
	if (h->nconns < h->max_conns)
		ah_accept_enable(h, true);
}

static void ah_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct adminhttp *h = arg;

	(void)what;
	/* a few per wake-up: the admin plane never holds up the loop */
	for (int i = 0; i < 16 && h->nconns < h->max_conns; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			int e = errno;
			struct timeval tv;

			if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED)
				return;
			if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
				return;
			/* Out of descriptors: stop accepting (the pending connection would wake us at
			 * once, a busy loop) and retry later, with one log line per episode. */
			listener_fd_limit_refresh();
			if (h->pause_logged_us == 0 ||
			    util_mono_us() - h->pause_logged_us >= AH_PAUSE_LOG_US) {
				log_msg(LOG_LVL_WARN, "admin: accept: %s; pausing the admin accept "
					"(retried with backoff up to %d ms; %lu pauses since the last "
					"line)", strerror(e), AH_BACKOFF_MAX, h->pauses);
				h->pause_logged_us = util_mono_us();
				h->pauses = 0;
			}
			h->pauses++;
			h->backoff_ms = h->backoff_ms ? h->backoff_ms * 2 : AH_BACKOFF_MIN;
			if (h->backoff_ms > AH_BACKOFF_MAX)
				h->backoff_ms = AH_BACKOFF_MAX;
			tv.tv_sec = h->backoff_ms / 1000;
			tv.tv_usec = (h->backoff_ms % 1000) * 1000;
			ah_accept_enable(h, false);
			evtimer_add(h->retry_ev, &tv);
			return;
		}
		h->backoff_ms = 0;
		ah_conn_new(h, fd, &ss);
	}
}

struct adminhttp *adminhttp_start(struct event_base *base, int fd, unsigned max_conns,
				  size_t max_head, bool check_host, bool admin_tls, adminhttp_cb cb,
				  void *arg)
{
	struct adminhttp *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		close(fd);
		return NULL;
	}
	h->base = base;
	h->fd = fd;
	h->max_conns = max_conns ? max_conns : 1;
	h->check_host = check_host;
	h->admin_tls = admin_tls;
	h->max_head = max_head;
	h->cb = cb;
	h->arg = arg;
	h->accept_ev = event_new(base, fd, EV_READ | EV_PERSIST, ah_accept_cb, h);
	h->retry_ev = evtimer_new(base, ah_retry_cb, h);
	if (h->accept_ev == NULL || h->retry_ev == NULL || event_add(h->accept_ev, NULL) != 0) {
		adminhttp_stop(h);
		return NULL;
	}
	return h;
}

void adminhttp_stop(struct adminhttp *h)
{
	if (h == NULL)
		return;
	while (h->conns != NULL)
		ah_close(h->conns);
	if (h->accept_ev != NULL)
		event_free(h->accept_ev);
	if (h->retry_ev != NULL)
		event_free(h->retry_ev);
	close(h->fd);
	free(h);
}
