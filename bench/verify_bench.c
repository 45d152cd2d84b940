/* verify_bench.c - verifications per second of token_verify / gate_check next to OpenSSL's raw
 * EVP_PKEY_verify on a precomputed digest, measured in the same process, interleaved. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "conf.h"
#include "gate.h"
#include "keys.h"
#include "revoke.h"
#include "tcache.h"
#include "token.h"
#include "util.h"

#define MAXTOK 4096

static double bench_secs = 1.0;
static int bench_rounds = 5;

struct tokset {
	char	**tok;
	size_t	 *len;
	size_t	  n;
};

/* CPU time of this thread in microseconds. Rates are ops per CPU second, as `openssl speed`
 * reports them by default (its divisor is user CPU time): on a shared, loaded machine wall
 * time would measure the neighbours. */
static uint64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
	fprintf(stderr, "verify_bench: %s\n", what);
	exit(1);
}

static char *mint(EVP_PKEY *pk, enum key_alg alg, unsigned serial)
{
	unsigned char sig[1024], rs[64];
	size_t siglen = sizeof(sig), o;
	char hdr[64], pay[512];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *tok = malloc(MAXTOK);
	const unsigned char *p;
	ECDSA_SIG *es;

	if (tok == NULL || md == NULL)
		die("out of memory");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", keys_alg_name(alg));
	/* The Scaleway layout, so the claims parser does its real amount of work. */
	snprintf(pay, sizeof(pay), "{\"application_claim\":[{\"namespace_id\":"
	    "\"90513364-f4fc-4b78-9e2f-483a950e5a0c\",\"application_id\":\"\"}],\"version\":2,"
	    "\"aud\":\"functions\",\"exp\":4102444800,\"jti\":\"bench-%08u-f040-4b78-a033-"
	    "69eab80bdeaa\",\"iat\":1665999407,\"iss\":\"SCALEWAY\",\"nbf\":1665999407,"
	    "\"sub\":\"token\"}", serial);
	b64url_encode((const unsigned char *)hdr, strlen(hdr), tok, MAXTOK);
	o = strlen(tok);
	tok[o++] = '.';
	b64url_encode((const unsigned char *)pay, strlen(pay), tok + o, MAXTOK - o);
	o = strlen(tok);
	if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, o) != 1)
		die("sign");
	EVP_MD_CTX_free(md);
	if (alg == KEY_ALG_ES256) {
		p = sig;
		es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		if (es == NULL)
			die("ecdsa sig");
		BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
		ECDSA_SIG_free(es);
		memcpy(sig, rs, 64);
		siglen = 64;
	}
	tok[o++] = '.';
	b64url_encode(sig, siglen, tok + o, MAXTOK - o);
	return tok;
}

static void tokset_make(struct tokset *ts, EVP_PKEY *pk, enum key_alg alg, size_t n)
{
	size_t i;

	ts->tok = calloc(n, sizeof(*ts->tok));
	ts->len = calloc(n, sizeof(*ts->len));
	if (ts->tok == NULL || ts->len == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		ts->tok[i] = mint(pk, alg, (unsigned)i);
		ts->len[i] = strlen(ts->tok[i]);
	}
	ts->n = n;
}

/* Each runner does as many operations as it can in bench_secs; returns ops/s. */

static double run_verify(const struct conf_namespace *ns, const struct tokset *ts)
{
	uint64_t start = util_mono_us(), end = start + (uint64_t)(bench_secs * 1e6), now;
	uint64_t c0 = cpu_us();
	struct token_claims c;
	size_t ops = 0;

	do {
		for (size_t k = 0; k < 16; k++, ops++) {
			if (token_verify(ns, ts->tok[ops % ts->n], ts->len[ops % ts->n], 8192,
			    &c) != TOKEN_OK)
				die("token_verify failed");
		}
		now = util_mono_us();
	} while (now < end);
	return (double)ops / ((double)(cpu_us() - c0) / 1e6);
}

/* OpenSSL's own rate, the way `openssl speed` measures it: one context, a fixed digest. */
static double run_raw(EVP_PKEY *pk, enum key_alg alg, const char *tok)
{
	unsigned char dgst[32], sig[1024], der[80];
	const char *d2 = strrchr(tok, '.');
	size_t siglen, derlen = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	ECDSA_SIG *es = NULL;
	unsigned char *dp = der;
	uint64_t start, end, now;
	size_t ops = 0;
	long n;

	if (EVP_Digest(tok, (size_t)(d2 - tok), dgst, NULL, EVP_sha256(), NULL) != 1)
		die("digest");
	n = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
	if (n < 0)
		die("b64");
	siglen = (size_t)n;
	if (alg == KEY_ALG_ES256) {
		es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
		derlen = (size_t)i2d_ECDSA_SIG(es, &dp);
		ECDSA_SIG_free(es);
		memcpy(sig, der, derlen);
		siglen = derlen;
	}
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
	    (alg == KEY_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1)
		die("raw ctx");
	uint64_t c0 = cpu_us();

	start = util_mono_us();
	end = start + (uint64_t)(bench_secs * 1e6);
	do {
		for (size_t k = 0; k < 16; k++, ops++) {
			if (EVP_PKEY_verify(ctx, sig, siglen, dgst, sizeof(dgst)) != 1)
				die("raw verify failed");
		}
		now = util_mono_us();
	} while (now < end);
	EVP_PKEY_CTX_free(ctx);
	return (double)ops / ((double)(cpu_us() - c0) / 1e6);
}

