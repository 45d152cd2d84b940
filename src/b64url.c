/* b64url.c - strict base64url without padding (RFC 7515 section 2): one canonical form only. */
#include "b64url.h"

#include <stdint.h>

/* 0..63 for the alphabet, 0xff for every other byte ('=', whitespace, '+', '/', NUL...). */
static const uint8_t b64url_dec[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
	255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255,  63,
	255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static const char b64url_enc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long b64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i, o = 0, full = len / 4 * 4, rem = len % 4;
	uint32_t v, a, b, c, d;

	if (rem == 1)
		return -1;
	if (full / 4 * 3 + (rem == 0 ? 0 : rem - 1) > outcap)
		return -1;
	for (i = 0; i < full; i += 4) {
		a = b64url_dec[s[i]];
		b = b64url_dec[s[i + 1]];
		c = b64url_dec[s[i + 2]];
		d = b64url_dec[s[i + 3]];
		/* One test for the four: any 0xff sets a bit above the 6 data bits. */
		if ((a | b | c | d) & 0xc0)
			return -1;
		v = a << 18 | b << 12 | c << 6 | d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (rem == 2) {
		a = b64url_dec[s[i]];
		b = b64url_dec[s[i + 1]];
		/* Canonical form: the 4 bits below the one output byte must be zero. */
		if (((a | b) & 0xc0) || (b & 0x0f))
			return -1;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
	} else if (rem == 3) {
		a = b64url_dec[s[i]];
		b = b64url_dec[s[i + 1]];
		c = b64url_dec[s[i + 2]];
		if (((a | b | c) & 0xc0) || (c & 0x03))
			return -1;
		v = a << 12 | b << 6 | c;
		out[o++] = (unsigned char)(v >> 10);
		out[o++] = (unsigned char)(v >> 2);
	}
	return (long)o;
}

long b64url_encode(const unsigned char *in, size_t len, char *out, size_t outcap)
{
	size_t i, o = 0;
	uint32_t v;

	if (B64URL_ENCODED_LEN(len) + 1 > outcap)
		return -1;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_enc[v >> 18];
		out[o++] = b64url_enc[(v >> 12) & 63];
		out[o++] = b64url_enc[(v >> 6) & 63];
		out[o++] = b64url_enc[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url_enc[v >> 18];
		out[o++] = b64url_enc[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_enc[v >> 18];
		out[o++] = b64url_enc[(v >> 12) & 63];
		out[o++] = b64url_enc[(v >> 6) & 63];
	}
	out[o] = '\0';
	return (long)o;
}
