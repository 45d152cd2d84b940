/* reply.c - responses fngate generates itself: small JSON bodies naming a reason code, never
 * echoing the client's input. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy.h"

const char *reply_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
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

void reply_error(struct conn *c, int status, const char *code, bool close)
{
	char buf[512];
	char body[160];
	int blen, hlen;

	if (close)
		c->close_after = true;
	blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", code);
	hlen = snprintf(buf, sizeof(buf),
			"HTTP/1.1 %d %s\r\n"
			"Content-Type: application/json\r\n"
			"Content-Length: %d\r\n"
			"Cache-Control: no-store\r\n"
			"X-Content-Type-Options: nosniff\r\n"
			"%s%s%s"
			"%s"
			"\r\n",
			status, reply_reason(status), blen,
			c->req.request_id[0] ? "X-Request-Id: " : "", c->req.request_id,
			c->req.request_id[0] ? "\r\n" : "",
			c->close_after ? "Connection: close\r\n" : "");
	evbuffer_add(bufferevent_get_output(c->bev), buf, (size_t)hlen);
	if (c->req.method != HTTP_HEAD)
		evbuffer_add(bufferevent_get_output(c->bev), body, (size_t)blen);
	c->req.status = status;
	c->req.bytes_out += (uint64_t)hlen + (uint64_t)blen;
	if (c->req.err_reason == NULL && status != 403)
		c->req.err_reason = code;
	c->resp = RESP_COMPLETE;
	conn_flush(c);
}
