/* token.c - the JWT verifier: structure, pinned alg, signature (OpenSSL), claims (strict JSON reader). */
#include "token.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "conf.h"
#include "keys.h"
#include "util.h"

/* Hard ceiling on a token whatever max_len says (conf allows max_token_bytes up to 64 KiB);
 * it sizes the stack buffer below (48 KiB decoded). */
#define TOKEN_HARD_MAX		65536
/* Largest signature we can meet: RSA-8192 (keys.c refuses larger moduli). */
#define TOKEN_SIG_MAX		1024
#define TOKEN_ES256_SIG_LEN	64
/* Per-thread cache of prepared verification contexts, one per key recently used. */
#define TOKEN_CTX_SLOTS		8

/*
 * Per-thread verification state. Creating an EVP_PKEY_CTX and an EVP_MD_CTX costs allocations
 * and provider look-ups; a worker verifies with the same few keys all day, so it keeps them.
 * Each cached EVP_PKEY_CTX holds a reference on its EVP_PKEY, so a key freed by a reload stays
 * alive (and its address cannot be reused by a new key) until its slot is recycled.
 */
struct token_slot {
	const EVP_PKEY	*pk;
	EVP_PKEY_CTX	*ctx;
};

struct token_tls {
	EVP_MD_CTX		*md;
	struct token_slot	 slot[TOKEN_CTX_SLOTS];
	unsigned		 next;
};

static pthread_once_t token_once = PTHREAD_ONCE_INIT;
static pthread_key_t token_tls_key;
static int token_tls_key_ok;
static EVP_MD *token_sha256;
static _Thread_local struct token_tls *token_tls;

/* The order of the group of P-256, big-endian: r and s must be below it. */
static const unsigned char token_p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static void token_tls_free(void *p)
{
	struct token_tls *t = p;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < TOKEN_CTX_SLOTS; i++) {
		EVP_PKEY_CTX_free(t->slot[i].ctx);
		t->slot[i].ctx = NULL;
	}
	EVP_MD_CTX_free(t->md);
	t->md = NULL;
	free(t);
}

static void token_init_once(void)
{
	/* Fetched once: EVP_sha256() would make every digest init look the provider up again. */
	token_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	token_tls_key_ok = pthread_key_create(&token_tls_key, token_tls_free) == 0;
}

/* The calling thread's state, created on first use; NULL on allocation failure. */
static struct token_tls *token_tls_get(void)
{
	struct token_tls *t;

	if (token_tls != NULL)
		return token_tls;
	pthread_once(&token_once, token_init_once);
	if (token_sha256 == NULL || !token_tls_key_ok)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->md = EVP_MD_CTX_new();
	if (t->md == NULL || pthread_setspecific(token_tls_key, t) != 0) {
		token_tls_free(t);
		return NULL;
	}
	token_tls = t;
	return t;
}

