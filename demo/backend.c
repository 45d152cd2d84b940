/* backend.c - the demo function backend: answers every request with a JSON description of it.
 *
 * It is also the upstream of the integration tests, so it reports exactly what reached it (method,
 * target, every header, body size and SHA-256) and offers a few behaviours under special paths,
 * matched on the last path segment(s) so they work behind any route prefix:
 *   .../_slow?ms=N           answer after N ms (a timer: other requests are not blocked)
 *   .../_chunked?n=K&size=S  a chunked body of K chunks of S bytes
 *   .../_big?bytes=N         a Content-Length body of N bytes
 *   .../_status/NNN          answer with status NNN
 *   .../_echo                the request body sent back (chunked)
 *   .../_stats               counters: requests and connections seen so far
 * Generated bodies repeat "abcdefghijklmnopqrstuvwxyz" so a test can compute their digest.
 * It links libevent only (no OpenSSL): the SHA-256 below is the FIPS 180-4 algorithm. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#define BACKEND_MAX_BODY     (64 * 1024 * 1024)
#define BACKEND_MAX_GEN      ((uint64_t)1 << 30)    /* generated bodies: 1 GiB at most */
#define BACKEND_MAX_SLOW_MS  600000
#define BACKEND_PIECE        65536                  /* chunk size when relaying bodies */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t   nbuf;
};

struct slow_reply;

struct backend {
	struct event_base *base;
	struct evhttp     *http;
	const char        *name;
	uint64_t           requests;
	uint64_t           connections;
	TAILQ_HEAD(, slow_reply) slow;     /* pending _slow replies, freed at shutdown */
};

struct slow_reply {
	struct backend        *be;
	struct evhttp_request *req;
	struct event          *timer;
	TAILQ_ENTRY(slow_reply) entry;
};

static struct backend backend;

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + ((e & f) ^ (~e & g)) +
		    sha256_k[i] + w[i];
		t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void
sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memset(s, 0, sizeof(*s));
	memcpy(s->h, iv, sizeof(iv));
}

static void
sha256_update(struct sha256 *s, const unsigned char *p, size_t n)
{
	s->len += n;
	while (n > 0) {
		size_t take;

		if (s->nbuf == 0 && n >= 64) {
			sha256_block(s, p);
			p += 64;
			n -= 64;
			continue;
		}
		take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
		memcpy(s->buf + s->nbuf, p, take);
		s->nbuf += take;
		p += take;
		n -= take;
		if (s->nbuf == 64) {
			sha256_block(s, s->buf);
			s->nbuf = 0;
		}
	}
}

/* Finish and write the digest as 64 lowercase hex characters + NUL into out. */
static void
sha256_hex(struct sha256 *s, char out[65])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char pad[72] = { 0x80 };
	uint64_t bits = s->len * 8;
	size_t padlen = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(s, pad, padlen + 8);
	for (i = 0; i < 32; i++) {
		unsigned char byte = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
		out[2 * i] = hexd[byte >> 4];
		out[2 * i + 1] = hexd[byte & 0xf];
	}
	out[64] = '\0';
}

/* Digest of an evbuffer's content without draining or linearizing it. */
static void
sha256_evbuffer(struct evbuffer *b, char out[65])
{
	struct sha256 s;
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v[16];
	size_t total = evbuffer_get_length(b), done = 0;
	int n, i;

	sha256_init(&s);
	evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET);
	/* Walk by remaining length: a pointer at the very end of the buffer must never be peeked. */
	while (done < total) {
		size_t got = 0;

		n = evbuffer_peek(b, (ev_ssize_t)(total - done), &pos, v, 16);
		if (n <= 0)
			break;
		for (i = 0; i < n && i < 16; i++) {
			size_t take = v[i].iov_len < total - done - got ? v[i].iov_len : total - done - got;

			sha256_update(&s, v[i].iov_base, take);
			got += take;
		}
		done += got;
		if (got == 0 || (done < total && evbuffer_ptr_set(b, &pos, got, EVBUFFER_PTR_ADD) == -1))
			break;
	}
	sha256_hex(&s, out);
}

/* Append s as a JSON string (quotes included); bytes >= 0x80 and controls are \u00XX escaped. */
static void
json_str(struct evbuffer *out, const char *s)
{
	const unsigned char *p;

	evbuffer_add(out, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			evbuffer_add_printf(out, "\\u%04x", *p);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:     return "GET";
	case EVHTTP_REQ_POST:    return "POST";
	case EVHTTP_REQ_HEAD:    return "HEAD";
	case EVHTTP_REQ_PUT:     return "PUT";
	case EVHTTP_REQ_DELETE:  return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:   return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:   return "PATCH";
	}
	return "UNKNOWN";
}

