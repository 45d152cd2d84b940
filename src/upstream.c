/* upstream.c - connections to function endpoints: a keep-alive pool per endpoint and worker,
 * round robin across a function's endpoints, refusing endpoints skipped for a while, and the
 * lifecycle of a connection carrying a request: its events (a plain connection is read by its
 * own read event, up_rev_cb), connect timeout, mark-down, retry and failure. Its user
 * (response.c, tunnel.c) is reached only through struct upstream_ops. */
#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "bevio.h"
#include "conf.h"
#include "log.h"
#include "exchange.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define POOL_BUCKETS 64

struct upstream_pool {
	char                 *key;          /* "addr:port", "name:port@addr:port", "https://..." (conf.h) */
	struct sockaddr_storage addr;
	socklen_t             addrlen;
	struct tls_client    *tls;          /* https: the client context of the newest configuration */
	char                 *host;         /* https: SNI and the name the certificate must carry */
	TAILQ_HEAD(, upconn)  idle;
	unsigned              nidle;
	uint64_t              down_until_us;
	struct upstream_pool *next;
};

static uint32_t hash_str(const char *s)
{
	return util_fnv32(UTIL_FNV32_INIT, s, strlen(s));
}

static const char *ep_key(const struct conf_upstream *ep)
{
	return ep->pool_key != NULL ? ep->pool_key : ep->hostport;
}

static struct upstream_pool *pool_get(struct worker *w, const struct conf_upstream *ep)
{
	const char *key = ep_key(ep);
	uint32_t b;
	struct upstream_pool *p;

	if (w->pools == NULL) {
		w->pools = calloc(POOL_BUCKETS, sizeof(*w->pools));
		if (w->pools == NULL)
			return NULL;
		w->npools_buckets = POOL_BUCKETS;
	}
	b = hash_str(key) % w->npools_buckets;
	for (p = w->pools[b]; p != NULL; p = p->next) {
		if (strcmp(p->key, key) == 0) {
			/* The address is part of the key (conf.h); a reload may have read a new CA
			 * bundle or client certificate: new connections use it. */
			if (p->tls != ep->tls_client) {
				tls_client_unref(p->tls);
				p->tls = tls_client_ref(ep->tls_client);
			}
			return p;
		}
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->key = strdup(key)) == NULL ||
	    (ep->tls && (p->host = strdup(ep->host)) == NULL)) {
		if (p != NULL)
			free(p->key);
		free(p);
		return NULL;
	}
	p->tls = tls_client_ref(ep->tls_client);
	memcpy(&p->addr, &ep->addr, ep->addrlen);
	p->addrlen = ep->addrlen;
	TAILQ_INIT(&p->idle);
	p->next = w->pools[b];
	w->pools[b] = p;
	return p;
}


void upstream_close(struct upconn *u)
{
	if (u == NULL)
		return;
	if (u->in_pool) {
		TAILQ_REMOVE(&u->pool->idle, u, entry);
		u->pool->nidle--;
		u->in_pool = false;
	}
	if (u->rev != NULL)
		event_free(u->rev);
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	free(u->hdrbuf);
	free(u->retry_head);
	free(u);
}

bool upstream_tls_failed_bev(struct bufferevent *bev, bool connected, const char *key)
{
	unsigned long e, first = 0;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	char why[256];

	if (ssl == NULL)
		return false;
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0)
			first = e;
	/* No TLS error and no verification result: the TCP connection itself failed. Before
	 * the connection was made, a lone socket errno that libevent recorded (library 0) is a
	 * refused connect too; after it, such an entry may come with the server's refusal (a
	 * TLS 1.3 server judging our certificate after the handshake), which is a TLS failure. */
	if ((first == 0 || (!connected && ERR_GET_LIB(first) == 0)) &&
	    SSL_get_verify_result(ssl) == X509_V_OK)
		return false;
	tls_failure_reason(ssl, first, why, sizeof(why));
	log_msg(LOG_LVL_WARN, "upstream %s: TLS handshake failed: %s", key, why);
	tls_note_upstream_failure();
	return true;
}

