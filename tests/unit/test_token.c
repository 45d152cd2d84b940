/* test_token.c - the JWT verifier against third-party vectors (Wycheproof, RFC 7515, RFC 7520,
 * Scaleway's real tokens) and against tokens minted here, by hand and with libjwt. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "conf.h"
#include "keys.h"
#include "testutil.h"
#include "token.h"
#include "util.h"

#define MAXTOK 16384

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *load_json(const char *rel)
{
	json_error_t err;
	json_t *j = json_load_file(tu_vector_path(rel), 0, &err);

	ck_assert_msg(j != NULL, "%s: %s", rel, err.text);
	return j;
}

static BIGNUM *b64_bn(const char *s)
{
	unsigned char buf[1024];
	long n = b64url_decode(s, strlen(s), buf, sizeof(buf));

	ck_assert_int_ge(n, 1);
	return BN_bin2bn(buf, (int)n, NULL);
}

/* A public EVP_PKEY from a JWK (RSA n/e or EC P-256 x/y); NULL for other key types. */
static EVP_PKEY *jwk_to_pkey(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char pub[65];

	ck_assert_ptr_nonnull(bld);
	if (kty != NULL && strcmp(kty, "RSA") == 0) {
		n = b64_bn(json_string_value(json_object_get(jwk, "n")));
		e = b64_bn(json_string_value(json_object_get(jwk, "e")));
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (kty != NULL && strcmp(kty, "EC") == 0 &&
	    strcmp(json_string_value(json_object_get(jwk, "crv")), "P-256") == 0) {
		const char *x = json_string_value(json_object_get(jwk, "x"));
		const char *y = json_string_value(json_object_get(jwk, "y"));

		pub[0] = 0x04;
		ck_assert_int_eq(b64url_decode(x, strlen(x), pub + 1, 32), 32);
		ck_assert_int_eq(b64url_decode(y, strlen(y), pub + 33, 32), 32);
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		OSSL_PARAM_BLD_free(bld);
		return NULL;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ck_assert_ptr_nonnull(params);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

static EVP_PKEY *gen_key(enum key_alg alg, int bits)
{
	EVP_PKEY *pk;

	if (alg == KEY_ALG_RS256)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(pk);
	return pk;
}

/* Sign `input` with priv: RS256 PKCS#1 v1.5, ES256 as JOSE r||s. Returns b64url into out. */
static void sign_b64(EVP_PKEY *priv, enum key_alg alg, const char *input, char *out, size_t cap)
{
	unsigned char sig[1024], rs[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const unsigned char *p;
	ECDSA_SIG *es;

	ck_assert_int_eq(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, priv, NULL), 1);
	ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input,
	    strlen(input)), 1);
	EVP_MD_CTX_free(md);
	if (alg == KEY_ALG_ES256) {
		p = sig;
		es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		ck_assert_ptr_nonnull(es);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
		ECDSA_SIG_free(es);
		memcpy(sig, rs, 64);
		siglen = 64;
	}
	ck_assert_int_ge(b64url_encode(sig, siglen, out, cap), 0);
}

/* A compact JWS from raw header and payload texts, signed with priv (priv NULL: `sigb64`). */
static char *mint_raw(EVP_PKEY *priv, enum key_alg alg, const char *hdr, const char *pay,
    const char *sigb64)
{
	char *tok = malloc(MAXTOK);
	size_t o;

	ck_assert_ptr_nonnull(tok);
	ck_assert_int_ge(b64url_encode((const unsigned char *)hdr, strlen(hdr), tok, MAXTOK), 0);
	o = strlen(tok);
	tok[o++] = '.';
	ck_assert_int_ge(b64url_encode((const unsigned char *)pay, strlen(pay), tok + o,
	    MAXTOK - o), 0);
	o = strlen(tok);
	if (priv != NULL) {
		char sig[2048];

		sign_b64(priv, alg, tok, sig, sizeof(sig));
		snprintf(tok + o, MAXTOK - o, ".%s", sig);
	} else {
		snprintf(tok + o, MAXTOK - o, ".%s", sigb64 ? sigb64 : "");
	}
	return tok;
}

#define NS_ID   "ns-0001"
#define FN_ID   "fn-0001"
#define PAY_NS  "{\"application_claim\":[{\"namespace_id\":\"" NS_ID "\",\"application_id\":\"\"}]," \
		"\"version\":2,\"aud\":\"functions\",\"jti\":\"jti-1\",\"iat\":1700000000," \
		"\"nbf\":1700000000,\"exp\":1900000000,\"iss\":\"SCALEWAY\",\"sub\":\"token\"}"
#define HDR_RS  "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define HDR_ES  "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

/* Test fixture: one namespace holding an RS256-2048 key and an ES256 key. */
static EVP_PKEY *rs_priv, *es_priv, *other_rs_priv;
static struct conf_key fx_keys[2];
static struct conf_namespace fx_ns;

static void fx_setup(void)
{
	rs_priv = gen_key(KEY_ALG_RS256, 2048);
	es_priv = gen_key(KEY_ALG_ES256, 0);
	other_rs_priv = gen_key(KEY_ALG_RS256, 2048);
	memset(fx_keys, 0, sizeof(fx_keys));
	fx_keys[0].kid = (char *)"rs";
	fx_keys[0].alg = KEY_ALG_RS256;
	fx_keys[0].pkey = rs_priv;     /* verification only uses the public half */
	fx_keys[1].kid = (char *)"es";
	fx_keys[1].alg = KEY_ALG_ES256;
	fx_keys[1].pkey = es_priv;
	memset(&fx_ns, 0, sizeof(fx_ns));
	fx_ns.id = (char *)NS_ID;
	fx_ns.keys = fx_keys;
	fx_ns.nkeys = 2;
}

static void fx_teardown(void)
{
	EVP_PKEY_free(rs_priv);
	EVP_PKEY_free(es_priv);
	EVP_PKEY_free(other_rs_priv);
	rs_priv = es_priv = other_rs_priv = NULL;
}

static enum token_status verify(const struct conf_namespace *ns, const char *tok,
    struct token_claims *c)
{
	struct token_claims local;

	return token_verify(ns, tok, strlen(tok), 8192, c ? c : &local);
}

/* ---- Wycheproof ------------------------------------------------------------------------- */

/* Every RS256 / ES256 group with a signing key: the key is pinned to its alg under its kid.
 * The vectors' payloads are not claim sets ("foo"), so "signature valid" shows as out.key set
 * (token_verify then refuses the claims as TOKEN_MALFORMED); "invalid" must leave it NULL. */
START_TEST(test_wycheproof_jws)
{
	json_t *root = load_json("wycheproof/json_web_signature_test.json");
	json_t *groups = json_object_get(root, "testGroups"), *g, *t;
	size_t gi, ti, checked = 0, valid = 0, confusion = 0;

	json_array_foreach(groups, gi, g) {
		json_t *pub = json_object_get(g, "public");
		const char *alg = json_string_value(json_object_get(pub, "alg"));
		const char *use = json_string_value(json_object_get(pub, "use"));
		json_t *ops = json_object_get(pub, "key_ops");
		struct conf_key key = {0};
		struct conf_namespace ns = {0};
		char kidbuf[128];
		enum key_alg a;
		int pinned;

		if (pub == NULL)
			continue;       /* HS256 groups: no public key (see test_alg_confusion) */
		a = keys_alg_from_name(alg ? alg : "", alg ? strlen(alg) : 0);
		/* Keys marked for encryption test JWK "use"/"key_ops" semantics; our keys come
		 * from configuration with a pinned alg, so those groups do not apply. */
		if ((use != NULL && strcmp(use, "sig") != 0) ||
		    (ops != NULL && strcmp(json_string_value(json_array_get(ops, 0)), "verify") != 0))
			continue;
		key.pkey = jwk_to_pkey(pub);
		if (key.pkey == NULL)
			continue;       /* P-521: no ES512 here */
		ck_assert_ptr_nonnull(json_string_value(json_object_get(pub, "kid")));
		snprintf(kidbuf, sizeof(kidbuf), "%s", json_string_value(json_object_get(pub, "kid")));
		key.kid = kidbuf;
		pinned = a != KEY_ALG_NONE;
		/* Groups of other algs (RS384, PS256...): pin the key to RS256/ES256 anyway; then
		 * no token of the group (they name other algs) may verify: TOKEN_ALG or worse. */
		key.alg = pinned ? a : (EVP_PKEY_is_a(key.pkey, "RSA") ? KEY_ALG_RS256 : KEY_ALG_ES256);
		ns.id = (char *)"wycheproof";
		ns.keys = &key;
		ns.nkeys = 1;
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *jws = json_string_value(json_object_get(t, "jws"));
			const char *result = json_string_value(json_object_get(t, "result"));
			int tc = (int)json_integer_value(json_object_get(t, "tcId"));
			struct token_claims c;
			enum token_status st;

			if (jws == NULL)
				continue;       /* JSON serialization: not a compact token */
			st = token_verify(&ns, jws, strlen(jws), 8192, &c);
			if (pinned) {
				int ok = c.key != NULL;

				ck_assert_msg(ok == (strcmp(result, "valid") == 0),
				    "tcId %d (%s): verdict %s, got status %d key %p", tc,
				    json_string_value(json_object_get(t, "comment")), result, st,
				    (const void *)c.key);
				ck_assert(st != TOKEN_OK);      /* never a claim set */
				valid += ok;
				checked++;
			} else {
				const char *d = strchr(jws, '.');
				char hdr[512];
				long n = d ? b64url_decode(jws, (size_t)(d - jws),
				    (unsigned char *)hdr, sizeof(hdr) - 1) : -1;

				/* A token naming RS256 under an RSA key pinned RS256 could verify:
				 * tcId 332 (PS512 key used with RS256) is exactly that; skip it. */
				if (n > 0) {
					hdr[n] = '\0';
					if (strstr(hdr, "\"RS256\"") == NULL &&
					    strstr(hdr, "\"ES256\"") == NULL) {
						ck_assert_msg(st == TOKEN_ALG, "tcId %d: %d", tc, st);
						ck_assert_ptr_null(c.key);
					}
				}
				confusion++;
			}
		}
		EVP_PKEY_free(key.pkey);
	}
	json_decref(root);
	/* 15 + 226 + 5 + 1 + 1 + 24 pinned vectors; 10 of them valid. */
	ck_assert_int_eq(checked, 272);
	ck_assert_int_eq(valid, 10);
	ck_assert_int_gt(confusion, 60);
}
END_TEST

