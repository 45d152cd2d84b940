/* mint_many.c - mint many RS256 tokens in Scaleway's claim layout, fast, for the benchmark. */

/*
 * Usage: mint_many -k PRIVATE.pem -a FUNCTION_ID -n COUNT -o VALID.txt [-b BAD.txt] [-j THREADS]
 *
 * Writes COUNT tokens, one a line, each with a distinct jti and exp one hour ahead, signed with
 * the RSA private key (RS256, PKCS#1 v1.5 over SHA-256). With -b it also writes, line for line,
 * the same tokens with one signature byte flipped: well-formed, distinct, and forged, which is
 * what an attacker's flood looks like. The key is parsed once and shared by the signing threads
 * (signing is the whole cost: about 0.3 ms per token per core for RSA-2048).
 *
 * This is a benchmark tool, not part of the daemon: it never sees a production key.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define MINT_MAX_THREADS   16
#define MINT_MAX_COUNT     10000000UL
#define MINT_TOKEN_MAX     2048    /* header + claims + signature, base64url */
#define MINT_SIG_MAX       1024    /* up to RSA-8192 */

struct mint_job {
	EVP_PKEY      *pkey;
	const char    *app_id;
	unsigned long  first;      /* token indices [first, last) */
	unsigned long  last;
	long           now;
	unsigned int   salt;       /* per run, so two runs never share a jti */
	char          *valid;      /* (last - first) slots of MINT_TOKEN_MAX bytes */
	char          *bad;        /* same, or NULL */
	int            failed;
};

static const char mint_b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Base64url without padding (RFC 7515 section 2). Returns the length written (NUL added). */
static size_t
mint_b64url(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = mint_b64chars[in[i] >> 2];
		out[o++] = mint_b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = mint_b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = mint_b64chars[in[i + 2] & 63];
	}
	if (len - i == 1) {
		out[o++] = mint_b64chars[in[i] >> 2];
		out[o++] = mint_b64chars[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = mint_b64chars[in[i] >> 2];
		out[o++] = mint_b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = mint_b64chars[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

/* Sign one token into `valid` (and its forged twin into `bad` when not NULL). 0 / -1. */
static int
mint_one(EVP_MD_CTX *md, const struct mint_job *job, unsigned long idx, char *valid, char *bad)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	char claims[512];
	unsigned char sig[MINT_SIG_MAX];
	size_t siglen = sizeof(sig), n;
	int len;

	len = snprintf(claims, sizeof(claims),
	    "{\"application_claim\":[{\"namespace_id\":\"\",\"application_id\":\"%s\"}],"
	    "\"version\":2,\"aud\":\"functions\",\"jti\":\"%08x-0000-4000-8000-%012lx\","
	    "\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,\"iss\":\"SCALEWAY\",\"sub\":\"token\"}",
	    job->app_id, job->salt, idx, job->now, job->now, job->now + 3600);
	if (len < 0 || (size_t)len >= sizeof(claims))
		return -1;

	n = mint_b64url((const unsigned char *)header, sizeof(header) - 1, valid);
	valid[n++] = '.';
	n += mint_b64url((const unsigned char *)claims, (size_t)len, valid + n);

	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, job->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)valid, n) != 1)
		return -1;
	if (n + 1 + (siglen + 2) / 3 * 4 + 1 > MINT_TOKEN_MAX)
		return -1;
	if (bad != NULL)
		memcpy(bad, valid, n);
	valid[n] = '.';
	mint_b64url(sig, siglen, valid + n + 1);
	if (bad != NULL) {
		/* A byte in the middle of the signature: the text stays well-formed base64url. */
		sig[siglen / 2] ^= 0x01;
		bad[n] = '.';
		mint_b64url(sig, siglen, bad + n + 1);
	}
	return 0;
}

static void *
mint_thread(void *arg)
{
	struct mint_job *job = arg;
	EVP_MD_CTX *md;
	unsigned long i;

	md = EVP_MD_CTX_new();
	if (md == NULL) {
		job->failed = 1;
		return NULL;
	}
	for (i = job->first; i < job->last; i++) {
		size_t slot = (i - job->first) * MINT_TOKEN_MAX;

		if (mint_one(md, job, i, job->valid + slot,
		    job->bad != NULL ? job->bad + slot : NULL) == -1) {
			job->failed = 1;
			break;
		}
		EVP_MD_CTX_reset(md);
	}
	EVP_MD_CTX_free(md);
	return NULL;
}

