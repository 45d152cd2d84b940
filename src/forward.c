/* forward.c - the upstream request: target rewritten under the function's base path, header
 * hygiene (hop-by-hop and spoofable headers removed, identity and X-Forwarded-* added), and the
 * request body relayed with normalised framing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "headers.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

struct hbuf {
	char  *p;
	size_t len;
	size_t cap;
	bool   oom;
};

static void hb_add(struct hbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap * 2;
		char *np;

		while (ncap < b->len + n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
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

/* A request field whose name holds '_' (r->has_underscore said one does): dropped unless the
 * configuration keeps such fields, and even then when it reads, '_' as '-', as a field fngate
 * sets, strips or frames with (X_Fngate_Namespace, Content_Length, X_Auth_Token...), since the
 * function's runtime may see both spellings as one variable. Counted in the metrics. */
static bool header_underscore_dropped(const struct conn *c, const char *n, size_t len)
{
	char alias[HEADERS_ALIAS_MAX];

	if (memchr(n, '_', len) == NULL)
		return false;
	if (!c->conf->underscores_in_headers) {
		metrics_header_dropped(METRICS_HDRDROP_REQUEST);
		return true;
	}
	if (headers_underscore_alias(n, len, alias) && header_dropped(alias, len, false)) {
		metrics_header_dropped(METRICS_HDRDROP_REQUEST_ALIAS);
		return true;
	}
	return false;
}

