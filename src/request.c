/* request.c - HTTP/1.1 request framing with llhttp (strict mode): collects the head within the
 * configured bounds, rejects smuggling shapes, fills the connection's protocol-neutral exchange
 * (exchange.h) and hands body bytes to the forwarder. */
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "conf.h"
#include "headers.h"
#include "http1.h"
#include "worker.h"
#include "proxy.h"
#include "util.h"

#define REQ_BUF_INITIAL 4096   /* head text; most heads (even with a 4096-bit RS256 token) fit */

static struct conn *conn_of(llhttp_t *p)
{
	return p->data;
}

void request_reset(struct request *r)
{
	char *buf = r->buf;
	size_t cap = r->cap;
	struct header *hdr = r->hdr;

	memset(r, 0, offsetof(struct request, buf));
	r->buf = buf;
	r->cap = cap;
	r->hdr = hdr;
}

/* The exchange reads the head memory where request.c keeps it. */
static void request_mem_show(struct conn *c)
{
	c->ex.buf = c->req.buf;
	c->ex.hdr = c->req.hdr;
}

#define REQ_HDR_BYTES (sizeof(struct header) * PROXY_MAX_HEADERS)

/* Head memory for a request, from the worker's free list. 0 / -1 (out of memory). */
static int request_mem_acquire(struct conn *c)
{
	struct request *r = &c->req;
	struct worker *w = c->w;
	void *mem;

	if (r->hdr != NULL)
		return 0;
	if (w->nreqmem_free > 0)
		mem = w->reqmem_free[--w->nreqmem_free];
	else if ((mem = malloc(REQ_HDR_BYTES + REQ_BUF_INITIAL)) == NULL)
		return -1;
	r->hdr = mem;
	r->buf = (char *)mem + REQ_HDR_BYTES;
	r->cap = REQ_BUF_INITIAL;
	r->len = 0;
	request_mem_show(c);
	return 0;
}

void request_mem_release(struct conn *c)
{
	struct request *r = &c->req;
	struct worker *w = c->w;

	if (r->hdr == NULL)
		return;
	if (r->cap == REQ_BUF_INITIAL && w->nreqmem_free < ARRAY_LEN(w->reqmem_free))
		w->reqmem_free[w->nreqmem_free++] = r->hdr;
	else
		free(r->hdr);
	r->hdr = NULL;
	r->buf = NULL;
	r->cap = 0;
	r->len = 0;
	request_mem_show(c);
}

int request_check_crlf(struct request *r, const char *p, size_t n)
{
	static const char crlf[] = "\r\n";

	while (r->crlf_pending > 0 && n > 0) {
		if (*p != crlf[2 - r->crlf_pending])
			return -1;
		r->crlf_pending--;
		p++;
		n--;
	}
	return 0;
}