/* Write each job's slots, one token a line. 0 / -1. */
static int
mint_write(const char *path, struct mint_job *jobs, int njobs, int bad)
{
	FILE *f;
	int j, rc = -1;

	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "mint_many: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (j = 0; j < njobs; j++) {
		unsigned long i;
		const char *base = bad ? jobs[j].bad : jobs[j].valid;

		for (i = 0; i < jobs[j].last - jobs[j].first; i++)
			if (fprintf(f, "%s\n", base + i * MINT_TOKEN_MAX) < 0)
				goto cleanup;
	}
	rc = 0;
cleanup:
	if (fclose(f) != 0)
		rc = -1;
	if (rc == -1)
		fprintf(stderr, "mint_many: %s: write failed\n", path);
	return rc;
}

static void
mint_usage(void)
{
	fprintf(stderr, "usage: mint_many -k PRIVATE.pem -a FUNCTION_ID -n COUNT -o VALID.txt"
	    " [-b BAD.txt] [-j THREADS]\n");
}

int
main(int argc, char **argv)
{
	const char *keypath = NULL, *app_id = NULL, *out = NULL, *badout = NULL;
	struct mint_job jobs[MINT_MAX_THREADS];
	pthread_t tids[MINT_MAX_THREADS];
	unsigned long count = 0, per;
	unsigned int salt;
	EVP_PKEY *pkey = NULL;
	FILE *kf;
	int nthreads = 0, c, j, started = 0, rc = 1;

	memset(jobs, 0, sizeof(jobs));
	while ((c = getopt(argc, argv, "k:a:n:o:b:j:")) != -1) {
		switch (c) {
		case 'k': keypath = optarg; break;
		case 'a': app_id = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		case 'b': badout = optarg; break;
		case 'j': nthreads = atoi(optarg); break;
		default: mint_usage(); return 2;
		}
	}
	if (keypath == NULL || app_id == NULL || out == NULL || count == 0 ||
	    count > MINT_MAX_COUNT || strlen(app_id) > 128 || strpbrk(app_id, "\"\\") != NULL) {
		mint_usage();
		return 2;
	}
	if (nthreads <= 0)
		nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MINT_MAX_THREADS)
		nthreads = MINT_MAX_THREADS;

	kf = fopen(keypath, "r");
	if (kf == NULL) {
		fprintf(stderr, "mint_many: %s: %s\n", keypath, strerror(errno));
		goto cleanup;
	}
	pkey = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
	fclose(kf);
	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		fprintf(stderr, "mint_many: %s: not an RSA private key\n", keypath);
		goto cleanup;
	}

	if (RAND_bytes((unsigned char *)&salt, sizeof(salt)) != 1)
		goto cleanup;
	per = (count + (unsigned long)nthreads - 1) / (unsigned long)nthreads;
	for (j = 0; j < nthreads; j++) {
		unsigned long n;

		jobs[j].pkey = pkey;
		jobs[j].app_id = app_id;
		jobs[j].now = (long)time(NULL);
		jobs[j].first = per * (unsigned long)j;
		jobs[j].last = jobs[j].first + per > count ? count : jobs[j].first + per;
		if (jobs[j].first > jobs[j].last)
			jobs[j].first = jobs[j].last;
		jobs[j].salt = salt;
		n = jobs[j].last - jobs[j].first;
		jobs[j].valid = calloc(n + 1, MINT_TOKEN_MAX);
		jobs[j].bad = badout != NULL ? calloc(n + 1, MINT_TOKEN_MAX) : NULL;
		if (jobs[j].valid == NULL || (badout != NULL && jobs[j].bad == NULL)) {
			fprintf(stderr, "mint_many: out of memory\n");
			goto cleanup;
		}
	}
	for (j = 0; j < nthreads; j++) {
		if (pthread_create(&tids[j], NULL, mint_thread, &jobs[j]) != 0)
			break;
		started++;
	}
	for (j = 0; j < started; j++)
		pthread_join(tids[j], NULL);
	if (started != nthreads) {
		fprintf(stderr, "mint_many: pthread_create failed\n");
		goto cleanup;
	}
	for (j = 0; j < nthreads; j++) {
		if (jobs[j].failed) {
			fprintf(stderr, "mint_many: signing failed\n");
			goto cleanup;
		}
	}
	if (mint_write(out, jobs, nthreads, 0) == -1)
		goto cleanup;
	if (badout != NULL && mint_write(badout, jobs, nthreads, 1) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	for (j = 0; j < MINT_MAX_THREADS; j++) {
		free(jobs[j].valid);
		jobs[j].valid = NULL;
		free(jobs[j].bad);
		jobs[j].bad = NULL;
	}
	EVP_PKEY_free(pkey);
	return rc;
}