/* Build the request head for the upstream. Returns 0 / -1 (out of memory). */
static int build_head(struct conn *c, const struct conf_upstream *ep, struct hbuf *b)
{
	struct request *r = &c->req;
	const struct conf_function *fn = r->fn;
	const char *url = r->buf + r->url_off;
	size_t ulen = r->url_len;
	size_t hn;
	const char *hv;
	char num[32];

	hb_str(b, llhttp_method_name((llhttp_method_t)r->method));
	hb_add(b, " ", 1);
	hb_str(b, ep->base_path);
	if (fn->strip_prefix && fn->path_prefix != NULL && !(fn->path_prefix_len == 1)) {
		url += fn->path_prefix_len;
		ulen -= fn->path_prefix_len;
		if (ulen == 0 || url[0] != '/')
			hb_add(b, "/", 1);
	} else if (ulen == 1 && url[0] == '*') {
		ulen = 0;
		hb_add(b, "*", 1);
	}
	hb_add(b, url, ulen);
	hb_str(b, " HTTP/1.1\r\nHost: ");
	hb_str(b, ep->hostport);
	hb_add(b, "\r\n", 2);

	for (unsigned i = 0; i < r->nhdr; i++) {
		const struct header *h = &r->hdr[i];
		const char *name = r->buf + h->name_off;

		if (header_dropped(name, h->name_len, c->conf->forward_token) ||
		    (r->has_connection &&
		     headers_connection_lists(r->buf, r->hdr, r->nhdr, name, h->name_len)) ||
		    (r->has_underscore && header_underscore_dropped(c, name, h->name_len)))
			continue;
		hb_add(b, name, h->name_len);
		hb_add(b, ": ", 2);
		hb_add(b, r->buf + h->val_off, h->val_len);
		hb_add(b, "\r\n", 2);
	}
	if (r->chunked) {
		hb_str(b, "Transfer-Encoding: chunked\r\n");
	} else if (r->has_body || r->cl_present) {
		hb_str(b, "Content-Length: ");
		hb_add(b, num, util_u64_dec(r->content_length, num));
		hb_add(b, "\r\n", 2);
	}
	hb_str(b, "X-Forwarded-For: ");
	hb_str(b, c->client_ip);
	hb_str(b, c->tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
	hv = request_host(r, &hn);
	if (hv != NULL) {
		hb_str(b, "X-Forwarded-Host: ");
		hb_add(b, hv, hn);
		hb_add(b, "\r\n", 2);
	}
	hb_str(b, "X-Request-Id: ");
	hb_str(b, r->request_id);
	hb_str(b, "\r\nX-Fngate-Namespace: ");
	hb_str(b, fn->ns->id);
	hb_str(b, "\r\nX-Fngate-Function: ");
	hb_str(b, fn->id);
	hb_add(b, "\r\n", 2);
	if (r->gate.reason == OUT_TOKEN && r->gate.jti[0] != '\0') {
		hb_str(b, "X-Fngate-Token-Id: ");
		hb_str(b, r->gate.jti);
		hb_add(b, "\r\n", 2);
	}
	hb_add(b, "\r\n", 2);
	return b->oom ? -1 : 0;
}

int forward_start(struct conn *c)
{
	struct request *r = &c->req;
	struct upconn *u;
	struct hbuf b = {0};
	int idx, local_err;

	u = upstream_get(c->w, r->fn, -1, &local_err);
	if (u == NULL && local_err != 0) {
		/* fngate's own shortage (descriptors, memory, ports): 503 with Retry-After, and no
		 * new clients on this worker until it eases. */
		enum outcome why = local_err == EMFILE || local_err == ENFILE ? OUT_OUT_OF_DESCRIPTORS :
		    local_err == EADDRNOTAVAIL ? OUT_OUT_OF_LOCAL_PORTS : OUT_OUT_OF_MEMORY;

		listener_pause(c->w->ls);
		reply_error(c, why, r->has_body);
		return -1;
	}
	if (u == NULL) {
		reply_error(c, OUT_UPSTREAM_UNAVAILABLE, r->has_body);
		return -1;
	}
	idx = upstream_index(u, r->fn);
	/* The head is built in the connection's own buffer, kept across its requests: it is also
	 * the copy a retry needs, and reusing it saves a malloc per request. */
	b.p = u->retry_head;
	b.cap = u->retry_cap;
	if (b.cap < 512 + r->len) {
		char *np = realloc(b.p, 512 + r->len);

		if (np != NULL) {
			b.p = np;
			b.cap = 512 + r->len;
		} else {
			b.oom = true;
		}
	}
	if (b.oom || build_head(c, &r->fn->upstreams[idx < 0 ? 0 : idx], &b) != 0) {
		u->retry_head = b.p;
		u->retry_cap = b.cap;
		upstream_close(u);
		reply_error(c, OUT_OUT_OF_MEMORY, true);
		return -1;
	}
	u->retry_head = b.p;
	u->retry_cap = b.cap;
	u->retry_len = b.len;
	u->client = c;
	u->fn = r->fn;
	u->head_request = r->method == HTTP_HEAD;
	u->req_body = r->has_body;
	u->attempts = 1;
	c->up = u;
	r->upstream_start_us = util_mono_us();
	evbuffer_add(bufferevent_get_output(u->bev), b.p, b.len);
	if (!r->has_body) {
		u->req_sent = true;
		u->sent_us = r->upstream_start_us;
	}
	if (r->expect_continue && r->has_body && r->http_minor == 1) {
		/* We stripped Expect: answer it ourselves now that the request is allowed. */
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
		conn_flush(c);
	}
	upstream_start(u, &response_ops);
	upstream_flush(u);
	return 0;
}

void forward_body(struct conn *c, const char *at, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->up->bev);

	if (c->req.chunked)
		http1_chunk_add(out, at, len);
	else
		evbuffer_add(out, at, len);
	/* A slow upstream stops the client being read; the write low-watermark that upstream_start
	 * sets reports the drain (up_write_cb). */
	(void)conn_backpressure(c, out);
}

void forward_body_move(struct conn *c, struct evbuffer *in, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->up->bev);

	/* Whole chains change hands; only a partly taken last chain is copied. */
	evbuffer_remove_buffer(in, out, len);
	c->req.body_bytes += len;
	(void)conn_backpressure(c, out);
}

void forward_body_end(struct conn *c)
{
	if (c->req.chunked)
		http1_chunk_last(bufferevent_get_output(c->up->bev));
	c->up->req_sent = true;
	c->up->sent_us = util_mono_us();
}