/* The JSON description of a request: the body of every ordinary answer. */
static struct evbuffer *
describe(struct evhttp_request *req)
{
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer *out;
	struct evkeyval *kv, *kv2;
	char *peer_host = NULL;
	ev_uint16_t peer_port = 0;
	char digest[65];
	bool first = true;

	if ((out = evbuffer_new()) == NULL)
		return NULL;
	sha256_evbuffer(body, digest);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &peer_host, &peer_port);

	evbuffer_add_printf(out, "{\"name\":");
	json_str(out, backend.name);
	evbuffer_add_printf(out, ",\"method\":\"%s\",\"uri\":", method_name(evhttp_request_get_command(req)));
	json_str(out, evhttp_request_get_uri(req));
	evbuffer_add_printf(out, ",\"version\":\"1.%d\"", req->minor);
	evbuffer_add_printf(out, ",\"peer\":");
	json_str(out, peer_host != NULL ? peer_host : "");
	evbuffer_add_printf(out, ",\"peer_port\":%u", (unsigned)peer_port);
	evbuffer_add_printf(out, ",\"seq\":%" PRIu64 ",\"headers\":{", backend.requests);
	/* Group the headers by lowercase name, in order of first appearance, values in order. */
	TAILQ_FOREACH(kv, hdrs, next) {
		bool seen = false, vfirst = true;
		char *lname;
		size_t i;

		TAILQ_FOREACH(kv2, hdrs, next) {
			if (kv2 == kv)
				break;
			if (strcasecmp(kv2->key, kv->key) == 0) {
				seen = true;
				break;
			}
		}
		if (seen)
			continue;
		if ((lname = strdup(kv->key)) == NULL)
			continue;
		for (i = 0; lname[i] != '\0'; i++)
			if (lname[i] >= 'A' && lname[i] <= 'Z')
				lname[i] = (char)(lname[i] - 'A' + 'a');
		if (!first)
			evbuffer_add(out, ",", 1);
		first = false;
		json_str(out, lname);
		evbuffer_add(out, ":[", 2);
		TAILQ_FOREACH(kv2, hdrs, next) {
			if (strcasecmp(kv2->key, lname) != 0)
				continue;
			if (!vfirst)
				evbuffer_add(out, ",", 1);
			vfirst = false;
			json_str(out, kv2->value);
		}
		evbuffer_add(out, "]", 1);
		free(lname);
		lname = NULL;
	}
	evbuffer_add_printf(out, "},\"body_bytes\":%zu,\"body_sha256\":\"%s\"}\n",
	    evbuffer_get_length(body), digest);
	return out;
}

/* Value of query parameter `key` as an unsigned number; `def` when absent or not a number. */
static uint64_t
query_u64(struct evhttp_request *req, const char *key, uint64_t def, uint64_t max)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq params;
	const char *q, *v;
	uint64_t out = def;
	char *end;

	if (uri == NULL || (q = evhttp_uri_get_query(uri)) == NULL)
		return def;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) == 0 &&
	    (v = evhttp_find_header(&params, key)) != NULL && *v >= '0' && *v <= '9') {
		errno = 0;
		out = strtoull(v, &end, 10);
		if (errno != 0 || *end != '\0')
			out = def;
	}
	evhttp_clear_headers(&params);
	return out > max ? max : out;
}

/* Append n bytes of the alphabet pattern, continuing at stream offset `off`. */
static void
add_pattern(struct evbuffer *out, uint64_t off, uint64_t n)
{
	static char piece[BACKEND_PIECE + 26];
	static bool ready;
	size_t i;

	if (!ready) {
		for (i = 0; i < sizeof(piece); i++)
			piece[i] = (char)('a' + i % 26);
		ready = true;
	}
	while (n > 0) {
		size_t take = n > BACKEND_PIECE ? BACKEND_PIECE : (size_t)n;

		evbuffer_add(out, piece + off % 26, take);
		off += take;
		n -= take;
	}
}

static void
reply_json(struct evhttp_request *req, int status, const char *reason)
{
	struct evbuffer *out = describe(req);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Backend-Name", backend.name);
	evhttp_send_reply(req, status, reason, out);
	if (out != NULL)
		evbuffer_free(out);
}

static void
slow_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slow_reply *s = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&backend.slow, s, entry);
	reply_json(s->req, 200, "OK");
	event_free(s->timer);
	s->timer = NULL;
	free(s);
}

static void
handle_slow(struct evhttp_request *req)
{
	uint64_t ms = query_u64(req, "ms", 1000, BACKEND_MAX_SLOW_MS);
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	struct slow_reply *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->be = &backend;
	s->req = req;
	if ((s->timer = evtimer_new(backend.base, slow_fire, s)) == NULL)
		goto fail;
	if (evtimer_add(s->timer, &tv) == -1)
		goto fail;
	TAILQ_INSERT_TAIL(&backend.slow, s, entry);
	return;
fail:
	if (s != NULL && s->timer != NULL)
		event_free(s->timer);
	free(s);
	evhttp_send_error(req, 500, "no memory");
}