/* u failed: true when that was its TLS handshake (upstream_tls_failed_bev). */
static bool upstream_tls_failed(struct upconn *u)
{
	return u->pool->tls != NULL && u->bev != NULL &&
	       upstream_tls_failed_bev(u->bev, u->connected, u->pool->key);
}

/* Mark u's endpoint (one address of an upstream) down for UPSTREAM_DOWN_MS: its connect was
 * refused, failed or timed out (`why`, logged with the address when the mark is new). */
static void upstream_mark_down(struct upconn *u, const char *why)
{
	uint64_t now = util_mono_us();

	/* One line per address and worker each time it goes down, not one per failed request. */
	if (u->pool->down_until_us <= now)
		log_msg(LOG_LVL_WARN, "upstream %s: %s: marked down for %d ms", u->pool->key, why,
			UPSTREAM_DOWN_MS);
	u->pool->down_until_us = now + (uint64_t)UPSTREAM_DOWN_MS * 1000u;
}

/* Idle in the pool: anything the upstream sends now (data, EOF) means it is no longer usable. */
static void idle_read_cb(struct bufferevent *bev, void *arg)
{
	struct upconn *u = arg;

	(void)bev;
	upstream_close(u);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct upconn *u = arg;

	(void)bev;
	(void)what;
	upstream_close(u);
}

static void up_rev_cb(evutil_socket_t fd, short what, void *arg);

/* errno values that say fngate itself is short of something (descriptors, memory, local
 * ports), not that the endpoint is unusable: such a failure must not mark the endpoint down. */
static bool local_errno(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EADDRNOTAVAIL;
}

struct bufferevent *upstream_connect(struct event_base *base, const struct sockaddr *addr,
				     socklen_t addrlen, struct tls_client *tls, const char *host,
				     bool h2, int *local_err)
{
	struct bufferevent *bev;
	int fd, e, one = 1;

	*local_err = 0;
	/* The socket is created here rather than by libevent so that its errno is ours to read. */
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		*local_err = local_errno(e) ? e : 0;
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls != NULL) {
		/* https: the handshake runs once the socket connects; BEV_EVENT_CONNECTED comes
		 * after it, so the connect timeout bounds both. */
		SSL *ssl = tls_client_ssl_new(tls, host, h2);

		/* On failure libevent frees ssl itself (BEV_OPT_CLOSE_ON_FREE). */
		bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev != NULL) {
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
			/* Handed over only now: on a failed creation the descriptor is still ours. */
			bufferevent_setfd(bev, fd);
		}
	} else {
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL) {
		close(fd);
		*local_err = ENOMEM;
		return NULL;
	}
	errno = 0;
	if (bufferevent_socket_connect(bev, addr, (int)addrlen) != 0) {
		/* Immediate failure: no route (the endpoint's) or no local port (ours). */
		e = errno;
		*local_err = local_errno(e) ? e : 0;
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

/* A new connection to p, connecting. NULL on failure, with *local_err set to the errno when the
 * cause is local (local_errno), 0 when it is the endpoint's. */
static struct upconn *upconn_new(struct worker *w, struct upstream_pool *p, int *local_err)
{
	struct upconn *u = calloc(1, sizeof(*u));

	*local_err = 0;
	if (u == NULL) {
		*local_err = ENOMEM;
		return NULL;
	}
	u->w = w;
	u->pool = p;
	u->bev = upstream_connect(w->base, (const struct sockaddr *)&p->addr, p->addrlen, p->tls,
				  p->host, false, local_err);
	if (u->bev == NULL) {
		free(u);
		return NULL;
	}
	if (p->tls == NULL) {
		/* Plain: fngate reads the socket itself (up_rev_cb). */
		u->direct_io = true;
		u->rev = event_new(w->base, bufferevent_getfd(u->bev), EV_READ | EV_PERSIST,
				   up_rev_cb, u);
		if (u->rev == NULL) {
			bufferevent_free(u->bev);   /* closes the socket */
			free(u);
			*local_err = ENOMEM;
			return NULL;
		}
	}
	return u;
}

struct upconn *upstream_get(struct worker *w, const struct conf_function *fn, int skip,
			    int *local_err)
{
	size_t n = fn->nupstreams;
	uint64_t now = util_mono_us();
	size_t start;

	*local_err = 0;
	if (n == 0)
		return NULL;
	start = (size_t)(w->rr++ % n);
	/* First pass honours "down" marks; if every endpoint is marked, try them anyway rather
	 * than fail while one may have come back. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			size_t idx = (start + i) % n;
			struct upstream_pool *p;
			struct upconn *u;

			if ((int)idx == skip && n > 1)
				continue;
			p = pool_get(w, &fn->upstreams[idx]);
			if (p == NULL) {
				*local_err = ENOMEM;
				return NULL;
			}
			if (pass == 0 && p->down_until_us > now)
				continue;
			while ((u = TAILQ_FIRST(&p->idle)) != NULL) {
				TAILQ_REMOVE(&p->idle, u, entry);
				u->in_pool = false;
				p->nidle--;
				u->reused = true;
				u->ep = (int)idx;
				return u;
			}
			u = upconn_new(w, p, local_err);
			if (u != NULL) {
				u->ep = (int)idx;
				return u;
			}
			/* Short of descriptors or memory ourselves: another endpoint would fail the
			 * same way, and this one did nothing wrong. */
			if (*local_err != 0)
				return NULL;
			p->down_until_us = now + (uint64_t)UPSTREAM_DOWN_MS * 1000u;
		}
	}
	return NULL;
}

