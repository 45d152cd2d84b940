/* reply.c - responses fngate generates itself: small JSON bodies naming a reason code, never
 * echoing the client's input. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "conf.h"
#include "cors.h"
#include "proxy.h"
#include "util.h"

const char *reply_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/* Append a NUL-terminated string at *at within cap; returns false (nothing written) if it does
 * not fit. */
static bool put(char *buf, size_t cap, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (*at + n > cap)
		return false;
	memcpy(buf + *at, s, n);
	*at += n;
	return true;
}

size_t reply_cors(const struct conn *c, enum outcome o, struct iovec *iov)
{
	const struct request *r = &c->req;
	const char *origin;
	size_t olen;

	if (r->cors == CORS_OFF || r->fn == NULL || r->fn->cors == NULL)
		return 0;
	origin = request_header(r, r->origin_idx, &olen);
	return cors_fields(r->fn->cors, (enum cors_state)r->cors, o, origin, olen, iov);
}

void reply_error(struct conn *c, enum outcome o, bool close)
{
	/* Built by hand, not with snprintf: the 403 of the gate is the cheapest answer fngate gives
	 * and is sent at flood rates. The code is one of fngate's own outcome names, never input. */
	const struct outcome_info *oi = outcome_info(o);
	const char *code = oi->name;
	int status = oi->status;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct iovec cors[CORS_IOV_MAX];
	char buf[640], num[24];
	size_t at = 0, blen = status == 204 ? 0 : strlen(code) + 13, nl, ncors;

	if (close)
		c->close_after = true;
	put(buf, sizeof(buf), &at, "HTTP/1.1 ");
	nl = util_u64_dec((uint64_t)status, num);
	num[nl] = '\0';
	put(buf, sizeof(buf), &at, num);
	put(buf, sizeof(buf), &at, " ");
	put(buf, sizeof(buf), &at, reply_reason(status));
	put(buf, sizeof(buf), &at, "\r\n");
	if (blen > 0) {         /* a 204 (a CORS preflight passed) has no body, no length */
		put(buf, sizeof(buf), &at, "Content-Type: application/json\r\nContent-Length: ");
		nl = util_u64_dec((uint64_t)blen, num);
		num[nl] = '\0';
		put(buf, sizeof(buf), &at, num);
		put(buf, sizeof(buf), &at, "\r\n");
	}
	put(buf, sizeof(buf), &at, "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
	if (c->req.request_id[0] != '\0') {
		put(buf, sizeof(buf), &at, "X-Request-Id: ");
		put(buf, sizeof(buf), &at, c->req.request_id);
		put(buf, sizeof(buf), &at, "\r\n");
	}
	if (status == 405)      /* RFC 9110 15.5.6; only CONNECT gets it: every other method is proxied */
		put(buf, sizeof(buf), &at, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n");
	if (status == 503)
		put(buf, sizeof(buf), &at, "Retry-After: 1\r\n");   /* fngate's own shortage: brief */
	/* The CORS fields of a function with "cors": the page on an allowed origin can read why it
	 * was refused. Their length depends on the configuration: not in buf. */
	ncors = reply_cors(c, o, cors);
	if (ncors > 0) {
		evbuffer_add(out, buf, at);
		c->req.bytes_out += at;
		at = 0;
		for (size_t i = 0; i < ncors; i++) {
			evbuffer_add(out, cors[i].iov_base, cors[i].iov_len);
			c->req.bytes_out += cors[i].iov_len;
		}
	}
	if (c->close_after)
		put(buf, sizeof(buf), &at, "Connection: close\r\n");
	put(buf, sizeof(buf), &at, "\r\n");
	c->req.bytes_out += at;
	/* the body: {"error":"<code>"}\n (13 bytes around the code) */
	if (blen > 0 && (c->req.method != HTTP_HEAD || !c->req.method_known)) {
		put(buf, sizeof(buf), &at, "{\"error\":\"");
		put(buf, sizeof(buf), &at, code);
		put(buf, sizeof(buf), &at, "\"}\n");
		c->req.bytes_out += blen;
	}
	evbuffer_add(out, buf, at);
	c->req.status = status;
	if (c->req.err == OUT_NONE && oi->decision == OUTCOME_ERROR)
		c->req.err = o;
	c->resp = RESP_COMPLETE;
	conn_flush(c);
}
