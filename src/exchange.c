/* exchange.c - the proxy core's entry: a protocol-neutral request (exchange.h) is given its id,
 * routed, its CORS preflight answered, gated, held to its body limit, and forwarded or answered;
 * a request that failed with the upstream ends here too. No protocol is known here: the answer
 * goes out through the front end's exchange_out_ops. */
#include "exchange.h"

#include <string.h>

#include <llhttp.h>

#include "conf.h"
#include "cors.h"
#include "gate.h"
#include "h2up.h"
#include "headers.h"
#include "http1.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "tcache.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

void exchange_reset(struct exchange *x)
{
	memset(&x->method, 0, sizeof(*x) - offsetof(struct exchange, method));
	x->token_idx = -1;
	x->reqid_idx = -1;
	x->origin_idx = -1;
	x->acrm_idx = -1;
	x->acrh_idx = -1;
	x->upstream_us = -1;
	x->resp = EXCHANGE_RESP_NONE;
}

const char *exchange_header(const struct exchange *x, int idx, size_t *len)
{
	if (idx < 0 || (unsigned)idx >= x->nhdr) {
		*len = 0;
		return NULL;
	}
	*len = x->hdr[idx].val_len;
	return x->buf + x->hdr[idx].val_off;
}

const char *exchange_host(const struct exchange *x, size_t *len)
{
	*len = x->host_len;
	return x->host_len > 0 ? x->buf + x->host_off : NULL;
}

static bool name_is(const struct exchange *x, const struct header *h, const char *lit)
{
	return util_ieq(x->buf + h->name_off, h->name_len, lit);
}