/* Send `body` as a chunked reply in pieces of BACKEND_PIECE (each piece is one chunk). */
static void
reply_chunked(struct evhttp_request *req, struct evbuffer *body, size_t piece)
{
	struct evbuffer *chunk = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Backend-Name", backend.name);
	evhttp_send_reply_start(req, 200, "OK");
	if (chunk != NULL) {
		while (evbuffer_get_length(body) > 0) {
			evbuffer_remove_buffer(body, chunk, piece);
			evhttp_send_reply_chunk(req, chunk);
		}
		evbuffer_free(chunk);
	}
	evhttp_send_reply_end(req);
}

static void
handle_chunked(struct evhttp_request *req)
{
	uint64_t n = query_u64(req, "n", 4, 1u << 20);
	uint64_t size = query_u64(req, "size", 1024, 1u << 24);
	struct evbuffer *body = evbuffer_new();

	if (body == NULL || n * size > BACKEND_MAX_GEN || size == 0) {
		evhttp_send_error(req, 400, "bad n/size");
		goto done;
	}
	add_pattern(body, 0, n * size);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/octet-stream");
	reply_chunked(req, body, (size_t)size);
done:
	if (body != NULL)
		evbuffer_free(body);
}

/* A _big reply in progress: generated one piece at a time as the connection drains, so that a
 * 1 GiB body neither takes a GiB of memory nor blocks the loop while it is made (the tests'
 * timings must not depend on how fast a loaded machine fills memory). */
struct big_reply {
	struct evhttp_request *req;
	uint64_t               off, n;
};

static void
big_closed(struct evhttp_connection *evcon, void *arg)
{
	struct big_reply *b = arg;

	(void)evcon;
	/* The client went away mid-body: evhttp detached the unfinished request from its
	 * connection (it is ours to free then); at a shutdown it is still queued, and freed with
	 * the connection. */
	if (evhttp_request_get_connection(b->req) == NULL)
		evhttp_request_free(b->req);
	free(b);
}

static void
big_next(struct evhttp_connection *evcon, void *arg)
{
	struct big_reply *b = arg;
	struct evbuffer *chunk;
	uint64_t take;

	if (b->off == b->n) {
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		evhttp_send_reply_end(b->req);
		free(b);
		return;
	}
	chunk = evbuffer_new();
	if (chunk == NULL)
		return;         /* the client's timeout ends it */
	take = b->n - b->off > BACKEND_PIECE ? BACKEND_PIECE : b->n - b->off;
	add_pattern(chunk, b->off, take);
	b->off += take;
	evhttp_send_reply_chunk_with_cb(b->req, chunk, big_next, b);
	evbuffer_free(chunk);
}

static void
handle_big(struct evhttp_request *req)
{
	uint64_t n = query_u64(req, "bytes", 1024, BACKEND_MAX_GEN);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct big_reply *b = calloc(1, sizeof(*b));
	char len[32];

	if (b == NULL) {
		evhttp_send_error(req, 500, "no memory");
		return;
	}
	b->req = req;
	b->n = n;
	snprintf(len, sizeof(len), "%" PRIu64, n);
	/* with Content-Length set, evhttp does not chunk */
	evhttp_add_header(oh, "Content-Length", len);
	evhttp_add_header(oh, "Content-Type", "application/octet-stream");
	evhttp_add_header(oh, "X-Backend-Name", backend.name);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), big_closed, b);
	evhttp_send_reply_start(req, 200, "OK");
	big_next(evhttp_request_get_connection(req), b);
}

static void
handle_echo(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	char digest[65], len[32];

	sha256_evbuffer(in, digest);
	snprintf(len, sizeof(len), "%zu", evbuffer_get_length(in));
	evhttp_add_header(oh, "Content-Type", ct != NULL ? ct : "application/octet-stream");
	evhttp_add_header(oh, "X-Body-Sha256", digest);
	evhttp_add_header(oh, "X-Body-Bytes", len);
	reply_chunked(req, in, BACKEND_PIECE);
}

static void
handle_stats(struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, "no memory");
		return;
	}
	evbuffer_add_printf(out, "{\"name\":");
	json_str(out, backend.name);
	evbuffer_add_printf(out, ",\"requests\":%" PRIu64 ",\"connections\":%" PRIu64 "}\n",
	    backend.requests, backend.connections);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Does `path` (no query) end with the segment `seg` ("/_slow" or "_slow" alone)? */
