/* tunnel.c - an upgraded exchange (WebSocket and other upgrades) as a byte tunnel: after the
 * upstream's 101, the client's bytes go to the upstream connection (in upstream.c's raw mode)
 * and the upstream's to the client through the front end's exchange_out_ops, each direction
 * with backpressure (a side is not read while the other's output holds EXCHANGE_HIGH_WATER),
 * half-close passed on, an idle timeout (timeouts.tunnel_idle_ms) and a cap on the tunnels open
 * at once (limits.max_tunnels, all workers together). The gate ran before the upgrade was
 * forwarded (exchange_dispatch): a tunnel exists only for a request it allowed. No protocol is
 * known here: HTTP/1.1 hands its connection over (h1out.c, conn.c); HTTP/2 carries an RFC 8441
 * extended CONNECT stream through the same ops (h2.c). */
#include <stdatomic.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "exchange.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

struct tunnel {
	struct exchange *x;
	struct event    *idle;          /* tunnel_idle_ms without a byte either way: the end */
	unsigned         idle_ms;
	uint64_t         last_us;       /* when a byte last moved */
	uint64_t         up_bytes;      /* client -> upstream */
	uint64_t         down_bytes;    /* upstream -> client */
	bool             client_eof;    /* the client ended its direction */
	bool             up_shut;       /* ...and that end was passed on to the upstream */
	bool             up_eof;        /* the upstream ended its direction */
};

/* Upgrades forwarded or tunnels open, all workers together (limits.max_tunnels). */
static _Atomic unsigned tunnel_slots;

int tunnel_reserve(struct exchange *x)
{
	unsigned n = atomic_fetch_add(&tunnel_slots, 1);

	if (n >= x->conf->limits.max_tunnels) {
		atomic_fetch_sub(&tunnel_slots, 1);
		return -1;
	}
	x->tunnel_slot = true;
	return 0;
}

void tunnel_unreserve(struct exchange *x)
{
	if (!x->tunnel_slot)
		return;
	x->tunnel_slot = false;
	atomic_fetch_sub(&tunnel_slots, 1);
}

/* Free the tunnel's state and its upstream connection (when still there), give its slot back.
 * Its bytes stay in x (body_bytes, bytes_out) for the access log. */
void tunnel_cancel(struct exchange *x)
{
	struct tunnel *t = x->tunnel;

	if (t != NULL) {
		metrics_tunnel_close(t->up_bytes, t->down_bytes);
		event_free(t->idle);
		free(t);
		x->tunnel = NULL;
	}
	if (x->up != NULL) {
		upstream_close(x->up);
		x->up = NULL;
	}
	tunnel_unreserve(x);
}

/* The tunnel ends: cleanly (OUT_NONE: both directions ended) or for `why`. The front end
 * closes the client side after sending what is queued. */
static void tunnel_end(struct exchange *x, enum outcome why)
{
	tunnel_cancel(x);
	if (why == OUT_NONE) {
		x->ops->done(x);
	} else {
		x->err = why;
		x->ops->abort(x, why);
	}
}

/* Both directions ended (and the client's end reached the upstream): the tunnel is over. */
static bool tunnel_over(struct exchange *x)
{
	struct tunnel *t = x->tunnel;

	if (!(t->up_eof && t->client_eof && t->up_shut))
		return false;
	tunnel_end(x, OUT_NONE);
	return true;
}

static void tunnel_idle_arm(struct tunnel *t, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(t->idle, &tv);
}

static void tunnel_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;
	uint64_t quiet_ms = (util_mono_us() - t->last_us) / 1000u;

	(void)fd;
	(void)what;
	if (quiet_ms < t->idle_ms) {
		/* Bytes moved since it was armed: wait for what is left of the period. */
		tunnel_idle_arm(t, t->idle_ms - (unsigned)quiet_ms);
		return;
	}
	tunnel_end(t->x, OUT_TUNNEL_IDLE);
}