int exchange_index(struct exchange *x, struct header *hdr, struct exchange_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->host_idx = -1;
	for (unsigned i = 0; i < x->nhdr; i++) {
		struct header *h = &hdr[i];

		while (h->val_len > 0 && (x->buf[h->val_off + h->val_len - 1] == ' ' ||
					  x->buf[h->val_off + h->val_len - 1] == '\t'))
			h->val_len--;
		if (!http1_token_ok(x->buf + h->name_off, h->name_len)) {
			x->err = OUT_BAD_HEADER;
			return -1;
		}
		if (memchr(x->buf + h->name_off, '_', h->name_len) != NULL)
			x->has_underscore = true;   /* forward.c decides what to drop */
		switch (h->name_len) {
		case 4:
			if (name_is(x, h, "host")) {
				f->hosts++;
				f->host_idx = (int)i;
			}
			break;
		case 10:
			if (name_is(x, h, "connection")) {
				x->has_connection = true;
				if (headers_list_has(x->buf + h->val_off, h->val_len, "close", 5))
					f->conn_close = true;
				if (headers_list_has(x->buf + h->val_off, h->val_len, "upgrade", 7))
					f->conn_upgrade = true;
			}
			break;
		case 7:
			if (name_is(x, h, "upgrade"))
				f->upgrades++;
			break;
		case 6:
			if (name_is(x, h, "origin")) {
				if (x->norigin++ == 0)
					x->origin_idx = (int)i;
			} else if (name_is(x, h, "expect")) {
				if (!util_ieq(x->buf + h->val_off, h->val_len, "100-continue")) {
					x->err = OUT_EXPECTATION_FAILED;
					return -1;
				}
				x->expect_continue = true;
			}
			break;
		case 12:
			if (name_is(x, h, "x-auth-token")) {
				if (x->ntokens++ == 0)
					x->token_idx = (int)i;
			} else if (name_is(x, h, "x-request-id")) {
				x->reqid_idx = (int)i;
			}
			break;
		case 29:
			if (name_is(x, h, "access-control-request-method") && x->nacrm++ == 0)
				x->acrm_idx = (int)i;
			break;
		case 30:
			if (name_is(x, h, "access-control-request-headers") && x->nacrh++ == 0)
				x->acrh_idx = (int)i;
			break;
		case 17:
			if (name_is(x, h, "transfer-encoding")) {
				f->te++;
				/* Only a bare "chunked" is framing we relay; anything else is a shape
				 * two parsers may read differently. */
				if (!util_ieq(x->buf + h->val_off, h->val_len, "chunked")) {
					x->err = OUT_BAD_TRANSFER_ENCODING;
					return -1;
				}
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

bool exchange_method_set(struct exchange *x, const char *name, size_t len)
{
#define EXCHANGE_METHOD(num, id, text)						\
	if (len == sizeof(#text) - 1 && memcmp(name, #text, len) == 0) {	\
		x->method = (uint8_t)num;					\
		x->method_known = true;						\
		return true;							\
	}
	HTTP_METHOD_MAP(EXCHANGE_METHOD)
#undef EXCHANGE_METHOD
	return false;
}

/* Request id: a well-formed incoming X-Request-Id is kept, otherwise one is made. */
static void request_id_assign(struct exchange *x)
{
	size_t n;
	const char *v = exchange_header(x, x->reqid_idx, &n);

	if (v != NULL && n > 0 && n <= EXCHANGE_REQID_MAX) {
		size_t i;

		for (i = 0; i < n; i++) {
			char ch = v[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
				break;
		}
		if (i == n) {
			memcpy(x->request_id, v, n);
			x->request_id[n] = '\0';
			return;
		}
	}
	{
		/* "<worker prefix>-<sequence in hex>": unique per process run, no formatting call. */
		static const char hx[] = "0123456789abcdef";
		uint64_t seq = ++x->w->reqseq;
		char *o = x->request_id;
		int digits = 8;

		memcpy(o, x->w->reqid_prefix, 12);
		o[12] = '-';
		while (digits < 16 && (seq >> (4 * digits)) != 0)
			digits++;
		for (int i = 0; i < digits; i++)
			o[13 + i] = hx[(seq >> (4 * (digits - 1 - i))) & 0xf];
		o[13 + digits] = '\0';
	}
}

/* A function with "cors": which CORS fields every response to this request gets (reply.c,
 * response.c), and a preflight answered here, without a token and without the upstream: the
 * browser asks it before it sends the token. Returns true when it answered. */
static bool dispatch_cors(struct exchange *x)
{
	struct cors_request cr;
	enum cors_state st;
	enum outcome o;

	cr.options = x->method == HTTP_OPTIONS;
	cr.origin = exchange_header(x, x->origin_idx, &cr.origin_len);
	cr.norigin = x->norigin;
	cr.method = exchange_header(x, x->acrm_idx, &cr.method_len);
	cr.nmethod = x->nacrm;
	cr.headers = exchange_header(x, x->acrh_idx, &cr.headers_len);
	cr.nheaders = x->nacrh;
	o = cors_check(x->fn->cors, &cr, &st);
	x->cors = (uint8_t)st;
	if (o == OUT_NONE)
		return false;
	/* Recorded as the gate's decision: the access log and the metrics show it as such. */
	x->gate.reason = o;
	reply_error(x, o, x->has_body);
	return true;
}

int exchange_dispatch(struct exchange *x)
{
	const char *host = NULL, *hv, *tok;
	size_t hostlen = 0, hn, toklen, pathlen;
	char hostbuf[256];
	const char *path = x->buf + x->path_off;
	struct worker *w = x->w;
	enum outcome gr;

	request_id_assign(x);
	hv = exchange_host(x, &hn);
	if (hv != NULL) {
		size_t i;

		/* lowercase, without the port (the front end checked the shape: http1_host_ok) */
		for (i = 0; i < hn && i < sizeof(hostbuf) - 1; i++) {
			if (hv[0] != '[' && hv[i] == ':')
				break;
			if (hv[0] == '[' && hv[i] == ']') {
				hostbuf[i] = hv[i];
				i++;
				break;
			}
			hostbuf[i] = (char)((hv[i] >= 'A' && hv[i] <= 'Z') ? hv[i] + 32 : hv[i]);
		}
		hostbuf[i] = '\0';
		host = hostbuf;
		hostlen = i;
	}
	for (pathlen = 0; pathlen < x->path_len && path[pathlen] != '?'; pathlen++)
		;
	x->fn = route_match(x->conf->routes, host, hostlen, path, pathlen);
	if (x->fn == NULL) {
		reply_error(x, OUT_NO_ROUTE, x->has_body);
		return x->has_body;
	}
	if (x->fn->cors != NULL && dispatch_cors(x))
		return x->has_body;
	tok = exchange_header(x, x->token_idx, &toklen);
	if (w->cache_gen != x->conf->generation) {
		/* Keys may have changed: nothing verified under another configuration is reused. */
		tcache_clear(w->cache);
		w->cache_gen = x->conf->generation;
	}
	gr = gate_check(x->conf, x->fn, tok, toklen, x->ntokens, util_now(), w->cache, &x->gate);
	if (!outcome_allowed(gr)) {
		/* The access log records the refusal with its reason and token id. */
		reply_error(x, gr, x->has_body);
		return x->has_body;
	}
	/* The body limit after the gate: a caller without a valid token learns nothing of the
	 * function's limits, and is told the reason that matters (403, not 413). */
	if (x->content_length > x->fn->limits.max_body_bytes) {
		reply_error(x, OUT_BODY_TOO_LARGE, true);
		return 1;
	}
	/* The tunnel cap after the gate too: a refused caller learns nothing of the load. */
	if (x->upgrade && tunnel_reserve(x) != 0) {
		reply_error(x, OUT_TUNNEL_LIMIT, x->has_body);
		return x->has_body;
	}
	if (forward_start(x) != 0) {
		tunnel_unreserve(x);
		return x->has_body;
	}
	return 0;
}

/* The combined log format's extra fields: a header scan, made only in that format. */
static void access_combined_fields(const struct exchange *x, struct access_record *ar)
{
	ar->client_ip = x->client_ip;
	for (unsigned i = 0; i < x->nhdr; i++) {
		const struct header *h = &x->hdr[i];

		if (ar->referer == NULL && util_ieq(x->buf + h->name_off, h->name_len, "referer")) {
			ar->referer = x->buf + h->val_off;
			ar->referer_len = h->val_len;
		} else if (ar->user_agent == NULL &&
			   util_ieq(x->buf + h->name_off, h->name_len, "user-agent")) {
			ar->user_agent = x->buf + h->val_off;
			ar->user_agent_len = h->val_len;
		}
	}
}

void exchange_finish(struct exchange *x, const char *client, const char *protocol)
{
	struct access_record ar;
	enum outcome final;

	if (x->conf == NULL)
		return;
	memset(&ar, 0, sizeof(ar));
	ar.request_id = x->request_id[0] ? x->request_id : NULL;
	ar.client = client;
	ar.protocol = protocol;
	/* x->method is set when the head is complete; a head cut short (408, 431, 499) has its
	 * method only in the parser once the URL began, and 0 would read as "DELETE". */
	ar.method = x->method_known ? llhttp_method_name((llhttp_method_t)x->method) : NULL;
	ar.path = x->path_len ? x->buf + x->path_off : NULL;
	ar.path_len = x->path_len;
	if (x->fn != NULL) {
		ar.namespace_id = x->fn->ns->id;
		ar.function_id = x->fn->id;
	}
	/* The decision and reason come from the outcome table, as the metrics' labels do: a
	 * request with neither a gate decision nor an error is "error"/"unknown" in both. */
	final = outcome_final(x->gate.reason, x->err);
	ar.decision = outcome_decision_name(outcome_info(final)->decision);
	ar.reason = outcome_name(final);
	ar.token_id = x->gate.jti[0] ? x->gate.jti : NULL;
	ar.status = x->status;
	ar.bytes_in = x->body_bytes;
	ar.bytes_out = x->bytes_out;
	ar.upstream_us = x->upstream_us;
	ar.total_us = x->start_us ? (int64_t)(util_mono_us() - x->start_us) : 0;
	if (log_access_combined())
		access_combined_fields(x, &ar);
	if (x->method != 0 || x->status != 0) {
		log_access(&ar);
		metrics_request(x->w->metrics, x->conf, x->fn, final, x->status, x->upstream_us);
	}
	worker_conf_release(x->w, x->conf);
	x->conf = NULL;
}

void exchange_fail(struct exchange *x, enum outcome o)
{
	x->up = NULL;
	x->h2up = NULL;
	tunnel_unreserve(x);
	log_msg(LOG_LVL_WARN, "upstream %s for %s/%s request %s", outcome_name(o),
		x->fn->ns->id, x->fn->id, x->request_id);
	x->err = o;
	if (x->resp == EXCHANGE_RESP_NONE) {
		reply_error(x, o, !x->req_complete);
		x->ops->done(x);
	} else {
		/* Part of the response reached the client: only ending the stream says it is
		 * incomplete. */
		x->ops->abort(x, o);
	}
}

void exchange_out_drained(struct exchange *x)
{
	if (x->up != NULL)
		upstream_read_resume(x->up);
	else if (x->h2up != NULL)
		h2up_read_resume(x);
}