/* The HS256 groups (and the PS/RS384 ones above) must never verify against an asymmetric key. */
START_TEST(test_wycheproof_hs256_refused)
{
	json_t *root = load_json("wycheproof/json_web_signature_test.json");
	json_t *g, *t;
	size_t gi, ti, n = 0;

	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		if (json_object_get(g, "public") != NULL)
			continue;
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *jws = json_string_value(json_object_get(t, "jws"));
			struct token_claims c;
			enum token_status st;

			if (jws == NULL)
				continue;
			st = verify(&fx_ns, jws, &c);
			ck_assert(st == TOKEN_ALG || st == TOKEN_MALFORMED);
			ck_assert_ptr_null(c.key);
			n++;
		}
	}
	json_decref(root);
	ck_assert_int_ge(n, 35);
}
END_TEST

/* ---- RFC 7515 A.2 / A.3, RFC 7520 4.1 / 4.3 --------------------------------------------- */

START_TEST(test_rfc7515)
{
	json_t *root = load_json("rfc7515/rfc7515_A2_A3.json"), *v;
	size_t i, n = 0;

	json_array_foreach(json_object_get(root, "vectors"), i, v) {
		const char *alg = json_string_value(json_object_get(v, "alg"));
		const char *compact = json_string_value(json_object_get(v, "compact"));
		const char *pem = json_string_value(json_object_get(v, "public_pem"));
		enum key_alg a = keys_alg_from_name(alg, strlen(alg));
		struct conf_key key = {0};
		struct conf_namespace ns = {0};
		struct token_claims c;
		EVP_PKEY *fromjwk;
		char err[256];

		key.pkey = keys_public_from_pem(pem, strlen(pem), a, err, sizeof(err));
		ck_assert_msg(key.pkey != NULL, "%s", err);
		fromjwk = jwk_to_pkey(json_object_get(v, "public_jwk"));
		ck_assert_int_eq(EVP_PKEY_eq(key.pkey, fromjwk), 1);
		key.kid = (char *)"k0";
		key.alg = a;
		ns.id = (char *)"ns";
		ns.keys = &key;
		ns.nkeys = 1;
		/* Signature valid (A.3's S is high: no low-S demand); the claims are not in the
		 * Scaleway layout, so the verdict is MALFORMED with the verifying key set. */
		ck_assert_int_eq(verify(&ns, compact, &c), TOKEN_MALFORMED);
		ck_assert_ptr_eq(c.key, &key);
		/* Pinned to the other alg: refused before any crypto. */
		key.alg = a == KEY_ALG_RS256 ? KEY_ALG_ES256 : KEY_ALG_RS256;
		ck_assert_int_eq(verify(&ns, compact, &c), TOKEN_ALG);
		EVP_PKEY_free(key.pkey);
		EVP_PKEY_free(fromjwk);
		n++;
	}
	json_decref(root);
	ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(test_jose_cookbook)
{
	json_t *r41 = load_json("jose-cookbook/jws/4_1.rsa_v15_signature.json");
	json_t *r43 = load_json("jose-cookbook/jws/4_3.ecdsa_signature.json");
	const char *c41 = json_string_value(json_object_get(json_object_get(r41, "output"), "compact"));
	const char *c43 = json_string_value(json_object_get(json_object_get(r43, "output"), "compact"));
	struct conf_key keys[2] = {{0}};
	struct conf_namespace ns = {0};
	struct token_claims c;

	keys[0].pkey = jwk_to_pkey(json_object_get(json_object_get(r41, "input"), "key"));
	keys[0].kid = (char *)"bilbo.baggins@hobbiton.example";
	keys[0].alg = KEY_ALG_RS256;
	keys[1].pkey = gen_key(KEY_ALG_ES256, 0);
	keys[1].kid = (char *)"bilbo.baggins@hobbiton.example";
	keys[1].alg = KEY_ALG_ES256;
	ns.id = (char *)"ns";
	ns.keys = keys;
	ns.nkeys = 2;
	ck_assert_int_eq(verify(&ns, c41, &c), TOKEN_MALFORMED);        /* text payload */
	ck_assert_ptr_eq(c.key, &keys[0]);
	/* 4.3 is ES512 (P-521): not an alg we accept, whatever the kid. */
	ck_assert_int_eq(verify(&ns, c43, &c), TOKEN_ALG);
	ck_assert_ptr_null(c.key);
	EVP_PKEY_free(keys[0].pkey);
	EVP_PKEY_free(keys[1].pkey);
	json_decref(r41);
	json_decref(r43);
}
END_TEST

/* ---- Scaleway's real tokens ------------------------------------------------------------- */

START_TEST(test_scaleway_tokens)
{
	json_t *root = load_json("scaleway-tokens.json"), *t;
	size_t i, nns = 0, nfn = 0;
	int64_t now = (int64_t)time(NULL);

	json_array_foreach(json_object_get(root, "tokens"), i, t) {
		const char *tok = json_string_value(json_object_get(t, "token"));
		const char *pem = json_string_value(json_object_get(t, "public_key_pem"));
		const char *scope = json_string_value(json_object_get(t, "scope"));
		const char *jti = json_string_value(json_object_get(t, "id"));
		struct conf_key key = {0};
		struct conf_namespace ns = {0};
		struct token_claims c;
		char err[256], idbuf[128];

		key.pkey = keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err));
		ck_assert_msg(key.pkey != NULL, "%s", err);
		ck_assert_int_eq(EVP_PKEY_get_bits(key.pkey), 4096);
		key.kid = (char *)"k0";
		key.alg = KEY_ALG_RS256;
		ns.keys = &key;
		ns.nkeys = 1;
		ns.issuer = (char *)"SCALEWAY";
		ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_OK);
		ck_assert_str_eq(c.jti, jti);
		ck_assert_str_eq(c.iss, "SCALEWAY");
		if (strcmp(scope, "namespace") == 0) {
			const char *nsid = json_string_value(json_object_get(t, "namespace_id"));

			snprintf(idbuf, sizeof(idbuf), "%s", nsid);
			ns.id = idbuf;
			ck_assert_str_eq(c.namespace_id, nsid);
			ck_assert_str_eq(c.application_id, "");
			ck_assert(c.has_exp && c.has_nbf);
			/* Long past at the real clock; valid inside [nbf, exp). */
			ck_assert_int_eq(token_check_time(&c, now, 30), TOKEN_EXPIRED);
			ck_assert_int_eq(token_check_time(&c, (c.nbf + c.exp) / 2, 30), TOKEN_OK);
			ck_assert_int_eq(token_check_time(&c, c.exp + 31, 30), TOKEN_EXPIRED);
			ck_assert_int_eq(token_check_time(&c, c.nbf - 60, 30), TOKEN_NOT_YET_VALID);
			ck_assert_int_eq(token_check_scope(&c, &ns, "any-function"), TOKEN_OK);
			ns.id = (char *)"another-namespace";
			ck_assert_int_eq(token_check_scope(&c, &ns, "any-function"), TOKEN_SCOPE);
			nns++;
		} else {
			const char *fid = json_string_value(json_object_get(t,
			    strcmp(scope, "function") == 0 ? "function_id" : "container_id"));

			ns.id = (char *)"its-namespace";
			ck_assert_str_eq(c.namespace_id, "");
			ck_assert_str_eq(c.application_id, fid);
			ck_assert(!c.has_exp);
			ck_assert_int_eq(token_check_time(&c, now, 0), TOKEN_OK);
			ck_assert_int_eq(token_check_scope(&c, &ns, fid), TOKEN_OK);
			ck_assert_int_eq(token_check_scope(&c, &ns, "another-function"), TOKEN_SCOPE);
			ck_assert_int_eq(token_check_scope(&c, &ns, NULL), TOKEN_SCOPE);
			nfn++;
		}
		/* The issuer pin is honoured. */
		ns.issuer = (char *)"SOMEONE-ELSE";
		ck_assert_int_eq(token_check_scope(&c, &ns,
		    c.application_id[0] ? c.application_id : NULL), TOKEN_SCOPE);
		EVP_PKEY_free(key.pkey);
	}
	json_decref(root);
	ck_assert_int_eq(nns, 17);
	ck_assert_int_eq(nfn, 17);
}
END_TEST

