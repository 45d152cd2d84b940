/* test_mint.c - minted tokens: the exact Scaleway claim layout, accepted by the gateway's verifier
 * (token_verify) and by libjwt (the cross-check), for RS256 and ES256, with and without kid. */
#include <check.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "conf.h"
#include "mint.h"
#include "token.h"
#include "util.h"

static json_t *part(const char *tok, int idx)
{
	const char *p = tok, *e;
	unsigned char buf[4096];
	long n;

	for (int i = 0; i < idx; i++)
		p = strchr(p, '.') + 1;
	e = strchr(p, '.');
	if (e == NULL)
		e = p + strlen(p);
	n = b64url_decode(p, (size_t)(e - p), buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	return json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
}

static char *pub_pem(EVP_PKEY *pk)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long l;

	ck_assert_int_eq(PEM_write_bio_PUBKEY(b, pk), 1);
	l = BIO_get_mem_data(b, &data);
	out = util_strndup(data, (size_t)l);
	BIO_free(b);
	return out;
}

struct mint_case {
	const char  *name;
	enum key_alg alg;
	const char  *kid;
	const char  *ns;
	const char  *fn;
	int64_t      exp;
	const char  *iss;
};

static const struct mint_case cases[] = {
	{"rs256 namespace, kid, exp", KEY_ALG_RS256, "k0123456789abcdef", "ns-1", NULL, 4102444800, NULL},
	{"rs256 function, no kid, no exp", KEY_ALG_RS256, NULL, NULL, "fn-1", 0, "SCALEWAY"},
	{"es256 namespace, no exp", KEY_ALG_ES256, "kes", "ns-1", NULL, 0, "fngate"},
	{"es256 function, exp", KEY_ALG_ES256, NULL, NULL, "fn-1", 4102444800, NULL},
};

START_TEST(test_layout_and_verify)
{
	const struct mint_case *mc = &cases[_i];
	EVP_PKEY *pk = mc->alg == KEY_ALG_RS256 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	struct conf_key key;
	struct conf_namespace ns;
	struct token_claims cl;
	struct mint_params p;
	json_t *h, *c, *ac;
	char *tok, *pem;
	jwt_t *jwt = NULL;

	ck_assert_ptr_nonnull(pk);
	memset(&p, 0, sizeof(p));
	p.key = pk;
	p.alg = mc->alg;
	p.kid = mc->kid;
	p.ns_id = mc->ns;
	p.function_id = mc->fn;
	p.jti = "0b6f7d5e-1c2a-4f00-8e3d-0123456789ab";
	p.iat = 1700000000;
	p.exp = mc->exp;
	p.iss = mc->iss;
	tok = mint_token_ex(&p);
	ck_assert_msg(tok != NULL, "%s: mint failed", mc->name);

	/* Header: alg, typ JWT, kid only when given. */
	h = part(tok, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), keys_alg_name(mc->alg));
	ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
	if (mc->kid != NULL)
		ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), mc->kid);
	else
		ck_assert_ptr_null(json_object_get(h, "kid"));
	/* Payload: exactly Scaleway's claims. */
	c = part(tok, 1);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(json_object_size(c), (mc->exp ? 9u : 8u));
	ac = json_array_get(json_object_get(c, "application_claim"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(c, "application_claim")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(ac, "namespace_id")), mc->ns ? mc->ns : "");
	ck_assert_str_eq(json_string_value(json_object_get(ac, "application_id")), mc->fn ? mc->fn : "");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "version")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), "functions");
	ck_assert_str_eq(json_string_value(json_object_get(c, "jti")), p.jti);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), 1700000000);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "nbf")), 1700000000);
	ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), mc->iss ? mc->iss : "fngate");
	ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), "token");
	if (mc->exp)
		ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), mc->exp);
	else
		ck_assert_ptr_null(json_object_get(c, "exp"));

	/* The gateway's verifier accepts it, with the claims it says. */
	memset(&key, 0, sizeof(key));
	key.kid = (char *)(uintptr_t)(mc->kid ? mc->kid : "k0");
	key.alg = mc->alg;
	key.pkey = pk;
	memset(&ns, 0, sizeof(ns));
	ns.id = (char *)"ns-1";
	ns.keys = &key;
	ns.nkeys = 1;
	ck_assert_int_eq(token_verify(&ns, tok, strlen(tok), 8192, &cl), TOKEN_OK);
	ck_assert_str_eq(cl.jti, p.jti);
	ck_assert_str_eq(cl.namespace_id, mc->ns ? mc->ns : "");
	ck_assert_str_eq(cl.application_id, mc->fn ? mc->fn : "");
	ck_assert(cl.has_exp == (mc->exp != 0));
	ck_assert_int_eq(token_check_time(&cl, 1700000001, 0), TOKEN_OK);
	/* One flipped signature character: refused. */
	{
		size_t n = strlen(tok);
		char saved = tok[n - 2];

		tok[n - 2] = saved == 'A' ? 'B' : 'A';
		ck_assert_int_ne(token_verify(&ns, tok, n, 8192, &cl), TOKEN_OK);
		tok[n - 2] = saved;
	}

	/* libjwt verifies it with the public key (the cross-check). */
	pem = pub_pem(pk);
	ck_assert_int_eq(jwt_decode(&jwt, tok, (const unsigned char *)pem, (int)strlen(pem)), 0);
	ck_assert_str_eq(jwt_get_grant(jwt, "jti"), p.jti);
	jwt_free(jwt);

	free(pem);
	json_decref(h);
	json_decref(c);
	util_free_secret(tok);
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_refusals)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	struct mint_params p;

	memset(&p, 0, sizeof(p));
	p.key = pk;
	p.alg = KEY_ALG_ES256;
	p.jti = "j";
	p.ns_id = "a";
	p.function_id = "b";   /* both */
	ck_assert_ptr_null(mint_token_ex(&p));
	p.ns_id = NULL;
	p.function_id = NULL;  /* neither */
	ck_assert_ptr_null(mint_token_ex(&p));
	p.ns_id = "a";
	p.alg = KEY_ALG_NONE;
	ck_assert_ptr_null(mint_token_ex(&p));
	p.alg = KEY_ALG_ES256;
	p.jti = NULL;
	ck_assert_ptr_null(mint_token_ex(&p));
	/* The plain wrapper: iss "fngate". */
	{
		char *t = mint_token(pk, KEY_ALG_ES256, NULL, "a", NULL, "j", 1, 0);
		json_t *c;

		ck_assert_ptr_nonnull(t);
		c = part(t, 1);
		ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "fngate");
		json_decref(c);
		util_free_secret(t);
	}
	EVP_PKEY_free(pk);
}
END_TEST

static Suite *mint_suite(void)
{
	Suite *s = suite_create("mint");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_layout_and_verify, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(mint_suite());
}