void upstream_fail(struct upconn *u, enum outcome o)
{
	struct exchange *x = u->x;
	const struct upstream_ops *ops = u->ops;

	u->x = NULL;
	upstream_close(u);
	if (x != NULL)
		ops->failed(x, o);
}

/* Try the request again on a fresh connection: only when nothing of it can have been
 * processed (connect failed), or a reused connection died before answering a bodiless request. */
static bool upstream_retry(struct upconn *u, bool connect_failed)
{
	struct upconn *v;
	int local_err;

	if (u->x == NULL || u->resp_started || u->attempts >= 3)
		return false;
	if (!connect_failed && (!u->reused || u->req_body || u->retry_len == 0))
		return false;
	v = upstream_get(u->w, u->fn, connect_failed ? u->ep : -1, &local_err);
	if (v == NULL)
		return false;
	if (connect_failed) {
		/* Nothing was written: move everything queued (head and body so far). */
		evbuffer_add_buffer(bufferevent_get_output(v->bev), bufferevent_get_output(u->bev));
	} else {
		evbuffer_add(bufferevent_get_output(v->bev), u->retry_head, u->retry_len);
	}
	/* v is new: hand it u's buffer (v has none yet). */
	free(v->retry_head);
	v->retry_head = u->retry_head;
	v->retry_len = u->retry_len;
	v->retry_cap = u->retry_cap;
	u->retry_head = NULL;
	u->retry_cap = 0;
	v->x = u->x;
	v->fn = u->fn;
	v->head_request = u->head_request;
	v->upgrade = u->upgrade;
	v->req_body = u->req_body;
	v->req_sent = u->req_sent;
	v->sent_us = u->sent_us;
	v->attempts = u->attempts + 1;
	u->x = NULL;
	upstream_start(v, u->ops);
	upstream_close(u);
	/* v may be a connected pooled connection, which upstream_start leaves to direct writes:
	 * without this the moved request would wait in v's buffer until the response timeout. */
	upstream_flush(v);
	return true;
}

/* Watch a plain connection for reading: with the function's response timeout while it carries
 * a request, none in a tunnel (it has its own), the pool's idle timeout while idle. */
static void up_read_arm(struct upconn *u)
{
	unsigned ms = u->in_pool ? UPSTREAM_IDLE_MS :
		      u->raw ? 0 : u->fn->timeouts.upstream_response_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_add(u->rev, ms > 0 ? &tv : NULL);
}

static void up_event(struct upconn *u, short what);

/* A plain connection is readable (or its read timed out): read it into the bufferevent's input,
 * where its user reads, and report the end, an error or the timeout as the bufferevent would. */