/* ---- algorithm confusion and alg:none --------------------------------------------------- */

static char *pubkey_pem(EVP_PKEY *pk)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(PEM_write_bio_PUBKEY(b, pk), 1);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

/* HS256 whose HMAC key is the public PEM text: libjwt's jwt_decode accepts this (NOTES.md). */
START_TEST(test_alg_confusion_hs256_pem)
{
	char *pem = pubkey_pem(rs_priv);
	jwt_t *jwt = NULL;
	char *tok;

	ck_assert_int_eq(jwt_new(&jwt), 0);
	ck_assert_int_eq(jwt_add_grants_json(jwt, PAY_NS), 0);
	ck_assert_int_eq(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)pem,
	    (int)strlen(pem)), 0);
	tok = jwt_encode_str(jwt);
	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(verify(&fx_ns, tok, NULL), TOKEN_ALG);
	free(tok);
	jwt_free(jwt);
	free(pem);
}
END_TEST

START_TEST(test_alg_none)
{
	static const char *algs[] = { "none", "None", "NONE", "nOnE", "", "HS256", "HS384",
	    "HS512", "PS256", "RS384", "RS512", "ES384", "ES512", "EdDSA", "rs256", "RS256 ",
	    "es256" };
	char huge[2000];
	const char *sigs[] = { "", "AAAA", "c2ln", huge };
	struct token_claims c;
	char hdr[128];
	size_t i, j;

	memset(huge, 'A', sizeof(huge) - 1);    /* longer than any RSA-8192 signature */
	huge[sizeof(huge) - 1] = '\0';
	for (i = 0; i < ARRAY_LEN(algs); i++) {
		for (j = 0; j < ARRAY_LEN(sigs); j++) {
			char *tok;

			snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
			tok = mint_raw(NULL, KEY_ALG_NONE, hdr, PAY_NS, sigs[j]);
			ck_assert_msg(verify(&fx_ns, tok, &c) == TOKEN_ALG, "alg %s sig %zu",
			    algs[i], j);
			ck_assert_ptr_null(c.key);
			free(tok);
		}
	}
}
END_TEST

