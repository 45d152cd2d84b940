/* mint.c - minting tokens in the Scaleway claim layout with libjwt (admin API and CLI only). */
#include "mint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "util.h"

/* libjwt 1.10 takes keys as PEM text: write the private key to a memory buffer, hand it over,
 * and wipe both copies (ours here; libjwt scrubs its own in jwt_free). */
static unsigned char *key_pem(EVP_PKEY *key, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char *out = NULL;
	char *data = NULL;
	long l;

	if (b == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto cleanup;
	l = BIO_get_mem_data(b, &data);
	if (l <= 0)
		goto cleanup;
	out = malloc((size_t)l + 1);
	if (out == NULL)
		goto cleanup;
	memcpy(out, data, (size_t)l);
	out[l] = '\0';
	*len = (size_t)l;
cleanup:
	l = BIO_get_mem_data(b, &data);
	if (l > 0)
		util_wipe(data, (size_t)l);
	BIO_free(b);
	return out;
}

char *mint_token_ex(const struct mint_params *p)
{
	jwt_t *jwt = NULL;
	unsigned char *pem = NULL;
	size_t pemlen = 0;
	json_t *claim = NULL;
	char *cj = NULL, *enc = NULL, *tok = NULL;
	jwt_alg_t ja;

	if (p->key == NULL || p->jti == NULL || (p->ns_id == NULL) == (p->function_id == NULL))
		return NULL;
	if (p->alg == KEY_ALG_RS256)
		ja = JWT_ALG_RS256;
	else if (p->alg == KEY_ALG_ES256)
		ja = JWT_ALG_ES256;
	else
		return NULL;
	pem = key_pem(p->key, &pemlen);
	if (pem == NULL || jwt_new(&jwt) != 0)
		goto cleanup;
	if (jwt_set_alg(jwt, ja, pem, (int)pemlen) != 0)
		goto cleanup;
	if (p->kid != NULL && jwt_add_header(jwt, "kid", p->kid) != 0)
		goto cleanup;
	claim = json_pack("{s:[{s:s,s:s}]}", "application_claim",
			  "namespace_id", p->ns_id ? p->ns_id : "",
			  "application_id", p->function_id ? p->function_id : "");
	if (claim == NULL)
		goto cleanup;
	cj = json_dumps(claim, JSON_COMPACT);
	if (cj == NULL || jwt_add_grants_json(jwt, cj) != 0)
		goto cleanup;
	if (jwt_add_grant_int(jwt, "version", 2) != 0 ||
	    jwt_add_grant(jwt, "aud", "functions") != 0 ||
	    jwt_add_grant(jwt, "jti", p->jti) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)p->iat) != 0 ||
	    jwt_add_grant_int(jwt, "nbf", (long)(p->nbf ? p->nbf : p->iat)) != 0 ||
	    jwt_add_grant(jwt, "iss", p->iss ? p->iss : MINT_DEFAULT_ISS) != 0 ||
	    jwt_add_grant(jwt, "sub", "token") != 0)
		goto cleanup;
	if (p->exp != 0 && jwt_add_grant_int(jwt, "exp", (long)p->exp) != 0)
		goto cleanup;
	enc = jwt_encode_str(jwt);
	if (enc == NULL)
		goto cleanup;
	/* Our own copy, so the caller's util_free_secret never meets libjwt's allocator. */
	tok = strdup(enc);
cleanup:
	if (enc != NULL) {
		util_wipe(enc, strlen(enc));
		free(enc);
	}
	free(cj);
	json_decref(claim);
	jwt_free(jwt);
	if (pem != NULL) {
		util_wipe(pem, pemlen);
		free(pem);
	}
	return tok;
}

char *mint_token(EVP_PKEY *key, enum key_alg alg, const char *kid, const char *ns_id,
		 const char *function_id, const char *jti, int64_t iat, int64_t exp)
{
	struct mint_params p = {
		.key = key, .alg = alg, .kid = kid, .ns_id = ns_id, .function_id = function_id,
		.jti = jti, .iat = iat, .exp = exp, .iss = NULL,
	};

	return mint_token_ex(&p);
}