/* The client's end reaches the upstream once everything the client sent did. */
static void tunnel_pass_client_eof(struct exchange *x)
{
	struct tunnel *t = x->tunnel;

	if (!t->client_eof || t->up_shut ||
	    evbuffer_get_length(bufferevent_get_output(x->up->bev)) > 0)
		return;
	if (!upstream_shutdown(x->up)) {
		/* TLS to the upstream: no half-close; the client is done, so is the tunnel. */
		tunnel_end(x, OUT_NONE);
		return;
	}
	t->up_shut = true;
	tunnel_over(x);
}

/* upstream_ops of a tunnel's upstream connection (raw mode). */
static void tunnel_up_read(struct upconn *u)
{
	struct exchange *x = u->x;
	struct evbuffer *in = bufferevent_get_input(u->bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0 || u->read_paused)
		return;
	x->tunnel->last_us = util_mono_us();
	x->tunnel->down_bytes += n;
	x->ops->body_move(x, in, n);
	x->ops->flush(x);
	/* The client does not take it as fast: stop reading the upstream until it drains
	 * (exchange_out_drained). */
	if (x->ops->congested(x))
		upstream_read_pause(u);
}

static bool tunnel_up_eof(struct upconn *u)
{
	struct exchange *x = u->x;

	x->tunnel->up_eof = true;
	if (!x->ops->shut(x)) {
		tunnel_end(x, OUT_NONE);
		return true;
	}
	tunnel_over(x);
	return true;
}

static void tunnel_up_drained(struct upconn *u)
{
	struct exchange *x = u->x;

	x->ops->body_resume(x);
	tunnel_pass_client_eof(x);
}

static void tunnel_up_failed(struct exchange *x, enum outcome o)
{
	/* upstream.c closed the connection already. */
	x->up = NULL;
	log_msg(LOG_LVL_INFO, "tunnel of request %s: upstream %s", x->request_id, outcome_name(o));
	tunnel_end(x, o);
}

static const struct upstream_ops tunnel_ops = {
	.read = tunnel_up_read,
	.eof = tunnel_up_eof,
	.drained = tunnel_up_drained,
	.failed = tunnel_up_failed,
};

void tunnel_start(struct exchange *x, struct upconn *u)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->idle = evtimer_new(x->w->base, tunnel_idle_cb, t)) == NULL) {
		free(t);
		/* The 101 head is queued: only ending the connection tells the client. */
		tunnel_cancel(x);
		x->err = OUT_OUT_OF_MEMORY;
		x->ops->abort(x, OUT_OUT_OF_MEMORY);
		return;
	}
	t->x = x;
	t->idle_ms = x->fn->timeouts.tunnel_idle_ms;
	t->last_us = util_mono_us();
	x->tunnel = t;
	metrics_tunnel_open();
	upstream_raw(u, &tunnel_ops);
	tunnel_idle_arm(t, t->idle_ms);
	x->ops->tunnel(x);
	/* What the upstream sent right after its head (the first frames) is the tunnel's. */
	tunnel_up_read(u);
}

void tunnel_client_data(struct exchange *x, struct evbuffer *in)
{
	struct tunnel *t = x->tunnel;
	struct evbuffer *out = bufferevent_get_output(x->up->bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	if (t->client_eof || t->up_shut) {
		evbuffer_drain(in, n);
		return;
	}
	t->last_us = util_mono_us();
	t->up_bytes += n;
	x->body_bytes += n;
	evbuffer_remove_buffer(in, out, n);
	upstream_flush(x->up);
	/* A slow upstream stops the client being read (tunnel_up_drained resumes it). */
	if (evbuffer_get_length(out) > EXCHANGE_HIGH_WATER)
		x->ops->body_pause(x);
}

void tunnel_client_eof(struct exchange *x)
{
	x->tunnel->client_eof = true;
	tunnel_pass_client_eof(x);
}