#define KID10 "kkkkkkkkkk"
#define KID300 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 \
	KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 \
	KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10 KID10

/* Header shapes: each row a header text and the expected status (signed properly). */
START_TEST(test_header_table)
{
	static const struct {
		const char *hdr;
		enum key_alg signer;
		enum token_status want;
	} rows[] = {
		{ HDR_RS, KEY_ALG_RS256, TOKEN_OK },
		{ HDR_ES, KEY_ALG_ES256, TOKEN_OK },
		{ "{\"alg\":\"RS256\"}", KEY_ALG_RS256, TOKEN_OK },
		{ "{\"alg\":\"RS256\",\"kid\":\"rs\"}", KEY_ALG_RS256, TOKEN_OK },
		{ "{\"alg\":\"ES256\",\"kid\":\"es\"}", KEY_ALG_ES256, TOKEN_OK },
		/* kid names a key of another alg (the alg is wrong), or no key at all (its own
		 * reason), or is longer than any configured kid; alg "none" stays token_alg */
		{ "{\"alg\":\"RS256\",\"kid\":\"es\"}", KEY_ALG_RS256, TOKEN_ALG },
		{ "{\"alg\":\"RS256\",\"kid\":\"nope\"}", KEY_ALG_RS256, TOKEN_KID_UNKNOWN },
		{ "{\"alg\":\"ES256\",\"kid\":\"RS\"}", KEY_ALG_ES256, TOKEN_KID_UNKNOWN },
		{ "{\"alg\":\"RS256\",\"kid\":\"\"}", KEY_ALG_RS256, TOKEN_KID_UNKNOWN },
		{ "{\"alg\":\"RS256\",\"kid\":\"" KID300 "\"}", KEY_ALG_RS256, TOKEN_KID_UNKNOWN },
		{ "{\"alg\":\"none\",\"kid\":\"nope\"}", KEY_ALG_RS256, TOKEN_ALG },
		{ "{\"alg\":\"RS256\",\"kid\":7}", KEY_ALG_RS256, TOKEN_MALFORMED },
		/* alg absent or not a string */
		{ "{\"typ\":\"JWT\"}", KEY_ALG_RS256, TOKEN_ALG },
		{ "{\"alg\":null}", KEY_ALG_RS256, TOKEN_ALG },
		{ "{\"alg\":[\"RS256\"]}", KEY_ALG_RS256, TOKEN_ALG },
		/* duplicate keys, crit, not an object, trailing garbage */
		{ "{\"alg\":\"RS256\",\"alg\":\"RS256\"}", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "{\"alg\":\"none\",\"alg\":\"RS256\"}", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "[\"RS256\"]", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "\"RS256\"", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "{\"alg\":\"RS256\"} x", KEY_ALG_RS256, TOKEN_MALFORMED },
		{ "", KEY_ALG_RS256, TOKEN_MALFORMED },
		/* jku / x5u / x5c are ignored: a correctly signed token stays valid */
		{ "{\"alg\":\"RS256\",\"jku\":\"https://evil/jwks\",\"x5u\":\"https://evil/c\","
		  "\"x5c\":[\"AAAA\"]}", KEY_ALG_RS256, TOKEN_OK },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		EVP_PKEY *signer = rows[i].signer == KEY_ALG_RS256 ? rs_priv : es_priv;
		char *tok = mint_raw(signer, rows[i].signer, rows[i].hdr, PAY_NS, NULL);
		struct token_claims c;

		ck_assert_msg(verify(&fx_ns, tok, &c) == rows[i].want, "row %zu: %s -> %d", i,
		    rows[i].hdr, verify(&fx_ns, tok, &c));
		free(tok);
	}
}
END_TEST

