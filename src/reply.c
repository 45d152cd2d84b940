/* reply.c - responses fngate generates itself: small JSON bodies naming a reason code, never
 * echoing the client's input. Built on the protocol-neutral exchange and written through its
 * output (exchange.h): the front end frames and sends them. */
#include <stdio.h>
#include <string.h>

#include <llhttp.h>

#include "conf.h"
#include "cors.h"
#include "exchange.h"

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

size_t reply_cors(const struct exchange *x, enum outcome o, struct cors_field *f)
{
	const char *origin;
	size_t olen;

	if (x->cors == CORS_OFF || x->fn == NULL || x->fn->cors == NULL)
		return 0;
	origin = exchange_header(x, x->origin_idx, &olen);
	return cors_fields(x->fn->cors, (enum cors_state)x->cors, o, origin, olen, f);
}

/* A field whose value is a string literal. */
#define FIELD(x, n, v) (x)->ops->head_field((x), n, sizeof(n) - 1, v, sizeof(v) - 1)

void reply_error(struct exchange *x, enum outcome o, bool close)
{
	/* No formatting call: the 403 of the gate is the cheapest answer fngate gives and is sent
	 * at flood rates. The code is one of fngate's own outcome names, never input. */
	const struct exchange_out_ops *ops = x->ops;
	const struct outcome_info *oi = outcome_info(o);
	const char *code = oi->name;
	int status = oi->status;
	struct cors_field cors[CORS_FIELDS_MAX];
	size_t clen = strnlen(code, 80), blen = status == 204 ? 0 : clen + 13, ncors;

	ops->head_start(x, status, NULL, 0);
	if (blen > 0)           /* a 204 (a CORS preflight passed) has no body, no length */
		FIELD(x, "Content-Type", "application/json");
	FIELD(x, "Cache-Control", "no-store");
	FIELD(x, "X-Content-Type-Options", "nosniff");
	if (x->request_id[0] != '\0')
		ops->head_field(x, "X-Request-Id", 12, x->request_id, strlen(x->request_id));
	if (status == 405)      /* RFC 9110 15.5.6; only CONNECT gets it: every other method is proxied */
		FIELD(x, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	if (status == 503)
		FIELD(x, "Retry-After", "1");   /* fngate's own shortage: brief */
	/* The CORS fields of a function with "cors": the page on an allowed origin can read why it
	 * was refused. */
	ncors = reply_cors(x, o, cors);
	for (size_t i = 0; i < ncors; i++)
		ops->head_field(x, cors[i].name, cors[i].name_len, cors[i].val, cors[i].val_len);
	ops->head_end(x, blen > 0 ? EXCHANGE_BODY_LENGTH : EXCHANGE_BODY_NONE, blen, close);
	/* the body: {"error":"<code>"}\n (13 bytes around the code) */
	if (blen > 0 && (x->method != HTTP_HEAD || !x->method_known)) {
		char body[96];      /* outcome names are short identifiers (outcome.c) */

		memcpy(body, "{\"error\":\"", 10);
		memcpy(body + 10, code, clen);
		memcpy(body + 10 + clen, "\"}\n", 3);
		ops->body(x, body, blen);
	}
	ops->body_end(x, NULL, NULL, 0);
	x->status = status;
	if (x->err == OUT_NONE && oi->decision == OUTCOME_ERROR)
		x->err = o;
}
