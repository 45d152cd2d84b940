/* token.c - the JWT verifier: structure, pinned alg, signature (OpenSSL), claims (read in place by
 * the strict JSON reader, sjson.h). */
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
#include "sjson.h"
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

/* A string value of at most TOKEN_ID_MAX bytes into dst; anything else marks *bad. */
static int token_json_id(struct sjson *j, char dst[TOKEN_ID_MAX + 1], bool *bad)
{
	size_t n;

	if (sjson_peek(j) != '"') {
		*bad = true;
		return sjson_value(j);
	}
	if (sjson_string(j, dst, TOKEN_ID_MAX, &n) == -1)
		return -1;
	if (n > TOKEN_ID_MAX) {
		*bad = true;
		n = 0;
	}
	dst[n] = '\0';
	return 0;
}

/* A NumericDate (RFC 7519 2): integer or real. `up` rounds reals up (nbf, iat: refused when
 * later than now + leeway) instead of down (exp: refused when earlier), so a fraction never
 * widens the validity window. Other types mark *bad. */
static int token_json_date(struct sjson *j, int up, int64_t *out, bool *bad)
{
	struct sjson_num num;
	int64_t t;
	int c = sjson_peek(j);

	if (c != '-' && (c < '0' || c > '9')) {
		*bad = true;
		return sjson_value(j);
	}
	if (sjson_number(j, &num) == -1)
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

static int token_ac_member(struct sjson *j, const char *key, size_t klen, void *arg)
{
	struct token_pay *tp = arg;

	if (sjson_key_is(key, klen, "namespace_id")) {
		tp->has_ns = true;
		return token_json_id(j, tp->c->namespace_id, &tp->bad);
	}
	if (sjson_key_is(key, klen, "application_id")) {
		tp->has_app = true;
		return token_json_id(j, tp->c->application_id, &tp->bad);
	}
	return sjson_value(j);
}

static int token_ac_elem(struct sjson *j, size_t idx, void *arg)
{
	struct token_pay *tp = arg;

	if (idx != 0)
		return sjson_value(j);
	if (sjson_peek(j) != '{') {
		tp->bad = true;
		return sjson_value(j);
	}
	tp->has_ac = true;
	return sjson_object(j, token_ac_member, tp);
}

static int token_pay_member(struct sjson *j, const char *key, size_t klen, void *arg)
{
	struct token_pay *tp = arg;
	struct token_claims *c = tp->c;

	if (sjson_key_is(key, klen, "exp")) {
		c->has_exp = true;
		return token_json_date(j, 0, &c->exp, &tp->bad);
	}
	if (sjson_key_is(key, klen, "nbf")) {
		c->has_nbf = true;
		return token_json_date(j, 1, &c->nbf, &tp->bad);
	}
	if (sjson_key_is(key, klen, "iat")) {
		c->has_iat = true;
		return token_json_date(j, 1, &c->iat, &tp->bad);
	}
	if (sjson_key_is(key, klen, "jti"))
		return token_json_id(j, c->jti, &tp->bad);
	if (sjson_key_is(key, klen, "iss"))
		return token_json_id(j, c->iss, &tp->bad);
	if (sjson_key_is(key, klen, "application_claim")) {
		if (sjson_peek(j) != '[') {
			tp->bad = true;
			return sjson_value(j);
		}
		return sjson_array(j, token_ac_elem, tp);
	}
	return sjson_value(j);
}

/* Parse and type-check the claims of a verified payload into *c. */
static enum token_status token_claims_parse(const unsigned char *p, size_t len,
    struct token_claims *c)
{
	struct token_pay tp = { c, false, false, false, false };

	if (sjson_document(p, len, token_pay_member, &tp) == -1 || tp.bad)
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

static int token_hdr_member(struct sjson *j, const char *key, size_t klen, void *arg)
{
	struct token_hdr *h = arg;
	char alg[16];
	size_t n;

	if (sjson_key_is(key, klen, "alg")) {
		if (sjson_peek(j) != '"')
			return sjson_value(j);     /* alg stays NONE: TOKEN_ALG */
		if (sjson_string(j, alg, sizeof(alg), &n) == -1)
			return -1;
		if (n <= sizeof(alg))
			h->alg = keys_alg_from_name(alg, n);
		return 0;
	}
	if (sjson_key_is(key, klen, "kid")) {
		if (sjson_peek(j) != '"') {
			h->bad = true;
			return sjson_value(j);
		}
		if (sjson_string(j, h->kid, h->kidcap - 1, &n) == -1)
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
	if (sjson_key_is(key, klen, "crit"))
		h->crit = true;
	/* "jwk", "jku", "x5c", "x5u" are never read: keys come from configuration only. */
	return sjson_value(j);
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
	if (sjson_document(p, len, token_hdr_member, &h) == -1 || h.bad || h.crit)
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