/* An attacker embeds their own key as "jwk" and signs with it: the jwk is never used. */
START_TEST(test_embedded_jwk)
{
	const BIGNUM *n = NULL, *e = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	unsigned char buf[512];
	char nb[1024], eb[16], hdr[2048];
	char *tok;
	int len;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(other_rs_priv, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
	ck_assert_int_eq(EVP_PKEY_get_bn_param(other_rs_priv, OSSL_PKEY_PARAM_RSA_E, &be), 1);
	n = bn;
	e = be;
	len = BN_bn2bin(n, buf);
	b64url_encode(buf, (size_t)len, nb, sizeof(nb));
	len = BN_bn2bin(e, buf);
	b64url_encode(buf, (size_t)len, eb, sizeof(eb));
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"jwk\":{\"kty\":\"RSA\",\"n\":\"%s\","
	    "\"e\":\"%s\"}}", nb, eb);
	tok = mint_raw(other_rs_priv, KEY_ALG_RS256, hdr, PAY_NS, NULL);
	ck_assert_int_eq(verify(&fx_ns, tok, NULL), TOKEN_SIGNATURE);
	free(tok);
	BN_free(bn);
	BN_free(be);
}
END_TEST

/* Structure and base64url: each row mangles a valid token. */
START_TEST(test_structure)
{
	char *good = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, PAY_NS, NULL);
	char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
	char buf[MAXTOK];
	struct token_claims c;
	size_t glen = strlen(good);

	ck_assert_int_eq(verify(&fx_ns, good, &c), TOKEN_OK);
	ck_assert_str_eq(c.jti, "jti-1");
	ck_assert_ptr_eq(c.key, &fx_keys[0]);

	/* stripped signature, and the separator too */
	snprintf(buf, sizeof(buf), "%.*s.", (int)(d2 - good), good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_SIGNATURE);
	snprintf(buf, sizeof(buf), "%.*s", (int)(d2 - good), good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	/* four parts, two dots together */
	snprintf(buf, sizeof(buf), "%s.", good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	snprintf(buf, sizeof(buf), "%s.AAAA", good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	/* padding on the signature, the header; whitespace; '+' '/' alphabet */
	snprintf(buf, sizeof(buf), "%s=", good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	snprintf(buf, sizeof(buf), "%.*s=%s", (int)(d1 - good), good, d1);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	snprintf(buf, sizeof(buf), " %s", good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	snprintf(buf, sizeof(buf), "%s\n", good);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	snprintf(buf, sizeof(buf), "%.*s %s", (int)(d2 - good), good, d2);
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	memcpy(buf, good, glen + 1);
	buf[d2 - good + 5] = '+';
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_MALFORMED);
	/* empty token, over max_len */
	ck_assert_int_eq(token_verify(&fx_ns, good, 0, 8192, &c), TOKEN_MALFORMED);
	ck_assert_int_eq(token_verify(&fx_ns, good, glen, glen - 1, &c), TOKEN_MALFORMED);
	ck_assert_int_eq(token_verify(&fx_ns, good, glen, glen, &c), TOKEN_OK);
	/* an embedded NUL is a byte outside the alphabet */
	memcpy(buf, good, glen + 1);
	buf[3] = '\0';
	ck_assert_int_eq(token_verify(&fx_ns, buf, glen, 8192, &c), TOKEN_MALFORMED);
	/* a flipped signature byte */
	memcpy(buf, good, glen + 1);
	buf[glen - 10] = buf[glen - 10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(&fx_ns, buf, NULL), TOKEN_SIGNATURE);
	free(good);
}
END_TEST

/* Non-canonical base64url: trailing bits set in the last character of the payload. */
START_TEST(test_noncanonical_b64)
{
	static const char *pays[] = { PAY_NS, PAY_NS " ", PAY_NS "  " };
	size_t i, tested = 0;

	for (i = 0; i < ARRAY_LEN(pays); i++) {
		char *tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, pays[i], NULL);
		char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
		size_t plen = (size_t)(d2 - d1 - 1);
		static const char alpha[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *p;

		if (plen % 4 == 0) {
			free(tok);
			continue;
		}
		ck_assert_int_eq(verify(&fx_ns, tok, NULL), TOKEN_OK);
		p = strchr(alpha, d2[-1]);
		d2[-1] = alpha[(p - alpha) | 1];        /* the lowest trailing bit set */
		ck_assert_int_eq(verify(&fx_ns, tok, NULL), TOKEN_MALFORMED);
		tested++;
		free(tok);
	}
	ck_assert_int_ge(tested, 2);
}
END_TEST

/* Claims: each row a payload and the expected status (always correctly signed). */
START_TEST(test_claims_table)
{
	static const struct {
		const char *pay;
		enum token_status want;
	} rows[] = {
		{ PAY_NS, TOKEN_OK },
		{ "{\"application_claim\":[{\"namespace_id\":\"\",\"application_id\":\"fn\"}]}", TOKEN_OK },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"exp\":1900000000.75,\"nbf\":1.5,\"iat\":2.0}", TOKEN_OK },
		/* duplicate keys, at the top and inside application_claim */
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"exp\":1,\"exp\":1900000000}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"namespace_id\":\"m\","
		  "\"application_id\":\"\"}]}", TOKEN_MALFORMED },
		/* time claims of the wrong type */
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"exp\":\"1900000000\"}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"nbf\":\"0\"}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"iat\":true}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"exp\":null}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"exp\":1e300}", TOKEN_MALFORMED },
		/* application_claim shapes */
		{ "{\"exp\":1900000000}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":{\"namespace_id\":\"n\",\"application_id\":\"\"}}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"f\"}]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"\",\"application_id\":\"\"}]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\"}]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":1,\"application_id\":\"\"}]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[\"n\"]}", TOKEN_MALFORMED },
		/* jti / iss types and sizes */
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"jti\":42}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"iss\":[]}", TOKEN_MALFORMED },
		{ "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
		  "\"jti\":\"\\u0000x\"}", TOKEN_MALFORMED },
		/* not an object / not JSON */
		{ "[1,2]", TOKEN_MALFORMED },
		{ "foo", TOKEN_MALFORMED },
		{ "", TOKEN_MALFORMED },
	};
	char longjti[300], pay[600];
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		char *tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, rows[i].pay, NULL);
		struct token_claims c;
		enum token_status st = verify(&fx_ns, tok, &c);

		ck_assert_msg(st == rows[i].want, "row %zu: %s -> %d", i, rows[i].pay, st);
		/* the signature verified in every row */
		ck_assert_ptr_eq(c.key, &fx_keys[0]);
		free(tok);
	}
	/* jti of TOKEN_ID_MAX bytes passes, one more does not */
	for (i = 0; i < 2; i++) {
		char *tok;

		memset(longjti, 'j', TOKEN_ID_MAX + i);
		longjti[TOKEN_ID_MAX + i] = '\0';
		snprintf(pay, sizeof(pay), "{\"application_claim\":[{\"namespace_id\":\"n\","
		    "\"application_id\":\"\"}],\"jti\":\"%s\"}", longjti);
		tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, pay, NULL);
		ck_assert_int_eq(verify(&fx_ns, tok, NULL), i == 0 ? TOKEN_OK : TOKEN_MALFORMED);
		free(tok);
	}
}
END_TEST