/* The naive way, for comparison: a fresh EVP_MD_CTX + EVP_DigestVerify per token. */
static double run_naive(EVP_PKEY *pk, const struct tokset *ts)
{
	unsigned char sig[1024];
	uint64_t start = util_mono_us(), end = start + (uint64_t)(bench_secs * 1e6), now;
	uint64_t c0 = cpu_us();
	size_t ops = 0;

	do {
		for (size_t k = 0; k < 16; k++, ops++) {
			const char *tok = ts->tok[ops % ts->n];
			const char *d2 = strrchr(tok, '.');
			long n = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
			EVP_MD_CTX *md = EVP_MD_CTX_new();

			if (n == 64) {
				/* ES256: JOSE r||s to the DER OpenSSL expects */
				ECDSA_SIG *es = ECDSA_SIG_new();
				unsigned char der[80], *dp = der;

				ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32,
				    NULL));
				n = i2d_ECDSA_SIG(es, &dp);
				ECDSA_SIG_free(es);
				memcpy(sig, der, (size_t)n);
			}
			if (n < 0 || EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pk,
			    NULL) != 1 || EVP_DigestVerify(md, sig, (size_t)n,
			    (const unsigned char *)tok, (size_t)(d2 - tok)) != 1)
				die("naive verify failed");
			EVP_MD_CTX_free(md);
		}
		now = util_mono_us();
	} while (now < end);
	return (double)ops / ((double)(cpu_us() - c0) / 1e6);
}

static double run_gate_hit(const struct conf *c, const struct conf_function *fn,
    const char *tok, struct tcache *tc)
{
	uint64_t start, end, now;
	struct gate_result res;
	size_t ops = 0, len = strlen(tok);

	if (gate_check(c, fn, tok, len, 1, util_now(), tc, &res) != OUT_TOKEN)
		die("gate refused the bench token");
	uint64_t c0 = cpu_us();

	start = util_mono_us();
	end = start + (uint64_t)(bench_secs * 1e6);
	do {
		int64_t t = util_now();

		for (size_t k = 0; k < 16; k++, ops++) {
			if (gate_check(c, fn, tok, len, 1, t, tc, &res) != OUT_TOKEN ||
			    !res.cache_hit)
				die("gate cache hit failed");
		}
		now = util_mono_us();
	} while (now < end);
	return (double)ops / ((double)(cpu_us() - c0) / 1e6);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

struct row {
	const char	*name;
	enum key_alg	 alg;
	int		 bits;
	size_t		 ntok;
};

int main(int argc, char **argv)
{
	static const struct row rows[] = {
		{ "RS256-2048", KEY_ALG_RS256, 2048, 256 },
		{ "RS256-4096", KEY_ALG_RS256, 4096, 64 },
		{ "ES256",      KEY_ALG_ES256, 256, 512 },
	};
	double v[16], r[16], nv[16];
	size_t i;
	int k;

	if (argc > 1)
		bench_secs = atof(argv[1]);
	if (argc > 2)
		bench_rounds = atoi(argv[2]);
	if (bench_secs <= 0 || bench_rounds < 1 || bench_rounds > 16)
		die("usage: verify_bench [seconds-per-run [rounds<=16]]");
	if (revoke_init() != 0)
		die("revoke_init");

	printf("# %d interleaved rounds of %.1f s each; medians of ops per CPU second (thread CPU time,\n"
	    "# like openssl speed). cold = distinct tokens, no cache\n",
	    bench_rounds, bench_secs);
	printf("%-24s %12s %12s %8s %12s\n", "case", "fngate/s", "openssl/s", "ratio", "naive/s");
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		struct conf_key key = {0};
		struct conf_namespace ns = {0};
		struct tokset ts;
		EVP_PKEY *pk;

		pk = rows[i].alg == KEY_ALG_RS256 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rows[i].bits) :
		    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (pk == NULL)
			die("keygen");
		tokset_make(&ts, pk, rows[i].alg, rows[i].ntok);
		key.kid = (char *)"k0";
		key.alg = rows[i].alg;
		key.pkey = pk;
		ns.id = (char *)"90513364-f4fc-4b78-9e2f-483a950e5a0c";
		ns.keys = &key;
		ns.nkeys = 1;
		for (k = 0; k < bench_rounds; k++) {
			v[k] = run_verify(&ns, &ts);
			r[k] = run_raw(pk, rows[i].alg, ts.tok[0]);
			nv[k] = run_naive(pk, &ts);
		}
		{
			double mv = median(v, bench_rounds), mr = median(r, bench_rounds);

			printf("%-24s %12.0f %12.0f %8.3f %12.0f\n", rows[i].name, mv, mr, mv / mr,
			    median(nv, bench_rounds));
		}
		if (i == 0) {
			/* Cache hit on the gate_check path, next to the cold verifier's raw rate. */
			struct conf c;
			struct conf_function fn;
			struct tcache *tc = tcache_new(1024);

			memset(&c, 0, sizeof(c));
			memset(&fn, 0, sizeof(fn));
			c.generation = 1;
			c.leeway_s = 30;
			fn.id = (char *)"fn";
			fn.ns = &ns;
			atomic_init(&fn.privacy, PRIVACY_PRIVATE);
			fn.limits.max_token_bytes = 8192;
			if (tc == NULL)
				die("tcache_new");
			for (k = 0; k < bench_rounds; k++) {
				v[k] = run_gate_hit(&c, &fn, ts.tok[0], tc);
				r[k] = run_raw(pk, rows[i].alg, ts.tok[0]);
			}
			{
				double mv = median(v, bench_rounds), mr = median(r, bench_rounds);

				printf("%-24s %12.0f %12.0f %8.1f %12s\n", "RS256-2048 gate hit",
				    mv, mr, mv / mr, "-");
			}
			tcache_free(tc);
		}
		for (size_t j = 0; j < ts.n; j++)
			free(ts.tok[j]);
		free(ts.tok);
		free(ts.len);
		EVP_PKEY_free(pk);
	}
	revoke_shutdown();
	return 0;
}
