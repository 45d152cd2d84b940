/* token.c - the JWT verifier: structure, pinned alg, signature (OpenSSL), claims (jansson). */
#include "token.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "conf.h"
#include "keys.h"
#include "util.h"

/* Hard ceiling on a token whatever max_len says: it sizes the stack buffers below. */
#define TOKEN_HARD_MAX		16384
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

/* Copy a JSON string of at most TOKEN_ID_MAX bytes into dst. 0 / -1. */
static int token_copy_str(const json_t *v, char dst[TOKEN_ID_MAX + 1])
{
	size_t n;

	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (n > TOKEN_ID_MAX)
		return -1;
	memcpy(dst, json_string_value(v), n);
	dst[n] = '\0';
	return 0;
}

/* A NumericDate (RFC 7519 2): integer or real. `up` rounds reals up (nbf) instead of down
 * (exp, iat), so a fraction never widens the validity window. 0 / -1. */
static int token_numeric_date(const json_t *v, int up, int64_t *out)
{
	double d;
	int64_t t;

	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (!(d > -9.0e18 && d < 9.0e18))
		return -1;
	t = (int64_t)d;
	if (up && (double)t < d)
		t++;
	else if (!up && (double)t > d)
		t--;
	*out = t;
	return 0;
}

/* Parse and type-check the claims of a verified payload into *c. */
static enum token_status token_claims_parse(const unsigned char *p, size_t len,
    struct token_claims *c)
{
	enum token_status st = TOKEN_MALFORMED;
	const json_t *v, *ac, *first;
	json_error_t jerr;
	json_t *root;

	root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root))
		goto cleanup;

	if ((v = json_object_get(root, "exp")) != NULL) {
		if (token_numeric_date(v, 0, &c->exp) == -1)
			goto cleanup;
		c->has_exp = true;
	}
	if ((v = json_object_get(root, "nbf")) != NULL) {
		if (token_numeric_date(v, 1, &c->nbf) == -1)
			goto cleanup;
		c->has_nbf = true;
	}
	if ((v = json_object_get(root, "iat")) != NULL &&
	    token_numeric_date(v, 0, &c->iat) == -1)
		goto cleanup;
	if ((v = json_object_get(root, "jti")) != NULL && token_copy_str(v, c->jti) == -1)
		goto cleanup;
	if ((v = json_object_get(root, "iss")) != NULL && token_copy_str(v, c->iss) == -1)
		goto cleanup;

	/* Scaleway layout: [{"namespace_id": ..., "application_id": ...}], one of them set. */
	ac = json_object_get(root, "application_claim");
	if (!json_is_array(ac) || json_array_size(ac) < 1)
		goto cleanup;
	first = json_array_get(ac, 0);
	if (!json_is_object(first) ||
	    token_copy_str(json_object_get(first, "namespace_id"), c->namespace_id) == -1 ||
	    token_copy_str(json_object_get(first, "application_id"), c->application_id) == -1)
		goto cleanup;
	if ((c->namespace_id[0] != '\0') == (c->application_id[0] != '\0'))
		goto cleanup;
	st = TOKEN_OK;
cleanup:
	json_decref(root);
	return st;
}

/* Read the header: the alg it names must be a pinned one; kid, if any, picks the key. */
static enum token_status token_header_parse(const unsigned char *p, size_t len,
    enum key_alg *alg, char *kid, size_t kidcap, size_t *kidlen, int *haskid)
{
	enum token_status st = TOKEN_MALFORMED;
	const json_t *a, *k;
	json_error_t jerr;
	json_t *root;
	size_t n;

	root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root))
		goto cleanup;
	/* RFC 7515 4.1.11: we implement no extension, so any "crit" makes the token unusable. */
	if (json_object_get(root, "crit") != NULL)
		goto cleanup;
	k = json_object_get(root, "kid");
	if (k != NULL) {
		if (!json_is_string(k))
			goto cleanup;
		n = json_string_length(k);
		if (n >= kidcap) {
			st = TOKEN_ALG;     /* no configured kid is that long */
			goto cleanup;
		}
		memcpy(kid, json_string_value(k), n);
		kid[n] = '\0';
		*kidlen = n;
		*haskid = 1;
	}
	/* "jwk", "jku", "x5c", "x5u" are never read: keys come from configuration only. */
	a = json_object_get(root, "alg");
	st = TOKEN_ALG;
	if (!json_is_string(a))
		goto cleanup;
	*alg = keys_alg_from_name(json_string_value(a), json_string_length(a));
	if (*alg == KEY_ALG_NONE)
		goto cleanup;
	st = TOKEN_OK;
cleanup:
	json_decref(root);
	return st;
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
	size_t kidlen = 0, hlen, plen, slen = 0, used = 0, i, ncand = 0;
	long n;
	int haskid = 0;

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
	if ((size_t)(tok + len - d2 - 1) > B64URL_ENCODED_LEN(sizeof(sig))) {
		st = TOKEN_SIGNATURE;       /* longer than any key we accept can produce */
		goto cleanup;
	}
	n = b64url_decode(d2 + 1, (size_t)(tok + len - d2 - 1), sig, sizeof(sig));
	if (n < 0)
		goto cleanup;
	slen = (size_t)n;

	st = token_header_parse(hdr, hlen, &alg, kid, sizeof(kid), &kidlen, &haskid);
	if (st != TOKEN_OK)
		goto cleanup;

	/* The alg must be the pinned alg of a candidate key, decided before any crypto. */
	for (i = 0; i < ns->nkeys; i++) {
		if (haskid && (strlen(ns->keys[i].kid) != kidlen ||
		    memcmp(ns->keys[i].kid, kid, kidlen) != 0))
			continue;
		if (ns->keys[i].alg == alg)
			ncand++;
	}
	if (ncand == 0) {
		st = TOKEN_ALG;
		goto cleanup;
	}

	st = TOKEN_SIGNATURE;
	t = token_tls_get();
	if (t == NULL)
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

	/* Written as comparisons against now -/+ leeway so a huge exp or nbf cannot overflow. */
	if (c->has_exp && c->exp <= now - lw)
		return TOKEN_EXPIRED;
	if (c->has_nbf && c->nbf > now + lw)
		return TOKEN_NOT_YET_VALID;
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
	}
	return "token_malformed";
}