/* The JSON reader: every row a payload around a valid application_claim, signed; the reader
 * must refuse exactly what strict RFC 8259 + no-duplicates refuses. */
START_TEST(test_json_strict)
{
#define AC "\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}]"
	static const struct {
		const char *pay;
		enum token_status want;
	} rows[] = {
		{ "{" AC "}", TOKEN_OK },
		{ " \t\r\n{ " AC " , \"x\" : [ 1 , -0.5e+3 , true , false , null , { } , [ ] ] }\n",
		  TOKEN_OK },
		{ "{" AC ",\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00 \xc3\xa9 \xf0\x9f\x98\x80\"}",
		  TOKEN_OK },
		{ "{" AC ",\"o\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}}", TOKEN_OK },
		{ "{" AC ",\"jti\":\"\\u0061\\u0062\"}", TOKEN_OK },
		/* nesting past the depth bound */
		{ "{" AC ",\"o\":[[[[[[[[[1]]]]]]]]]}", TOKEN_MALFORMED },
		/* duplicates, also when spelled with escapes, also nested */
		{ "{" AC ",\"\\u0065xp\":1,\"exp\":2}", TOKEN_MALFORMED },
		{ "{" AC ",\"o\":{\"k\":1,\"k\":1}}", TOKEN_MALFORMED },
		{ "{" AC ",\"" "application_claim\":[]}", TOKEN_MALFORMED },
		/* strings: control characters, bad escapes, bad UTF-8, surrogates, NUL */
		{ "{" AC ",\"s\":\"a\tb\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\x41\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\u12\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\ud800\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\udc00\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\ud800\\u0041\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\\u0000\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\xc0\xaf\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\xed\xa0\x80\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\xf4\x90\x80\x80\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\xe2\x82\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"\xff\"}", TOKEN_MALFORMED },
		{ "{" AC ",\"s\":\"open}", TOKEN_MALFORMED },
		/* numbers */
		{ "{" AC ",\"n\":01}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":1.}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":.5}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":-}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":+1}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":1e}", TOKEN_MALFORMED },
		{ "{" AC ",\"n\":NaN}", TOKEN_MALFORMED },
		{ "{" AC ",\"exp\":9223372036854775808}", TOKEN_MALFORMED },
		{ "{" AC ",\"exp\":-9223372036854775808}", TOKEN_OK },
		/* structure */
		{ "{" AC ",}", TOKEN_MALFORMED },
		{ "{" AC ",\"a\":[1,]}", TOKEN_MALFORMED },
		{ "{" AC ",\"a\" 1}", TOKEN_MALFORMED },
		{ "{" AC ",'a':1}", TOKEN_MALFORMED },
		{ "{" AC ",\"a\":tru}", TOKEN_MALFORMED },
		{ "{" AC "}{}", TOKEN_MALFORMED },
		{ "{" AC "} x", TOKEN_MALFORMED },
		{ "{" AC, TOKEN_MALFORMED },
		{ "\xef\xbb\xbf{" AC "}", TOKEN_MALFORMED },
	};