static void up_rev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *u = arg;
	struct evbuffer *in = bufferevent_get_input(u->bev);
	ssize_t n;

	if (u->in_pool) {
		/* Idle: data, the end or the idle timeout all make it unusable. */
		upstream_close(u);
		return;
	}
	if (what & EV_TIMEOUT) {
		up_event(u, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
		return;
	}
	if (u->read_resumed) {
		u->read_resumed = false;
		if (evbuffer_get_length(in) > 0) {
			u->ops->read(u);
			return;
		}
	}
	n = bev_input_readv(in, fd, UPSTREAM_READ_SIZE);
	if (n > 0) {
		u->ops->read(u);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	/* The end or an error stays readable: stop watching, as the bufferevent does. */
	event_del(u->rev);
	if (n < 0 && errno == ENOMEM) {
		upstream_fail(u, OUT_OUT_OF_MEMORY);
		return;
	}
	up_event(u, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

static void up_read_cb(struct bufferevent *bev, void *arg)
{
	struct upconn *u = arg;

	(void)bev;
	u->ops->read(u);
}

static void up_write_cb(struct bufferevent *bev, void *arg)
{
	struct upconn *u = arg;

	(void)bev;
	if (u->connected && u->direct_io &&
	    evbuffer_get_length(bufferevent_get_output(u->bev)) == 0)
		bufferevent_disable(u->bev, EV_WRITE);
	if (u->x != NULL)
		u->ops->drained(u);
}

/* What happened to u: its connect completed or failed, a timeout, the end, an error. */
static void up_event(struct upconn *u, short what)
{
	if (what & BEV_EVENT_CONNECTED) {
		const struct conf_timeouts *t = &u->fn->timeouts;
		struct timeval tv = {t->upstream_response_ms / 1000,
				     (t->upstream_response_ms % 1000) * 1000};

		u->connected = true;
		if (u->x == NULL)
			return;
		if (u->direct_io) {
			bufferevent_set_timeouts(u->bev, NULL, &tv);
			if (!u->read_paused)
				up_read_arm(u);
		} else {
			bufferevent_set_timeouts(u->bev, &tv, &tv);
		}
		return;
	}
	if (u->x == NULL) {
		upstream_close(u);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (!u->connected) {
			upstream_mark_down(u, "connect timed out");
			if (!upstream_retry(u, true))
				upstream_fail(u, OUT_UPSTREAM_CONNECT_TIMEOUT);
		} else {
			upstream_fail(u, OUT_UPSTREAM_TIMEOUT);
		}
		return;
	}
	if (!u->connected && !u->reused) {
		/* An https endpoint that fails verification is as unusable as one that refuses. */
		int err = EVUTIL_SOCKET_ERROR();
		bool tls_failed = upstream_tls_failed(u);

		upstream_mark_down(u, tls_failed ? "TLS handshake failed" :
				      err != 0 ? strerror(err) : "connection failed");
		if (!upstream_retry(u, true))
			upstream_fail(u, tls_failed ? OUT_UPSTREAM_TLS_FAILED : OUT_UPSTREAM_UNAVAILABLE);
		return;
	}
	if ((what & BEV_EVENT_EOF) && u->resp_started && u->ops->eof(u))
		return;
	if (upstream_retry(u, false))
		return;
	/* TLS 1.3 servers judge a client certificate after our handshake finished: their refusal
	 * arrives as an alert instead of a response. */
	upstream_fail(u, u->resp_started ? OUT_UPSTREAM_CLOSED_MID_RESPONSE :
			 upstream_tls_failed(u) ? OUT_UPSTREAM_TLS_FAILED : OUT_UPSTREAM_CLOSED);
}

static void up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	up_event(arg, what);
}

void upstream_start(struct upconn *u, const struct upstream_ops *ops)
{
	const struct conf_timeouts *t = &u->fn->timeouts;
	struct timeval rd = {t->upstream_response_ms / 1000, (t->upstream_response_ms % 1000) * 1000};
	struct timeval wr;
	unsigned wms = u->reused || u->connected ? t->upstream_response_ms : t->upstream_connect_ms;

	wr.tv_sec = wms / 1000;
	wr.tv_usec = (wms % 1000) * 1000;
	u->ops = ops;
	u->resp_started = false;
	u->resp_done = false;
	u->final_seen = false;
	u->read_paused = false;
	u->read_resumed = false;
	ops->begin(u);
	bufferevent_setcb(u->bev, up_read_cb, up_write_cb, up_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, EXCHANGE_HIGH_WATER / 2, 0);
	if (!u->direct_io) {
		bufferevent_set_timeouts(u->bev, &rd, &wr);
		bufferevent_enable(u->bev, EV_READ | EV_WRITE);
		return;
	}
	/* Plain: the bufferevent only writes (and connects: its write event completes the connect),
	 * and only when the socket does not take what upstream_flush writes directly; fngate reads
	 * (up_rev_cb) once connected. */
	bufferevent_set_timeouts(u->bev, NULL, &wr);
	if (!u->connected)
		bufferevent_enable(u->bev, EV_WRITE);
	else
		up_read_arm(u);
}

void upstream_flush(struct upconn *u)
{
	if (evbuffer_get_length(bufferevent_get_output(u->bev)) == 0)
		return;
	if (u->connected && u->direct_io && bev_write_now(u->bev))
		return;
	bufferevent_enable(u->bev, EV_WRITE);
}

void upstream_read_pause(struct upconn *u)
{
	u->read_paused = true;
	if (u->direct_io)
		event_del(u->rev);
	else
		bufferevent_disable(u->bev, EV_READ);
}

void upstream_read_resume(struct upconn *u)
{
	if (!u->read_paused)
		return;
	u->read_paused = false;
	if (!u->direct_io) {
		bufferevent_enable(u->bev, EV_READ);
		bufferevent_trigger(u->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	if (!u->connected)
		return;     /* reading starts at the connect (up_event) */
	/* What waits in the input is relayed at the next loop turn, as the bufferevent's
	 * deferred trigger did; the socket is read after it. */
	up_read_arm(u);
	u->read_resumed = true;
	event_active(u->rev, EV_READ, 0);
}

void upstream_raw(struct upconn *u, const struct upstream_ops *ops)
{
	u->ops = ops;
	u->raw = true;
	bufferevent_set_timeouts(u->bev, NULL, NULL);
	if (u->direct_io && !u->read_paused)
		up_read_arm(u);
}

bool upstream_shutdown(struct upconn *u)
{
	if (!u->direct_io)
		return false;
	(void)shutdown(bufferevent_getfd(u->bev), SHUT_WR);
	return true;
}

void upstream_release(struct upconn *u)
{
	struct upstream_pool *p = u->pool;
	struct timeval idle = {UPSTREAM_IDLE_MS / 1000, (UPSTREAM_IDLE_MS % 1000) * 1000};

	u->x = NULL;
	if (p->nidle >= u->fn->limits.upstream_keepalive || atomic_load(&u->w->draining)) {
		upstream_close(u);
		return;
	}
	u->retry_len = 0;
	u->resp_started = false;
	u->req_sent = false;
	u->attempts = 0;
	u->ops = NULL;
	u->fn = NULL;
	bufferevent_setcb(u->bev, idle_read_cb, NULL, idle_event_cb, u);
	/* Most recently used first: the warmest connection is reused, cold ones time out. */
	TAILQ_INSERT_HEAD(&p->idle, u, entry);
	u->in_pool = true;
	p->nidle++;
	if (u->direct_io) {
		u->read_paused = false;
		up_read_arm(u);
	} else {
		bufferevent_set_timeouts(u->bev, &idle, NULL);
		bufferevent_enable(u->bev, EV_READ);
	}
}

void upstream_pools_free(struct worker *w)
{
	if (w->pools == NULL)
		return;
	for (size_t b = 0; b < w->npools_buckets; b++) {
		struct upstream_pool *p = w->pools[b];

		while (p != NULL) {
			struct upstream_pool *next = p->next;
			struct upconn *u;

			while ((u = TAILQ_FIRST(&p->idle)) != NULL)
				upstream_close(u);
			tls_client_unref(p->tls);
			free(p->host);
			free(p->key);
			free(p);
			p = next;
		}
	}
	free(w->pools);
	w->pools = NULL;
}

void upstream_pools_foreach(struct worker *w, void (*fn)(const char *key, unsigned nidle, void *arg),
			    void *arg)
{
	if (w == NULL || w->pools == NULL)
		return;
	for (size_t b = 0; b < w->npools_buckets; b++)
		for (struct upstream_pool *p = w->pools[b]; p != NULL; p = p->next)
			fn(p->key, p->nidle, arg);
}
