/* forward.c - the upstream request, built from the protocol-neutral exchange (exchange.h): target
 * rewritten under the function's base path, header hygiene (hop-by-hop and spoofable headers
 * removed, identity and X-Forwarded-* added), and the request body the front end pushes relayed
 * with normalised framing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "apikey.h"
#include "conf.h"
#include "h2up.h"
#include "headers.h"
#include "listener.h"
#include "metrics.h"
#include "exchange.h"
#include "http1.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

struct hbuf {
	char  *p;
	size_t len;
	size_t cap;
	bool   oom;
};

/* Room for n more bytes in b: true, or false (b->oom) when out of memory. */
static bool hb_reserve(struct hbuf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 512;
		char *np;

		while (ncap < b->len + n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return false;
		}
		b->p = np;
		b->cap = ncap;
	}
	return true;
}

static void hb_add(struct hbuf *b, const char *s, size_t n)
{
	if (!hb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void hb_str(struct hbuf *b, const char *s)
{
	hb_add(b, s, strlen(s));
}

/* Headers fngate never forwards as received: hop-by-hop ones (RFC 9110 7.6.1), framing it
 * regenerates, the credential, everything it sets itself (so a client cannot spoof them), and
 * the other claims of a client address that a function might trust (X-Real-IP, Forwarded):
 * fngate states the client's address in X-Forwarded-For. */
static bool header_dropped(const char *n, size_t len, bool forward_token)
{
	bool drop = false;

	if (headers_hop_by_hop(n, len))
		return true;
	switch (len) {
	case 4:
		drop = util_ieq(n, len, "host");
		break;
	case 6:
		drop = util_ieq(n, len, "expect");
		break;
	case 9:
		drop = util_ieq(n, len, "x-real-ip") || util_ieq(n, len, "forwarded");
		break;
	case 12:
		drop = util_ieq(n, len, "x-request-id") ||
		       (!forward_token && util_ieq(n, len, "x-auth-token"));
		break;
	case 15:
		drop = util_ieq(n, len, "x-forwarded-for");
		break;
	case 16:
		drop = util_ieq(n, len, "x-forwarded-host");
		break;
	case 17:
		drop = util_ieq(n, len, "x-forwarded-proto");
		break;
	default:
		break;
	}
	/* Every X-Fngate-* too: fngate's own identity headers. */
	return drop || (len >= 9 && util_ieq(n, 9, "x-fngate-"));
}

/* A request field whose name holds '_' (x->has_underscore said one does): dropped unless the
 * configuration keeps such fields, and even then when it reads, '_' as '-', as a field fngate
 * sets, strips or frames with (X_Fngate_Namespace, Content_Length, X_Auth_Token...), since the
 * function's runtime may see both spellings as one variable. Counted in the metrics. */
static bool header_underscore_dropped(const struct exchange *x, const char *n, size_t len)
{
	char alias[HEADERS_ALIAS_MAX];

	if (memchr(n, '_', len) == NULL)
		return false;
	if (!x->conf->underscores_in_headers) {
		metrics_header_dropped(METRICS_HDRDROP_REQUEST);
		return true;
	}
	if (headers_underscore_alias(n, len, alias) && header_dropped(alias, len, false)) {
		metrics_header_dropped(METRICS_HDRDROP_REQUEST_ALIAS);
		return true;
	}
	return false;
}

size_t forward_target(const struct exchange *x, const struct conf_upstream *ep, char *out)
{
	const struct conf_function *fn = x->fn;
	const char *url = x->buf + x->path_off;
	size_t ulen = x->path_len, n = strlen(ep->base_path);

	memcpy(out, ep->base_path, n);
	if (fn->strip_prefix && fn->path_prefix != NULL && !(fn->path_prefix_len == 1)) {
		url += fn->path_prefix_len;
		ulen -= fn->path_prefix_len;
		if (ulen == 0 || url[0] != '/')
			out[n++] = '/';
	} else if (ulen == 1 && url[0] == '*') {
		ulen = 0;
		out[n++] = '*';
	}
	memcpy(out + n, url, ulen);
	return n + ulen;
}

void forward_fields(const struct exchange *x,
		    void (*add)(void *arg, const char *n, size_t nl, const char *v, size_t vl),
		    void *arg)
{
	const struct conf_function *fn = x->fn;
	size_t hn;
	const char *hv;

	for (unsigned i = 0; i < x->nhdr; i++) {
		const struct header *h = &x->hdr[i];
		const char *name = x->buf + h->name_off;

		/* forward_token never hands an API key's secret on: the function learns the key's
		 * id (X-Fngate-Token-Id), as it would learn a token's. */
		/* An upgrade keeps its Upgrade field, which its Connection names (Connection is
		 * stated by the HTTP/1.1 head). */
		bool keep = x->upgrade && h->name_len == 7 && util_ieq(name, 7, "upgrade");

		if (!keep &&
		    (header_dropped(name, h->name_len, x->conf->forward_token &&
				    !apikey_claims(x->buf + h->val_off, h->val_len)) ||
		     (x->has_connection &&
		      headers_connection_lists(x->buf, x->hdr, x->nhdr, name, h->name_len)) ||
		     (x->has_underscore && header_underscore_dropped(x, name, h->name_len))))
			continue;
		add(arg, name, h->name_len, x->buf + h->val_off, h->val_len);
	}
	add(arg, "X-Forwarded-For", 15, x->client_ip, strlen(x->client_ip));
	add(arg, "X-Forwarded-Proto", 17, x->tls ? "https" : "http", x->tls ? 5 : 4);
	hv = exchange_host(x, &hn);
	if (hv != NULL)
		add(arg, "X-Forwarded-Host", 16, hv, hn);
	add(arg, "X-Request-Id", 12, x->request_id, strlen(x->request_id));
	add(arg, "X-Fngate-Namespace", 18, fn->ns->id, strlen(fn->ns->id));
	add(arg, "X-Fngate-Function", 17, fn->id, strlen(fn->id));
	/* Which credential opened the function, and its id: never the credential itself. */
	if (x->gate.reason == OUT_TOKEN || x->gate.reason == OUT_API_KEY)
		add(arg, "X-Fngate-Credential", 19, x->gate.reason == OUT_API_KEY ? "api_key" : "jwt",
		    x->gate.reason == OUT_API_KEY ? 7 : 3);
	if (x->gate.jti[0] != '\0' && outcome_allowed(x->gate.reason))
		add(arg, "X-Fngate-Token-Id", 17, x->gate.jti, strlen(x->gate.jti));
}

/* forward_fields' adder for an HTTP/1.1 head. */
static void hb_field(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct hbuf *b = arg;

	hb_add(b, n, nl);
	hb_add(b, ": ", 2);
	hb_add(b, v, vl);
	hb_add(b, "\r\n", 2);
}

/* Build the request head for the upstream. Returns 0 / -1 (out of memory). */
static int build_head(const struct exchange *x, const struct conf_upstream *ep, struct hbuf *b)
{
	char num[32];
	size_t need = strlen(ep->base_path) + x->path_len + 2;

	hb_str(b, llhttp_method_name((llhttp_method_t)x->method));
	hb_add(b, " ", 1);
	/* The target is written in place, in room made for it. */
	if (!hb_reserve(b, need))
		return -1;
	b->len += forward_target(x, ep, b->p + b->len);
	hb_str(b, " HTTP/1.1\r\nHost: ");
	hb_str(b, ep->hostport);
	hb_add(b, "\r\n", 2);
	if (x->length_unknown) {
		hb_str(b, "Transfer-Encoding: chunked\r\n");
	} else if (x->has_body || x->cl_present) {
		hb_str(b, "Content-Length: ");
		hb_add(b, num, util_u64_dec(x->content_length, num));
		hb_add(b, "\r\n", 2);
	}
	if (x->upgrade)
		hb_str(b, "Connection: Upgrade\r\n");
	forward_fields(x, hb_field, b);
	hb_add(b, "\r\n", 2);
	return b->oom ? -1 : 0;
}

int forward_start(struct exchange *x)
{
	struct upconn *u;
	struct hbuf b = {0};
	int local_err;

	if (x->fn->upstream_h2)
		return h2up_start(x);
	u = upstream_get(x->w, x->fn, -1, &local_err);
	if (u == NULL && local_err != 0) {
		/* fngate's own shortage (descriptors, memory, ports): 503 with Retry-After, and no
		 * new clients on this worker until it eases. */
		enum outcome why = local_err == EMFILE || local_err == ENFILE ? OUT_OUT_OF_DESCRIPTORS :
		    local_err == EADDRNOTAVAIL ? OUT_OUT_OF_LOCAL_PORTS : OUT_OUT_OF_MEMORY;

		listener_pause(x->w->ls);
		reply_error(x, why, x->has_body);
		return -1;
	}
	if (u == NULL) {
		reply_error(x, OUT_UPSTREAM_UNAVAILABLE, x->has_body);
		return -1;
	}
	/* The head is built in the connection's own buffer, kept across its requests: it is also
	 * the copy a retry needs, and reusing it saves a malloc per request. The front end's head
	 * text bounds what is copied from the request. */
	b.p = u->retry_head;
	b.cap = u->retry_cap;
	if (b.cap < 512 + x->buf_len) {
		char *np = realloc(b.p, 512 + x->buf_len);

		if (np != NULL) {
			b.p = np;
			b.cap = 512 + x->buf_len;
		} else {
			b.oom = true;
		}
	}
	if (b.oom || build_head(x, &x->fn->upstreams[u->ep], &b) != 0) {
		u->retry_head = b.p;
		u->retry_cap = b.cap;
		upstream_close(u);
		reply_error(x, OUT_OUT_OF_MEMORY, true);
		return -1;
	}
	u->retry_head = b.p;
	u->retry_cap = b.cap;
	u->retry_len = b.len;
	u->x = x;
	u->fn = x->fn;
	u->head_request = x->method == HTTP_HEAD;
	u->upgrade = x->upgrade;
	u->req_body = x->has_body;
	u->attempts = 1;
	x->upstream_start_us = util_mono_us();
	evbuffer_add(bufferevent_get_output(u->bev), b.p, b.len);
	if (!x->has_body) {
		u->req_sent = true;
		u->sent_us = x->upstream_start_us;
	}
	if (x->expect_continue && x->has_body)
		x->ops->send_continue(x);   /* we stripped Expect: the request is allowed */
	upstream_start(u, &response_ops);   /* response_ops.begin sets x->up */
	upstream_flush(u);
	return 0;
}

void forward_body(struct exchange *x, const char *at, size_t len)
{
	struct evbuffer *out;

	if (x->h2up != NULL) {
		h2up_body(x, at, len);
		return;
	}
	out = bufferevent_get_output(x->up->bev);

	if (x->length_unknown)
		http1_chunk_add(out, at, len);
	else
		evbuffer_add(out, at, len);
	/* A slow upstream stops the client being read; the write low-watermark that upstream_start
	 * sets reports the drain (response_ops.drained). */
	if (evbuffer_get_length(out) > EXCHANGE_HIGH_WATER)
		x->ops->body_pause(x);
}

void forward_body_move(struct exchange *x, struct evbuffer *in, size_t len)
{
	struct evbuffer *out;

	if (x->h2up != NULL) {
		h2up_body_move(x, in, len);
		return;
	}
	out = bufferevent_get_output(x->up->bev);
	/* Whole chains change hands; only a partly taken last chain is copied. */
	evbuffer_remove_buffer(in, out, len);
	x->body_bytes += len;
	if (evbuffer_get_length(out) > EXCHANGE_HIGH_WATER)
		x->ops->body_pause(x);
}

void forward_body_end(struct exchange *x)
{
	if (x->h2up != NULL) {
		h2up_body_end(x);
		return;
	}
	if (x->length_unknown)
		http1_chunk_last(bufferevent_get_output(x->up->bev));
	x->up->req_sent = true;
	x->up->sent_us = util_mono_us();
}

void forward_flush(struct exchange *x)
{
	if (x->up != NULL)
		upstream_flush(x->up);
	else if (x->h2up != NULL)
		h2up_flush(x);
}

size_t forward_pending(const struct exchange *x)
{
	if (x->h2up != NULL)
		return h2up_pending(x);
	return x->up != NULL ? evbuffer_get_length(bufferevent_get_output(x->up->bev)) : 0;
}

void forward_cancel(struct exchange *x)
{
	if (x->tunnel != NULL || x->tunnel_slot) {
		tunnel_cancel(x);
		return;
	}
	if (x->h2up != NULL) {
		h2up_cancel(x);
		return;
	}
	if (x->up == NULL)
		return;
	upstream_close(x->up);
	x->up = NULL;
}