/* A verify context ready for `k`, from the thread's slots or freshly prepared. */
static EVP_PKEY_CTX *token_ctx_get(struct token_tls *t, const struct conf_key *k)
{
	EVP_PKEY_CTX *ctx;
	struct token_slot *s;
	size_t i;

	for (i = 0; i < TOKEN_CTX_SLOTS; i++) {
		if (t->slot[i].pk == k->pkey && t->slot[i].ctx != NULL)
			return t->slot[i].ctx;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (ctx == NULL)
		return NULL;
	if (EVP_PKEY_verify_init(ctx) != 1)
		goto fail;
	if (k->alg == KEY_ALG_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
		goto fail;
	/* With the digest named, RSA verification rebuilds and compares the DigestInfo itself. */
	if (EVP_PKEY_CTX_set_signature_md(ctx, token_sha256) != 1)
		goto fail;
	s = &t->slot[t->next];
	t->next = (t->next + 1) % TOKEN_CTX_SLOTS;
	EVP_PKEY_CTX_free(s->ctx);
	s->ctx = ctx;
	s->pk = k->pkey;
	return ctx;
fail:
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/* 1 when the 32-byte big-endian integer x is in [1, n-1] for P-256. */
static int token_p256_scalar_ok(const unsigned char *x)
{
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < 32; i++)
		acc |= x[i];
	if (acc == 0)
		return 0;
	return memcmp(x, token_p256_n, 32) < 0;
}

/* DER INTEGER of a 32-byte unsigned big-endian value; returns bytes written (<= 35). */
static size_t token_der_int(const unsigned char *x, unsigned char *out)
{
	size_t i = 0, n, o = 0;

	while (i < 31 && x[i] == 0)
		i++;
	n = 32 - i;
	out[o++] = 0x02;
	out[o++] = (unsigned char)(n + (x[i] & 0x80 ? 1 : 0));
	if (x[i] & 0x80)
		out[o++] = 0x00;
	memcpy(out + o, x + i, n);
	return o + n;
}

/* Verify one signature with one key. 1 valid, 0 not. */
static int token_sig_ok(struct token_tls *t, const struct conf_key *k, const unsigned char *dgst,
    const unsigned char *sig, size_t siglen)
{
	unsigned char der[2 + 2 * 35];
	EVP_PKEY_CTX *ctx;
	size_t derlen;
	int ok = 0;

	if (k->pkey == NULL)
		return 0;
	switch (k->alg) {
	case KEY_ALG_RS256:
		/* RFC 7518 3.3: the signature is exactly as long as the modulus. */
		if (siglen != (size_t)EVP_PKEY_get_size(k->pkey))
			return 0;
		break;
	case KEY_ALG_ES256:
		/* RFC 7518 3.4: r || s, 32 bytes each; r, s in [1, n-1] (refuses r = s = 0). */
		if (siglen != TOKEN_ES256_SIG_LEN || !token_p256_scalar_ok(sig) ||
		    !token_p256_scalar_ok(sig + 32))
			return 0;
		derlen = 2;
		derlen += token_der_int(sig, der + derlen);
		derlen += token_der_int(sig + 32, der + derlen);
		der[0] = 0x30;
		der[1] = (unsigned char)(derlen - 2);
		sig = der;
		siglen = derlen;
		break;
	case KEY_ALG_NONE:
	default:
		return 0;
	}
	ctx = token_ctx_get(t, k);
	if (ctx == NULL)
		goto cleanup;
	ok = EVP_PKEY_verify(ctx, sig, siglen, dgst, 32) == 1;
cleanup:
	if (!ok)
		ERR_clear_error();
	return ok;
}

/*
 * A strict JSON reader (RFC 8259) for the two small documents of a token. It replaces jansson
 * on the request path: jansson allocates every value and cost about a fifth of an RSA-2048
 * verification per token; this reads in place with no allocation. It refuses what jansson with
 * JSON_REJECT_DUPLICATES refuses: duplicate keys (at any depth, compared after unescaping),
 * invalid UTF-8, unpaired surrogates, \u0000, control characters, trailing data; and it bounds
 * depth and keys per object.
 */
#define TJ_MAX_DEPTH	8
#define TJ_MAX_KEYS	64
#define TJ_KEY_ARENA	1024

struct tjson {
	const unsigned char	*p;
	const unsigned char	*end;
	int			 depth;
};

struct tj_num {
	bool	is_int;
	int64_t	i;
	double	d;
};

/* Called with j->p on a member's value (after the colon); must consume it. 0 / -1. */
typedef int (*tj_member_fn)(struct tjson *j, const char *key, size_t klen, void *arg);
/* Called with j->p on element `idx` of an array; must consume it. 0 / -1. */
typedef int (*tj_elem_fn)(struct tjson *j, size_t idx, void *arg);

static int tj_value(struct tjson *j);

static void tj_ws(struct tjson *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int tj_peek(const struct tjson *j)
{
	return j->p < j->end ? *j->p : -1;
}

static int tj_hex4(const unsigned char *p, unsigned *out)
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
static void tj_put(char *out, size_t cap, size_t *n, const unsigned char *b, size_t k)
{
	if (out != NULL && *n + k <= cap)
		memcpy(out + *n, b, k);
	*n += k;
}

/* A string at j->p ('"'). Decoded bytes go to out while they fit in cap; *lenp gets the full
 * decoded length (the caller compares it with cap). -1 on any syntax or encoding error. */
static int tj_string(struct tjson *j, char *out, size_t cap, size_t *lenp)
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
				if (end - p < 6 || tj_hex4(p + 2, &cp) == -1)
					return -1;
				p += 6;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return -1;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    tj_hex4(p + 2, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
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
				tj_put(out, cap, &n, u, k);
				continue;
			default:
				return -1;
			}
			tj_put(out, cap, &n, u, 1);
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
		tj_put(out, cap, &n, p, k);
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
static int tj_number(struct tjson *j, struct tj_num *num)
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

static int tj_literal(struct tjson *j, const char *lit, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

/* An object at j->p. Each member's value goes to fn (or is validated and skipped). */
static int tj_object(struct tjson *j, tj_member_fn fn, void *arg)
{
	char arena[TJ_KEY_ARENA];
	size_t off[TJ_MAX_KEYS], len[TJ_MAX_KEYS], nkeys = 0, used = 0, kl, i;
	int rc = -1;

	if (j->depth >= TJ_MAX_DEPTH || tj_peek(j) != '{')
		return -1;
	j->depth++;
	j->p++;
	tj_ws(j);
	if (tj_peek(j) == '}') {
		j->p++;
		rc = 0;
		goto done;
	}
	for (;;) {
		tj_ws(j);
		if (tj_peek(j) != '"' || nkeys == TJ_MAX_KEYS ||
		    tj_string(j, arena + used, sizeof(arena) - used, &kl) == -1 ||
		    kl > sizeof(arena) - used)
			goto done;
		for (i = 0; i < nkeys; i++) {
			if (len[i] == kl && memcmp(arena + off[i], arena + used, kl) == 0)
				goto done;      /* duplicate key */
		}
		off[nkeys] = used;
		len[nkeys++] = kl;
		used += kl;
		tj_ws(j);
		if (tj_peek(j) != ':')
			goto done;
		j->p++;
		tj_ws(j);
		if ((fn != NULL ? fn(j, arena + off[nkeys - 1], kl, arg) : tj_value(j)) == -1)
			goto done;
		tj_ws(j);
		if (tj_peek(j) == ',') {
			j->p++;
			continue;
		}
		if (tj_peek(j) != '}')
			goto done;
		j->p++;
		rc = 0;
		goto done;
	}
done:
	j->depth--;
	return rc;
}

static int tj_array(struct tjson *j, tj_elem_fn fn, void *arg)
{
	size_t idx = 0;
	int rc = -1;

	if (j->depth >= TJ_MAX_DEPTH || tj_peek(j) != '[')
		return -1;
	j->depth++;
	j->p++;
	tj_ws(j);
	if (tj_peek(j) == ']') {
		j->p++;
		rc = 0;
		goto done;
	}
	for (;; idx++) {
		tj_ws(j);
		if ((fn != NULL ? fn(j, idx, arg) : tj_value(j)) == -1)
			goto done;
		tj_ws(j);
		if (tj_peek(j) == ',') {
			j->p++;
			continue;
		}
		if (tj_peek(j) != ']')
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
static int tj_value(struct tjson *j)
{
	switch (tj_peek(j)) {
	case '{':
		return tj_object(j, NULL, NULL);
	case '[':
		return tj_array(j, NULL, NULL);
	case '"':
		return tj_string(j, NULL, 0, NULL);
	case 't':
		return tj_literal(j, "true", 4);
	case 'f':
		return tj_literal(j, "false", 5);
	case 'n':
		return tj_literal(j, "null", 4);
	default:
		return tj_number(j, NULL);
	}
}

/* A whole document: one object, nothing after it but whitespace. */
static int tj_document(const unsigned char *p, size_t len, tj_member_fn fn, void *arg)
{
	struct tjson j = { p, p + len, 0 };

	tj_ws(&j);
	if (tj_object(&j, fn, arg) == -1)
		return -1;
	tj_ws(&j);
	return j.p == j.end ? 0 : -1;
}

static bool tj_key_is(const char *key, size_t klen, const char *lit)
{
	return strlen(lit) == klen && memcmp(key, lit, klen) == 0;
}

/* A string value of at most TOKEN_ID_MAX bytes into dst; anything else marks *bad. */
static int tj_id_string(struct tjson *j, char dst[TOKEN_ID_MAX + 1], bool *bad)
{
	size_t n;

	if (tj_peek(j) != '"') {
		*bad = true;
		return tj_value(j);
	}
	if (tj_string(j, dst, TOKEN_ID_MAX, &n) == -1)
		return -1;
	if (n > TOKEN_ID_MAX) {
		*bad = true;
		n = 0;
	}
	dst[n] = '\0';
	return 0;
}

/* A NumericDate (RFC 7519 2): integer or real. `up` rounds reals up (nbf) instead of down
 * (exp, iat), so a fraction never widens the validity window. Other types mark *bad. */
static int tj_numeric_date(struct tjson *j, int up, int64_t *out, bool *bad)
{
	struct tj_num num;
	int64_t t;
	int c = tj_peek(j);

	if (c != '-' && (c < '0' || c > '9')) {
		*bad = true;
		return tj_value(j);
	}
	if (tj_number(j, &num) == -1)
		return -1;
	if (num.is_int) {
		*out = num.i;
		return 0;
	}
	if (!(num.d > -9.0e18 && num.d < 9.0e18)) {
		*bad = true;
		return 0;
	}
	t = (int64_t)num.d;
	if (up && (double)t < num.d)
		t++;
	else if (!up && (double)t > num.d)
		t--;
	*out = t;
	return 0;
}

struct token_pay {
	struct token_claims	*c;
	bool			 bad;
	bool			 has_ac;        /* application_claim[0] was an object */
	bool			 has_ns;
	bool			 has_app;
};

static int token_ac_member(struct tjson *j, const char *key, size_t klen, void *arg)
{
	struct token_pay *tp = arg;

	if (tj_key_is(key, klen, "namespace_id")) {
		tp->has_ns = true;
		return tj_id_string(j, tp->c->namespace_id, &tp->bad);
	}
	if (tj_key_is(key, klen, "application_id")) {
		tp->has_app = true;
		return tj_id_string(j, tp->c->application_id, &tp->bad);
	}
	return tj_value(j);
}

static int token_ac_elem(struct tjson *j, size_t idx, void *arg)
{
	struct token_pay *tp = arg;

	if (idx != 0)
		return tj_value(j);
	if (tj_peek(j) != '{') {
		tp->bad = true;
		return tj_value(j);
	}
	tp->has_ac = true;
	return tj_object(j, token_ac_member, tp);
}

static int token_pay_member(struct tjson *j, const char *key, size_t klen, void *arg)
{
	struct token_pay *tp = arg;
	struct token_claims *c = tp->c;

	if (tj_key_is(key, klen, "exp")) {
		c->has_exp = true;
		return tj_numeric_date(j, 0, &c->exp, &tp->bad);
	}
	if (tj_key_is(key, klen, "nbf")) {
		c->has_nbf = true;
		return tj_numeric_date(j, 1, &c->nbf, &tp->bad);
	}
	if (tj_key_is(key, klen, "iat")) {
		c->has_iat = true;
		return tj_numeric_date(j, 0, &c->iat, &tp->bad);
	}
	if (tj_key_is(key, klen, "jti"))
		return tj_id_string(j, c->jti, &tp->bad);
	if (tj_key_is(key, klen, "iss"))
		return tj_id_string(j, c->iss, &tp->bad);
	if (tj_key_is(key, klen, "application_claim")) {
		if (tj_peek(j) != '[') {
			tp->bad = true;
			return tj_value(j);
		}
		return tj_array(j, token_ac_elem, tp);
	}
	return tj_value(j);
}

/* Parse and type-check the claims of a verified payload into *c. */
static enum token_status token_claims_parse(const unsigned char *p, size_t len,
    struct token_claims *c)
{
	struct token_pay tp = { c, false, false, false, false };

	if (tj_document(p, len, token_pay_member, &tp) == -1 || tp.bad)
		return TOKEN_MALFORMED;
	/* Scaleway layout: [{"namespace_id": ..., "application_id": ...}], exactly one set. */
	if (!tp.has_ac || !tp.has_ns || !tp.has_app ||
	    (c->namespace_id[0] != '\0') == (c->application_id[0] != '\0'))
		return TOKEN_MALFORMED;
	return TOKEN_OK;
}

struct token_hdr {
	enum key_alg	 alg;
	char		*kid;
	size_t		 kidcap;
	size_t		 kidlen;
	bool		 haskid;
	bool		 kid_long;
	bool		 bad;
	bool		 crit;
};

static int token_hdr_member(struct tjson *j, const char *key, size_t klen, void *arg)
{
	struct token_hdr *h = arg;
	char alg[16];
	size_t n;

	if (tj_key_is(key, klen, "alg")) {
		if (tj_peek(j) != '"')
			return tj_value(j);     /* alg stays NONE: TOKEN_ALG */
		if (tj_string(j, alg, sizeof(alg), &n) == -1)
			return -1;
		if (n <= sizeof(alg))
			h->alg = keys_alg_from_name(alg, n);
		return 0;
	}
	if (tj_key_is(key, klen, "kid")) {
		if (tj_peek(j) != '"') {
			h->bad = true;
			return tj_value(j);
		}
		if (tj_string(j, h->kid, h->kidcap - 1, &n) == -1)
			return -1;
		h->haskid = true;
		if (n > h->kidcap - 1)
			h->kid_long = true;     /* no configured kid is that long */
		else
			h->kid[n] = '\0';
		h->kidlen = n;
		return 0;
	}
	/* RFC 7515 4.1.11: we implement no extension, so any "crit" makes the token unusable. */
	if (tj_key_is(key, klen, "crit"))
		h->crit = true;
	/* "jwk", "jku", "x5c", "x5u" are never read: keys come from configuration only. */
	return tj_value(j);
}

/* Read the header: the alg it names must be a pinned one; kid, if any, picks the key. */
static enum token_status token_header_parse(const unsigned char *p, size_t len,
    enum key_alg *alg, char *kid, size_t kidcap, size_t *kidlen, int *haskid)
{
	struct token_hdr h;

	memset(&h, 0, sizeof(h));
	h.alg = KEY_ALG_NONE;
	h.kid = kid;
	h.kidcap = kidcap;
	if (tj_document(p, len, token_hdr_member, &h) == -1 || h.bad || h.crit)
		return TOKEN_MALFORMED;
	if (h.alg == KEY_ALG_NONE)
		return TOKEN_ALG;
	if (h.kid_long)
		return TOKEN_KID_UNKNOWN;   /* no configured kid is that long */
	*alg = h.alg;
	*haskid = h.haskid;
	*kidlen = h.kidlen;
	return TOKEN_OK;
}

enum token_status token_verify(const struct conf_namespace *ns, const char *tok, size_t len,
    size_t max_len, struct token_claims *out)
{
	unsigned char buf[B64URL_DECODED_MAX(TOKEN_HARD_MAX) + 8];
	unsigned char sig[TOKEN_SIG_MAX];
	unsigned char dgst[EVP_MAX_MD_SIZE];
	const char *d1, *d2;
	const unsigned char *hdr, *pay;
	enum token_status st = TOKEN_MALFORMED;
	enum key_alg alg = KEY_ALG_NONE;
	struct token_tls *t;
	char kid[256];
	size_t kidlen = 0, hlen, plen, slen = 0, used = 0, i, ncand = 0, nkid = 0;
	long n;
	int haskid = 0, siglong;

	memset(out, 0, sizeof(*out));
	if (max_len == 0 || max_len > TOKEN_HARD_MAX)
		max_len = TOKEN_HARD_MAX;
	if (ns == NULL || tok == NULL || len == 0 || len > max_len)
		return TOKEN_MALFORMED;

	/* Exactly three parts. */
	d1 = memchr(tok, '.', len);
	if (d1 == NULL)
		return TOKEN_MALFORMED;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return TOKEN_MALFORMED;

	/* Strict base64url for all three before any JSON. */
	n = b64url_decode(tok, (size_t)(d1 - tok), buf, sizeof(buf));
	if (n < 0)
		goto cleanup;
	hdr = buf;
	hlen = (size_t)n;
	used = hlen;
	n = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf + used, sizeof(buf) - used);
	if (n < 0)
		goto cleanup;
	pay = buf + used;
	plen = (size_t)n;
	used += plen;
	/* A signature longer than any key we accept can produce is refused below, after the
	 * alg check, so that e.g. alg "none" is reported as such whatever follows it. */
	siglong = (size_t)(tok + len - d2 - 1) > B64URL_ENCODED_LEN(sizeof(sig));
	if (!siglong) {
		n = b64url_decode(d2 + 1, (size_t)(tok + len - d2 - 1), sig, sizeof(sig));
		if (n < 0)
			goto cleanup;
		slen = (size_t)n;
	}

	st = token_header_parse(hdr, hlen, &alg, kid, sizeof(kid), &kidlen, &haskid);
	if (st != TOKEN_OK)
		goto cleanup;

	/* The alg must be the pinned alg of a candidate key, decided before any crypto. A kid
	 * that names no key of the namespace is its own refusal: the operator's question is then
	 * "which key signed this?", not "which algorithm?". */
	for (i = 0; i < ns->nkeys; i++) {
		if (haskid && (strlen(ns->keys[i].kid) != kidlen ||
		    memcmp(ns->keys[i].kid, kid, kidlen) != 0))
			continue;
		nkid++;
		if (ns->keys[i].alg == alg)
			ncand++;
	}
	if (ncand == 0) {
		st = haskid && nkid == 0 ? TOKEN_KID_UNKNOWN : TOKEN_ALG;
		goto cleanup;
	}

	st = TOKEN_SIGNATURE;
	t = token_tls_get();
	if (t == NULL || siglong)
		goto cleanup;
	/* SHA-256 of the signing input (RFC 7515 5.2 step 8): the first two parts as sent. */
	if (EVP_DigestInit_ex2(t->md, token_sha256, NULL) != 1 ||
	    EVP_DigestUpdate(t->md, tok, (size_t)(d2 - tok)) != 1 ||
	    EVP_DigestFinal_ex(t->md, dgst, NULL) != 1)
		goto cleanup;
	for (i = 0; i < ns->nkeys; i++) {
		const struct conf_key *k = &ns->keys[i];

		if (k->alg != alg || (haskid && (strlen(k->kid) != kidlen ||
		    memcmp(k->kid, kid, kidlen) != 0)))
			continue;
		if (token_sig_ok(t, k, dgst, sig, slen)) {
			out->key = k;
			break;
		}
	}
	if (out->key == NULL)
		goto cleanup;

	st = token_claims_parse(pay, plen, out);
	if (st != TOKEN_OK) {
		const struct conf_key *k = out->key;

		/* Keep nothing half-parsed, but remember which key signed it. */
		memset(out, 0, sizeof(*out));
		out->key = k;
	}
cleanup:
	util_wipe(sig, slen);
	util_wipe(buf, used);
	return st;
}

enum token_status token_check_time(const struct token_claims *c, int64_t now, long leeway_s)
{
	int64_t lw = leeway_s > 0 ? leeway_s : 0;
	/* now -/+ leeway, saturated: neither a huge exp or nbf nor an extreme clock can overflow
	 * (fuzz_token found now + leeway overflowing at INT64_MAX). */
	int64_t lo = now >= INT64_MIN + lw ? now - lw : INT64_MIN;
	int64_t hi = now <= INT64_MAX - lw ? now + lw : INT64_MAX;

	if (c->has_exp && c->exp <= lo)
		return TOKEN_EXPIRED;
	if (c->has_nbf && c->nbf > hi)
		return TOKEN_NOT_YET_VALID;
	/* Minted later than now by more than the clocks may disagree: a token from a signer whose
	 * clock is wrong, or made to outlive a rotation. nbf alone would not catch it when the
	 * signer left nbf out or set it to iat. */
	if (c->has_iat && c->iat > hi)
		return TOKEN_ISSUED_IN_FUTURE;
	return TOKEN_OK;
}

enum token_status token_check_scope(const struct token_claims *c, const struct conf_namespace *ns,
    const char *function_id)
{
	if (ns == NULL || ns->id == NULL)
		return TOKEN_SCOPE;
	if (ns->issuer != NULL && strcmp(c->iss, ns->issuer) != 0)
		return TOKEN_SCOPE;
	if (c->namespace_id[0] != '\0' && c->application_id[0] == '\0')
		return strcmp(c->namespace_id, ns->id) == 0 ? TOKEN_OK : TOKEN_SCOPE;
	if (c->application_id[0] != '\0' && c->namespace_id[0] == '\0' && function_id != NULL)
		return strcmp(c->application_id, function_id) == 0 ? TOKEN_OK : TOKEN_SCOPE;
	return TOKEN_SCOPE;
}

const char *token_status_name(enum token_status st)
{
	switch (st) {
	case TOKEN_OK:
		return "ok";
	case TOKEN_MALFORMED:
		return "token_malformed";
	case TOKEN_ALG:
		return "token_alg";
	case TOKEN_SIGNATURE:
		return "token_signature";
	case TOKEN_EXPIRED:
		return "token_expired";
	case TOKEN_NOT_YET_VALID:
		return "token_not_yet_valid";
	case TOKEN_SCOPE:
		return "token_scope";
	case TOKEN_KID_UNKNOWN:
		return "token_kid_unknown";
	case TOKEN_ISSUED_IN_FUTURE:
		return "token_issued_in_future";
	}
	return "token_malformed";
}