#undef AC
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		char *tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, rows[i].pay, NULL);
		struct token_claims c;
		enum token_status st = verify(&fx_ns, tok, &c);

		ck_assert_msg(st == rows[i].want, "row %zu: %s -> %d", i, rows[i].pay, st);
		ck_assert_ptr_eq(c.key, &fx_keys[0]);
		free(tok);
	}
}
END_TEST

/* Reals round toward the safe side: exp down, nbf up. */
START_TEST(test_claims_values)
{
	char *tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS,
	    "{\"application_claim\":[{\"namespace_id\":\"n\",\"application_id\":\"\"}],"
	    "\"exp\":1900000000.75,\"nbf\":1800000000.25,\"iat\":5}", NULL);
	struct token_claims c;

	ck_assert_int_eq(verify(&fx_ns, tok, &c), TOKEN_OK);
	ck_assert(c.has_exp && c.has_nbf);
	ck_assert_int_eq(c.exp, 1900000000);
	ck_assert_int_eq(c.nbf, 1800000001);
	ck_assert_int_eq(c.iat, 5);
	ck_assert(c.has_iat);
	ck_assert_str_eq(c.namespace_id, "n");
	ck_assert_str_eq(c.jti, "");
	free(tok);
}
END_TEST

/* Keys: without kid every key of the alg is tried; ES256 high-S is accepted. */
START_TEST(test_keys_and_es256)
{
	struct conf_key keys[3] = {{0}};
	struct conf_namespace ns = {0};
	struct token_claims c;
	char *tok, *d2, sigb[200];
	unsigned char sig[64];
	BIGNUM *s, *n;
	long sl;

	keys[0].kid = (char *)"a";
	keys[0].alg = KEY_ALG_RS256;
	keys[0].pkey = other_rs_priv;
	keys[1].kid = (char *)"b";
	keys[1].alg = KEY_ALG_RS256;
	keys[1].pkey = rs_priv;
	keys[2].kid = (char *)"c";
	keys[2].alg = KEY_ALG_ES256;
	keys[2].pkey = es_priv;
	ns.id = (char *)NS_ID;
	ns.keys = keys;
	ns.nkeys = 3;
	tok = mint_raw(rs_priv, KEY_ALG_RS256, HDR_RS, PAY_NS, NULL);
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_OK);
	ck_assert_ptr_eq(c.key, &keys[1]);
	ns.nkeys = 1;           /* only the other RSA key */
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_SIGNATURE);
	free(tok);

	/* ES256 with s replaced by n - s: the same signature in high/low-S form, both valid. */
	ns.nkeys = 3;
	tok = mint_raw(es_priv, KEY_ALG_ES256, HDR_ES, PAY_NS, NULL);
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_OK);
	ck_assert_ptr_eq(c.key, &keys[2]);
	d2 = strrchr(tok, '.');
	sl = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
	ck_assert_int_eq(sl, 64);
	s = BN_bin2bn(sig + 32, 32, NULL);
	n = NULL;
	ck_assert_int_ne(BN_hex2bn(&n,
	    "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"), 0);
	ck_assert_int_eq(BN_sub(s, n, s), 1);
	BN_bn2binpad(s, sig + 32, 32);
	b64url_encode(sig, 64, sigb, sizeof(sigb));
	strcpy(d2 + 1, sigb);
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_OK);
	/* s = n: out of range */
	BN_bn2binpad(n, sig + 32, 32);
	b64url_encode(sig, 64, sigb, sizeof(sigb));
	strcpy(d2 + 1, sigb);
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_SIGNATURE);
	/* a DER signature instead of r||s */
	strcpy(d2 + 1, "MEUCIQDt");
	ck_assert_int_eq(verify(&ns, tok, &c), TOKEN_SIGNATURE);
	BN_free(s);
	BN_free(n);
	free(tok);
}
END_TEST

/* Cross-check: tokens minted by libjwt (RS256, ES256) verify here. */
START_TEST(test_libjwt_minted)
{
	static const struct {
		enum key_alg alg;
		jwt_alg_t jalg;
	} rows[] = { { KEY_ALG_RS256, JWT_ALG_RS256 }, { KEY_ALG_ES256, JWT_ALG_ES256 } };
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		EVP_PKEY *pk = rows[i].alg == KEY_ALG_RS256 ? rs_priv : es_priv;
		BIO *b = BIO_new(BIO_s_mem());
		struct token_claims c;
		jwt_t *jwt = NULL;
		char *pem, *tok;
		long n;

		ck_assert_int_eq(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(b, &pem);
		ck_assert_int_eq(jwt_new(&jwt), 0);
		ck_assert_int_eq(jwt_add_grants_json(jwt, PAY_NS), 0);
		ck_assert_int_eq(jwt_set_alg(jwt, rows[i].jalg, (const unsigned char *)pem, (int)n), 0);
		tok = jwt_encode_str(jwt);
		ck_assert_ptr_nonnull(tok);
		ck_assert_int_eq(verify(&fx_ns, tok, &c), TOKEN_OK);
		ck_assert_str_eq(c.namespace_id, NS_ID);
		ck_assert_int_eq(c.exp, 1900000000);
		ck_assert_int_eq(token_check_scope(&c, &fx_ns, FN_ID), TOKEN_OK);
		free(tok);
		jwt_free(jwt);
		BIO_free(b);
	}
}
END_TEST