static bool
path_ends(const char *path, size_t len, const char *seg)
{
	size_t sl = strlen(seg);

	if (len < sl || memcmp(path + len - sl, seg, sl) != 0)
		return false;
	return len == sl || path[len - sl - 1] == '/';
}

/* Status from ".../_status/NNN", or 0 when the path is not of that shape. */
static int
path_status(const char *path, size_t len)
{
	static const char seg[] = "_status/";
	size_t sl = sizeof(seg) - 1;
	int st;

	if (len < sl + 3)
		return 0;
	if (memcmp(path + len - 3 - sl, seg, sl) != 0)
		return 0;
	if (len > sl + 3 && path[len - sl - 4] != '/')
		return 0;
	if (path[len - 3] < '1' || path[len - 3] > '5' || path[len - 2] < '0' || path[len - 2] > '9' ||
	    path[len - 1] < '0' || path[len - 1] > '9')
		return 0;
	st = (path[len - 3] - '0') * 100 + (path[len - 2] - '0') * 10 + (path[len - 1] - '0');
	return st;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t plen = strcspn(uri, "?");
	int st;

	(void)arg;
	backend.requests++;
	fprintf(stderr, "request %" PRIu64 " %s %s\n", backend.requests,
	    method_name(evhttp_request_get_command(req)), uri);
	if (path_ends(uri, plen, "_slow"))
		handle_slow(req);
	else if (path_ends(uri, plen, "_chunked"))
		handle_chunked(req);
	else if (path_ends(uri, plen, "_big"))
		handle_big(req);
	else if (path_ends(uri, plen, "_echo"))
		handle_echo(req);
	else if (path_ends(uri, plen, "_stats"))
		handle_stats(req);
	else if ((st = path_status(uri, plen)) != 0)
		reply_json(req, st, NULL);
	else
		reply_json(req, 200, "OK");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	fprintf(stderr, "signal %d: stopping\n", (int)sig);
	event_base_loopexit(backend.base, NULL);
}

/* evhttp offers no connection hook in 2.1, so count connections through the bufferevent factory. */
static struct bufferevent *
on_connection(struct event_base *base, void *arg)
{
	(void)base;
	(void)arg;
	backend.connections++;
	return NULL;    /* NULL: evhttp creates its default socket bufferevent */
}

static void
usage(void)
{
	fprintf(stderr, "usage: fngate-demo-backend [--listen HOST:PORT] [--name NAME]\n");
}

int
main(int argc, char *argv[])
{
	const char *listen = "127.0.0.1:9000";
	struct event *sigterm = NULL, *sigint = NULL;
	char host[256];
	const char *colon;
	long port;
	char *end;
	int i, rc = 1;

	backend.name = "demo";
	TAILQ_INIT(&backend.slow);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			backend.name = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	/* HOST:PORT, HOST may be "[v6]". */
	if ((colon = strrchr(listen, ':')) == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		usage();
		return 2;
	}
	if (listen[0] == '[' && colon > listen + 1 && colon[-1] == ']') {
		memcpy(host, listen + 1, (size_t)(colon - listen - 2));
		host[colon - listen - 2] = '\0';
	} else {
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	if ((backend.base = event_base_new()) == NULL)
		goto cleanup;
	if ((backend.http = evhttp_new(backend.base)) == NULL)
		goto cleanup;
	evhttp_set_max_body_size(backend.http, BACKEND_MAX_BODY);
	evhttp_set_allowed_methods(backend.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(backend.http, 120);
	evhttp_set_gencb(backend.http, handle, NULL);
	evhttp_set_bevcb(backend.http, on_connection, NULL);
	if (evhttp_bind_socket(backend.http, host, (ev_uint16_t)port) == -1) {
		fprintf(stderr, "fngate-demo-backend: cannot listen on %s: %s\n", listen, strerror(errno));
		goto cleanup;
	}
	if ((sigterm = evsignal_new(backend.base, SIGTERM, on_signal, NULL)) == NULL ||
	    (sigint = evsignal_new(backend.base, SIGINT, on_signal, NULL)) == NULL ||
	    evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1)
		goto cleanup;
	fprintf(stderr, "listening on %s\n", listen);
	fflush(stderr);
	if (event_base_dispatch(backend.base) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	/* Replies still sleeping at shutdown: their requests go with evhttp_free below. */
	while (!TAILQ_EMPTY(&backend.slow)) {
		struct slow_reply *s = TAILQ_FIRST(&backend.slow);

		TAILQ_REMOVE(&backend.slow, s, entry);
		event_free(s->timer);
		free(s);
	}
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (backend.http != NULL)
		evhttp_free(backend.http);
	if (backend.base != NULL)
		event_base_free(backend.base);
	return rc;
}