/* Append to the head buffer, bounded by max_header_bytes (http1_head_too_large). */
static int req_append(struct conn *c, const char *at, size_t len)
{
	struct request *r = &c->req;
	/* The head is read before routing, so the global limit applies to it. */
	size_t max = c->ex.conf->limits.max_header_bytes;

	if (r->len + len > max) {
		c->ex.err = http1_head_too_large(c->ex.nhdr, c->ex.path_len);
		return -1;
	}
	if (r->len + len > r->cap) {
		size_t ncap = r->cap ? r->cap : REQ_BUF_INITIAL;
		char *nm;

		while (ncap < r->len + len)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		nm = realloc(r->hdr, REQ_HDR_BYTES + ncap);
		if (nm == NULL) {
			c->ex.err = OUT_OUT_OF_MEMORY;
			return -1;
		}
		r->hdr = (struct header *)(void *)nm;
		r->buf = nm + REQ_HDR_BYTES;
		r->cap = ncap;
		request_mem_show(c);
		request_mem_show(c);
	}
	memcpy(r->buf + r->len, at, len);
	r->len += len;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	c->phase = PHASE_HEAD;
	if (request_mem_acquire(c) != 0) {
		c->ex.err = OUT_OUT_OF_MEMORY;
		return -1;
	}
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);

	if (c->ex.path_len == 0)
		c->ex.path_off = (uint32_t)c->req.len;
	c->ex.path_len += (uint32_t)len;
	return req_append(c, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct request *r = &c->req;
	struct exchange *x = &c->ex;

	if (x->nhdr == 0 || r->in_value) {
		if (x->nhdr == PROXY_MAX_HEADERS) {
			x->err = OUT_TOO_MANY_HEADERS;
			return -1;
		}
		r->hdr[x->nhdr].name_off = (uint32_t)r->len;
		r->hdr[x->nhdr].name_len = 0;
		r->hdr[x->nhdr].val_off = 0;
		r->hdr[x->nhdr].val_len = 0;
		x->nhdr++;
		r->in_value = false;
	}
	r->hdr[x->nhdr - 1].name_len += (uint32_t)len;
	return req_append(c, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct request *r = &c->req;
	struct exchange *x = &c->ex;

	if (!r->in_value) {
		r->in_value = true;
		r->hdr[x->nhdr - 1].val_off = (uint32_t)r->len;
	}
	r->hdr[x->nhdr - 1].val_len += (uint32_t)len;
	return req_append(c, at, len);
}

/* Validate the head. Returns 0, or -1 with x->err set (its status is the answer). */
static int request_analyze(struct conn *c)
{
	struct request *r = &c->req;
	struct exchange *x = &c->ex;
	llhttp_t *p = &c->parser;
	struct exchange_fields f;

	x->method = llhttp_get_method(p);
	x->method_known = true;
	if (llhttp_get_http_major(p) != 1) {
		x->err = OUT_HTTP_VERSION;
		return -1;
	}
	r->http_minor = llhttp_get_http_minor(p);
	/* Control bytes in values: llhttp in strict mode refuses them (tested: 400 for \x00,
	 * \x01, \x0b, \x1b, \x7f), and http1_scan_head refuses obs-fold and bare CR, so the
	 * value is not scanned a second time (it holds the token: the longest header). */
	if (exchange_index(x, r->hdr, &f) != 0)
		return -1;
	if (f.te > 1 || (f.te == 1 && r->http_minor == 0)) {
		x->err = OUT_BAD_TRANSFER_ENCODING;
		return -1;
	}
	if (f.hosts > 1 || (f.hosts == 0 && r->http_minor == 1)) {
		x->err = OUT_BAD_HOST;
		return -1;
	}
	if (f.hosts == 1) {
		size_t n;
		const char *v = exchange_header(x, f.host_idx, &n);

		if (!http1_host_ok(v, n)) {
			x->err = OUT_BAD_HOST;
			return -1;
		}
		x->host_off = x->hdr[f.host_idx].val_off;
		x->host_len = (uint32_t)n;
	}
	{
		/* absolute-form: its authority, which RFC 9112 section 3.2.2 says wins over Host,
		 * replaces Host for routing; the path goes on as origin-form. */
		size_t off, a;
		int form = http1_absolute_form(r->buf + x->path_off, x->path_len, &off, &a);

		if (form < 0) {
			x->err = OUT_BAD_TARGET;
			return -1;
		}
		if (form > 0) {
			x->host_off = x->path_off + (uint32_t)off;
			x->host_len = (uint32_t)a;
			x->path_off += (uint32_t)(off + a);
			x->path_len -= (uint32_t)(off + a);
		}
	}
	/* No tunnels. Checked before the target: CONNECT's authority-form target ("host:443") is
	 * well-formed, the method is what fngate does not do. */
	if (x->method == HTTP_CONNECT) {
		x->err = OUT_METHOD_NOT_ALLOWED;
		return -1;
	}
	if (!http1_target_ok(r->buf + x->path_off, x->path_len, x->method == HTTP_OPTIONS)) {
		x->err = OUT_BAD_TARGET;
		return -1;
	}
	x->length_unknown = (p->flags & F_CHUNKED) != 0;
	if (p->flags & F_CONTENT_LENGTH) {
		x->content_length = p->content_length;
		x->cl_present = true;
	}
	x->has_body = x->length_unknown || x->content_length > 0;
	/* "close" followed by whitespace is still close (llhttp 8 misses "close\t"). */
	r->keep_alive = llhttp_should_keep_alive(p) != 0 && !f.conn_close;
	/* An upgrade (WebSocket...) may become a tunnel only in its one unambiguous shape: HTTP/1.1,
	 * GET, one Upgrade field named by Connection, no body, the connection kept. Anything else
	 * (HTTP/1.0, POST, a body, "close") is a plain request: Upgrade is dropped as hop-by-hop and
	 * a 101 to it is refused (response.c), so no byte after it can pass as a tunnel's. */
	x->upgrade = f.upgrades == 1 && f.conn_upgrade && r->http_minor == 1 &&
		     x->method == HTTP_GET && !x->has_body && !x->cl_present && r->keep_alive;
	return 0;
}


static int on_headers_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	if (request_analyze(c) != 0)
		return -1;
	c->phase = PHASE_BODY;
	return conn_dispatch(c);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct request *r = &c->req;
	struct exchange *x = &c->ex;

	x->body_bytes += len;
	if (x->length_unknown) {
		const char *end = at + len;
		size_t avail;

		r->chunk_left = r->chunk_left >= len ? r->chunk_left - len : 0;
		if (r->chunk_left == 0) {
			/* llhttp 8 does not check the CRLF after chunk data: we do, here or at the
			 * start of the next read when it was split. */
			r->crlf_pending = 2;
			avail = c->seg_end > end ? (size_t)(c->seg_end - end) : 0;
			if (request_check_crlf(r, end, avail) != 0) {
				x->err = OUT_BAD_CHUNK;
				return -1;
			}
		}
	}
	if (x->body_bytes > (x->fn ? x->fn->limits.max_body_bytes : c->ex.conf->limits.max_body_bytes)) {
		x->err = OUT_BODY_TOO_LARGE;
		return -1;
	}
	if (exchange_upstream(x))
		forward_body(x, at, len);
	return 0;
}

static int on_chunk_header(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	c->req.chunk_left = p->content_length;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	if (exchange_upstream(&c->ex) && c->ex.has_body)
		forward_body_end(&c->ex);
	c->ex.req_complete = true;
	c->phase = PHASE_DONE;
	c->paused_msg = true;
	/* Stop here: a pipelined request waits until this one is answered. */
	return HPE_PAUSED;
}

const llhttp_settings_t request_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
	.on_chunk_header = on_chunk_header,
};