/* iat beyond now + leeway: token_issued_in_future; within the leeway (a signer whose clock runs
 * a few seconds ahead) it passes. Each row: iat present?, iat, now, leeway, expected. */
START_TEST(test_issued_in_future_table)
{
	static const struct {
		bool has_iat;
		int64_t iat, now;
		long leeway;
		enum token_status want;
	} rows[] = {
		{ false, 0, 1000, 0, TOKEN_OK },                        /* no iat: not checked */
		{ true, 1000, 1000, 0, TOKEN_OK },                      /* minted now */
		{ true, 1001, 1000, 0, TOKEN_ISSUED_IN_FUTURE },        /* one second ahead, no leeway */
		{ true, 1029, 1000, 30, TOKEN_OK },                     /* leeway - 1 */
		{ true, 1030, 1000, 30, TOKEN_OK },                     /* exactly the leeway */
		{ true, 1031, 1000, 30, TOKEN_ISSUED_IN_FUTURE },       /* leeway + 1 */
		{ true, 5, 1000, 30, TOKEN_OK },                        /* long ago */
		{ true, INT64_MAX, 1000, 30, TOKEN_ISSUED_IN_FUTURE },  /* saturated, no overflow */
		{ true, INT64_MAX, INT64_MAX, 30, TOKEN_OK },
		{ true, 1031, 1000, -5, TOKEN_ISSUED_IN_FUTURE },       /* negative leeway: 0 */
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		struct token_claims c;

		memset(&c, 0, sizeof(c));
		c.has_iat = rows[i].has_iat;
		c.iat = rows[i].iat;
		ck_assert_msg(token_check_time(&c, rows[i].now, rows[i].leeway) == rows[i].want,
			      "row %zu", i);
	}
}
END_TEST

START_TEST(test_time_and_scope)
{
	struct token_claims c;
	struct conf_namespace ns = {0};

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(token_check_time(&c, 1000, 0), TOKEN_OK);     /* no exp: valid */
	c.has_exp = true;
	c.exp = 1000;
	ck_assert_int_eq(token_check_time(&c, 999, 0), TOKEN_OK);
	ck_assert_int_eq(token_check_time(&c, 1000, 0), TOKEN_EXPIRED);
	ck_assert_int_eq(token_check_time(&c, 1029, 30), TOKEN_OK);
	ck_assert_int_eq(token_check_time(&c, 1030, 30), TOKEN_EXPIRED);
	c.exp = INT64_MAX;
	ck_assert_int_eq(token_check_time(&c, 1000, 30), TOKEN_OK);
	c.has_nbf = true;
	c.nbf = 2000;
	ck_assert_int_eq(token_check_time(&c, 1969, 30), TOKEN_NOT_YET_VALID);
	ck_assert_int_eq(token_check_time(&c, 1970, 30), TOKEN_OK);
	c.nbf = INT64_MAX;
	ck_assert_int_eq(token_check_time(&c, 1970, 30), TOKEN_NOT_YET_VALID);

	ns.id = (char *)"ns";
	memset(&c, 0, sizeof(c));
	strcpy(c.namespace_id, "ns");
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_OK);
	ck_assert_int_eq(token_check_scope(&c, &ns, NULL), TOKEN_OK);
	strcpy(c.namespace_id, "ns2");
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_SCOPE);
	memset(&c, 0, sizeof(c));
	strcpy(c.application_id, "f");
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_OK);
	ck_assert_int_eq(token_check_scope(&c, &ns, "g"), TOKEN_SCOPE);
	/* a function token naming the namespace id as function id opens nothing else */
	ck_assert_int_eq(token_check_scope(&c, &ns, "ns"), TOKEN_SCOPE);
	ns.issuer = (char *)"ISS";
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_SCOPE);
	strcpy(c.iss, "ISS");
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_OK);
	memset(&c, 0, sizeof(c));       /* neither id: nothing */
	ck_assert_int_eq(token_check_scope(&c, &ns, "f"), TOKEN_SCOPE);
	ck_assert_str_eq(token_status_name(TOKEN_SIGNATURE), "token_signature");
	ck_assert_str_eq(token_status_name(TOKEN_NOT_YET_VALID), "token_not_yet_valid");
}
END_TEST

static Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("vectors");
	TCase *tm = tcase_create("minted");

	tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_test(tc, test_wycheproof_jws);
	tcase_add_test(tc, test_wycheproof_hs256_refused);
	tcase_add_test(tc, test_rfc7515);
	tcase_add_test(tc, test_jose_cookbook);
	tcase_add_test(tc, test_scaleway_tokens);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(tm, fx_setup, fx_teardown);
	tcase_add_test(tm, test_alg_confusion_hs256_pem);
	tcase_add_test(tm, test_alg_none);
	tcase_add_test(tm, test_header_table);
	tcase_add_test(tm, test_embedded_jwk);
	tcase_add_test(tm, test_structure);
	tcase_add_test(tm, test_noncanonical_b64);
	tcase_add_test(tm, test_claims_table);
	tcase_add_test(tm, test_json_strict);
	tcase_add_test(tm, test_claims_values);
	tcase_add_test(tm, test_keys_and_es256);
	tcase_add_test(tm, test_libjwt_minted);
	tcase_add_test(tm, test_time_and_scope);
	tcase_add_test(tm, test_issued_in_future_table);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	return tu_run(token_suite());
}
