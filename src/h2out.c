/* h2out.c - what the HTTP/2 front end and the h2c upstream both send (h2out.h): field blocks,
 * queue-backed bodies, frames onto the socket. */
#include "h2out.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Grow f->buf to hold `need` bytes. 0, or -1 (f failed). */
static int fields_reserve(struct h2out_fields *f, size_t need)
{
	size_t ncap = f->cap ? f->cap : 512;
	char *np;

	if (need <= f->cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if ((np = realloc(f->buf, ncap)) == NULL) {
		f->failed = true;
		return -1;
	}
	f->buf = np;
	f->cap = ncap;
	return 0;
}

void h2out_fields_add(struct h2out_fields *f, const char *name, size_t nl, const char *val,
		      size_t vl)
{
	if (f->failed || fields_reserve(f, f->len + nl + vl) != 0)
		return;
	if (f->n == f->fcap) {
		size_t ncap = f->fcap ? f->fcap * 2 : 16;
		size_t *no = realloc(f->off, ncap * 4 * sizeof(*no));
		nghttp2_nv *nn;

		if (no == NULL) {
			f->failed = true;
			return;
		}
		f->off = no;
		if ((nn = realloc(f->nv, ncap * sizeof(*nn))) == NULL) {
			f->failed = true;
			return;
		}
		f->nv = nn;
		f->fcap = ncap;
	}
	f->off[4 * f->n] = f->len;
	f->off[4 * f->n + 1] = nl;
	for (size_t i = 0; i < nl; i++)
		f->buf[f->len + i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	f->len += nl;
	f->off[4 * f->n + 2] = f->len;
	f->off[4 * f->n + 3] = vl;
	memcpy(f->buf + f->len, val, vl);
	f->len += vl;
	f->n++;
}

const nghttp2_nv *h2out_fields_nv(struct h2out_fields *f)
{
	static const nghttp2_nv none;

	if (f->failed)
		return NULL;
	if (f->n == 0)
		return &none;   /* an empty block (nghttp2 reads no entry) */
	/* buf may have moved since the fields were added: the pointers are made now. */
	for (size_t i = 0; i < f->n; i++) {
		f->nv[i].name = (uint8_t *)f->buf + f->off[4 * i];
		f->nv[i].namelen = f->off[4 * i + 1];
		f->nv[i].value = (uint8_t *)f->buf + f->off[4 * i + 2];
		f->nv[i].valuelen = f->off[4 * i + 3];
		f->nv[i].flags = NGHTTP2_NV_FLAG_NONE;
	}
	return f->nv;
}

void h2out_fields_clear(struct h2out_fields *f)
{
	f->len = 0;
	f->n = 0;
	f->failed = false;
}

void h2out_fields_free(struct h2out_fields *f)
{
	free(f->buf);
	free(f->off);
	free(f->nv);
	*f = (struct h2out_fields){0};
}

ssize_t h2out_queue_read(struct evbuffer *q, bool eof, uint8_t *buf, size_t len,
			 uint32_t *flags, bool *deferred)
{
	int n = evbuffer_remove(q, buf, len);

	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (n == 0 && !eof) {
		*deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (eof && evbuffer_get_length(q) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

ssize_t h2out_send(struct bufferevent *bev, size_t high, const uint8_t *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) > high)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}
