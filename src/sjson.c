/* sjson.c - the strict JSON reader (sjson.h): RFC 8259 read in place, no allocation, duplicate
 * keys and malformed UTF-8 refused, depth and keys bounded. */
#include "sjson.h"

#include <stdlib.h>

static void sjson_ws(struct sjson *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int sjson_hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0, d;
	int i;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			d = (p[i] | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Append up to 4 bytes to out if they fit; the length counts them either way. */
static void sjson_put(char *out, size_t cap, size_t *n, const unsigned char *b, size_t k)
{
	if (out != NULL && *n + k <= cap)
		memcpy(out + *n, b, k);
	*n += k;
}

/* A string at j->p ('"'). Decoded bytes go to out while they fit in cap; *lenp gets the full
 * decoded length (the caller compares it with cap). -1 on any syntax or encoding error. */
int sjson_string(struct sjson *j, char *out, size_t cap, size_t *lenp)
{
	const unsigned char *p = j->p + 1, *end = j->end;
	unsigned char u[4];
	unsigned cp, lo;
	size_t n = 0, k;

	while (p < end && *p != '"') {
		if (*p == '\\') {
			if (end - p < 2)
				return -1;
			switch (p[1]) {
			case '"': case '\\': case '/':
				u[0] = p[1]; break;
			case 'b': u[0] = '\b'; break;
			case 'f': u[0] = '\f'; break;
			case 'n': u[0] = '\n'; break;
			case 'r': u[0] = '\r'; break;
			case 't': u[0] = '\t'; break;
			case 'u':
				if (end - p < 6 || sjson_hex4(p + 2, &cp) == -1)
					return -1;
				p += 6;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return -1;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    sjson_hex4(p + 2, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
						return -1;
					p += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp == 0)
					return -1;      /* as jansson: no NUL inside strings */
				if (cp < 0x80) {
					u[0] = (unsigned char)cp; k = 1;
				} else if (cp < 0x800) {
					u[0] = (unsigned char)(0xc0 | cp >> 6);
					u[1] = (unsigned char)(0x80 | (cp & 0x3f)); k = 2;
				} else if (cp < 0x10000) {
					u[0] = (unsigned char)(0xe0 | cp >> 12);
					u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					u[2] = (unsigned char)(0x80 | (cp & 0x3f)); k = 3;
				} else {
					u[0] = (unsigned char)(0xf0 | cp >> 18);
					u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
					u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					u[3] = (unsigned char)(0x80 | (cp & 0x3f)); k = 4;
				}
				sjson_put(out, cap, &n, u, k);
				continue;
			default:
				return -1;
			}
			sjson_put(out, cap, &n, u, 1);
			p += 2;
			continue;
		}
		if (*p < 0x20)
			return -1;
		if (*p < 0x80) {
			k = 1;
		} else {
			/* Well-formed UTF-8 only (RFC 3629 table): no overlongs, no surrogates. */
			unsigned char c = *p, lo1 = 0x80, hi1 = 0xbf;

			if (c >= 0xc2 && c <= 0xdf)
				k = 2;
			else if (c >= 0xe0 && c <= 0xef)
				k = 3;
			else if (c >= 0xf0 && c <= 0xf4)
				k = 4;
			else
				return -1;
			if (c == 0xe0)
				lo1 = 0xa0;
			else if (c == 0xed)
				hi1 = 0x9f;
			else if (c == 0xf0)
				lo1 = 0x90;
			else if (c == 0xf4)
				hi1 = 0x8f;
			if ((size_t)(end - p) < k || p[1] < lo1 || p[1] > hi1 ||
			    (k > 2 && (p[2] & 0xc0) != 0x80) || (k > 3 && (p[3] & 0xc0) != 0x80))
				return -1;
		}
		sjson_put(out, cap, &n, p, k);
		p += k;
	}
	if (p >= end)
		return -1;
	j->p = p + 1;
	if (lenp != NULL)
		*lenp = n;
	return 0;
}

/* A number at j->p: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
int sjson_number(struct sjson *j, struct sjson_num *num)
{
	const unsigned char *s = j->p, *p = j->p, *end = j->end;
	bool is_int = true;
	char buf[64];

	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		is_int = false;
		if (++p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		is_int = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	if (num == NULL)
		return 0;
	num->is_int = false;
	if (is_int) {
		const unsigned char *q = s;
		bool neg = *q == '-';
		uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

		if (neg)
			q++;
		for (; q < p; q++) {
			if (v > (lim - (uint64_t)(*q - '0')) / 10)
				return -1;      /* as jansson: an integer too big is an error */
			v = v * 10 + (uint64_t)(*q - '0');
		}
		num->is_int = true;
		num->i = neg ? (int64_t)(0 - v) : (int64_t)v;
		return 0;
	}
	/* Reals are rare in tokens; strtod on a bounded copy (the daemon runs in the C locale). */
	if ((size_t)(p - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	num->d = strtod(buf, NULL);
	return 0;
}

static int sjson_literal(struct sjson *j, const char *lit, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

/* An object at j->p. Each member's value goes to fn (or is validated and skipped). */
int sjson_object(struct sjson *j, sjson_member_fn fn, void *arg)
{
	char arena[SJSON_KEY_ARENA];
	size_t off[SJSON_MAX_KEYS], len[SJSON_MAX_KEYS], nkeys = 0, used = 0, kl, i;
	int rc = -1;

	if (j->depth >= SJSON_MAX_DEPTH || sjson_peek(j) != '{')
		return -1;
	j->depth++;
	j->p++;
	sjson_ws(j);
	if (sjson_peek(j) == '}') {
		j->p++;
		rc = 0;
		goto done;
	}
	for (;;) {
		sjson_ws(j);
		if (sjson_peek(j) != '"' || nkeys == SJSON_MAX_KEYS ||
		    sjson_string(j, arena + used, sizeof(arena) - used, &kl) == -1 ||
		    kl > sizeof(arena) - used)
			goto done;
		for (i = 0; i < nkeys; i++) {
			if (len[i] == kl && memcmp(arena + off[i], arena + used, kl) == 0)
				goto done;      /* duplicate key */
		}
		off[nkeys] = used;
		len[nkeys++] = kl;
		used += kl;
		sjson_ws(j);
		if (sjson_peek(j) != ':')
			goto done;
		j->p++;
		sjson_ws(j);
		if ((fn != NULL ? fn(j, arena + off[nkeys - 1], kl, arg) : sjson_value(j)) == -1)
			goto done;
		sjson_ws(j);
		if (sjson_peek(j) == ',') {
			j->p++;
			continue;
		}
		if (sjson_peek(j) != '}')
			goto done;
		j->p++;
		rc = 0;
		goto done;
	}
done:
	j->depth--;
	return rc;
}

int sjson_array(struct sjson *j, sjson_elem_fn fn, void *arg)
{
	size_t idx = 0;
	int rc = -1;

	if (j->depth >= SJSON_MAX_DEPTH || sjson_peek(j) != '[')
		return -1;
	j->depth++;
	j->p++;
	sjson_ws(j);
	if (sjson_peek(j) == ']') {
		j->p++;
		rc = 0;
		goto done;
	}
	for (;; idx++) {
		sjson_ws(j);
		if ((fn != NULL ? fn(j, idx, arg) : sjson_value(j)) == -1)
			goto done;
		sjson_ws(j);
		if (sjson_peek(j) == ',') {
			j->p++;
			continue;
		}
		if (sjson_peek(j) != ']')
			goto done;
		j->p++;
		rc = 0;
		goto done;
	}
done:
	j->depth--;
	return rc;
}

/* Any value, validated and skipped. */
int sjson_value(struct sjson *j)
{
	switch (sjson_peek(j)) {
	case '{':
		return sjson_object(j, NULL, NULL);
	case '[':
		return sjson_array(j, NULL, NULL);
	case '"':
		return sjson_string(j, NULL, 0, NULL);
	case 't':
		return sjson_literal(j, "true", 4);
	case 'f':
		return sjson_literal(j, "false", 5);
	case 'n':
		return sjson_literal(j, "null", 4);
	default:
		return sjson_number(j, NULL);
	}
}

/* A whole document: one object, nothing after it but whitespace. */
int sjson_document(const unsigned char *p, size_t len, sjson_member_fn fn, void *arg)
{
	struct sjson j = { p, p + len, 0 };

	sjson_ws(&j);
	if (sjson_object(&j, fn, arg) == -1)
		return -1;
	sjson_ws(&j);
	return j.p == j.end ? 0 : -1;
}
