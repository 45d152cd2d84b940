/* test_gate.c - the private-function policy as a decision table, plus the cache/revocation
 * interplay (a cached token revoked afterwards must be refused). Tokens are minted here with a
 * key generated per run; each is described next to its enum value. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "apikey.h"
#include "b64url.h"
#include "conf.h"
#include "gate.h"
#include "keys.h"
#include "revoke.h"
#include "tcache.h"
#include "testutil.h"
#include "token.h"
#include "util.h"

#define NOW     1800000000LL
#define MAXTOK  8192

enum tk {
	TK_NONE = 0,            /* no X-Auth-Token header */
	TK_NS,                  /* namespace token for ns-1, jti "t-ns", nbf NOW-100, exp NOW+1000 */
	TK_NS_NOEXP,            /* namespace token for ns-1, jti "t-noexp", no exp */
	TK_FN_PRIV,             /* function token for fn-priv, jti "t-fn" */
	TK_FN_OTHER,            /* function token for fn-other, jti "t-fnother" */
	TK_OTHER_NS,            /* namespace token for ns-2, jti "t-ns2" */
	TK_EXPIRED,             /* namespace token, exp NOW-1000, jti "t-exp" */
	TK_NBF,                 /* namespace token, nbf NOW+1000, jti "t-nbf" */
	TK_REVOKED,             /* namespace token, jti "t-revoked" (revoked in setup) */
	TK_READY,               /* namespace token, jti "t-ready" (registered READY in setup) */
	TK_BADSIG,              /* TK_NS with its signature of another key */
	TK_NONEALG,             /* {"alg":"none"} with TK_NS's payload, empty signature */
	TK_GARBAGE,             /* "not-a-token" */
	TK_BIG,                 /* a valid token over fn-small's max_token_bytes */
	TK_COUNT
};

static char *tokens[TK_COUNT];
static EVP_PKEY *priv, *other;
static struct conf_key key;
static struct conf_namespace ns[2];
static struct conf_function fns[4];     /* fn-pub, fn-priv, fn-other, fn-small (ns-1) */
static struct conf conf;

static char *mint(EVP_PKEY *pk, const char *hdr, const char *pay)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *tok = malloc(MAXTOK);
	size_t o;

	ck_assert_ptr_nonnull(tok);
	b64url_encode((const unsigned char *)hdr, strlen(hdr), tok, MAXTOK);
	o = strlen(tok);
	tok[o++] = '.';
	b64url_encode((const unsigned char *)pay, strlen(pay), tok + o, MAXTOK - o);
	o = strlen(tok);
	if (pk == NULL) {
		tok[o++] = '.';
		tok[o] = '\0';
		EVP_MD_CTX_free(md);
		return tok;
	}
	ck_assert_int_eq(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL), 1);
	ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, o), 1);
	EVP_MD_CTX_free(md);
	tok[o++] = '.';
	b64url_encode(sig, siglen, tok + o, MAXTOK - o);
	return tok;
}

static char *mint_claims(EVP_PKEY *pk, const char *nsid, const char *fnid, const char *jti,
    const char *times)
{
	char pay[1024];

	snprintf(pay, sizeof(pay), "{\"application_claim\":[{\"namespace_id\":\"%s\","
	    "\"application_id\":\"%s\"}],\"version\":2,\"aud\":\"functions\",\"jti\":\"%s\","
	    "\"iss\":\"SCALEWAY\",\"sub\":\"token\"%s}", nsid, fnid, jti, times);
	return mint(pk, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pay);
}

static void setup(void)
{
	char times[128], pay[1024];
	size_t i;

	ck_assert_int_eq(revoke_init(), 0);
	priv = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ck_assert_ptr_nonnull(priv);
	ck_assert_ptr_nonnull(other);
	key.kid = (char *)"k0";
	key.alg = KEY_ALG_RS256;
	key.pkey = priv;

	memset(&conf, 0, sizeof(conf));
	conf.generation = 7;
	conf.leeway_s = 30;
	memset(ns, 0, sizeof(ns));
	ns[0].id = (char *)"ns-1";
	ns[0].keys = &key;
	ns[0].nkeys = 1;
	ns[0].functions = fns;
	ns[0].nfunctions = 4;
	ns[1].id = (char *)"ns-2";
	ns[1].keys = &key;
	ns[1].nkeys = 1;
	memset(fns, 0, sizeof(fns));
	fns[0].id = (char *)"fn-pub";
	fns[1].id = (char *)"fn-priv";
	fns[2].id = (char *)"fn-other";
	fns[3].id = (char *)"fn-small";
	for (i = 0; i < 4; i++) {
		fns[i].ns = &ns[0];
		atomic_init(&fns[i].privacy, i == 0 ? PRIVACY_PUBLIC : PRIVACY_PRIVATE);
		fns[i].limits.max_token_bytes = i == 3 ? 200 : 4096;
	}

	snprintf(times, sizeof(times), ",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld", NOW - 100,
	    NOW - 100, NOW + 1000);
	tokens[TK_NS] = mint_claims(priv, "ns-1", "", "t-ns", times);
	tokens[TK_NS_NOEXP] = mint_claims(priv, "ns-1", "", "t-noexp", "");
	tokens[TK_FN_PRIV] = mint_claims(priv, "", "fn-priv", "t-fn", "");
	tokens[TK_FN_OTHER] = mint_claims(priv, "", "fn-other", "t-fnother", "");
	tokens[TK_OTHER_NS] = mint_claims(priv, "ns-2", "", "t-ns2", times);
	tokens[TK_REVOKED] = mint_claims(priv, "ns-1", "", "t-revoked", times);
	tokens[TK_READY] = mint_claims(priv, "ns-1", "", "t-ready", times);
	tokens[TK_BADSIG] = mint_claims(other, "ns-1", "", "t-ns", times);
	tokens[TK_BIG] = mint_claims(priv, "ns-1", "", "t-big", times);
	snprintf(times, sizeof(times), ",\"exp\":%lld", NOW - 1000);
	tokens[TK_EXPIRED] = mint_claims(priv, "ns-1", "", "t-exp", times);
	snprintf(times, sizeof(times), ",\"nbf\":%lld", NOW + 1000);
	tokens[TK_NBF] = mint_claims(priv, "ns-1", "", "t-nbf", times);
	snprintf(pay, sizeof(pay), "{\"application_claim\":[{\"namespace_id\":\"ns-1\","
	    "\"application_id\":\"\"}],\"jti\":\"t-ns\"}");
	tokens[TK_NONEALG] = mint(NULL, "{\"alg\":\"none\"}", pay);
	tokens[TK_GARBAGE] = strdup("not-a-token");

	ck_assert_int_eq(revoke_set("ns-1", "t-revoked", 9, REVOKE_REVOKED), 0);
	ck_assert_int_eq(revoke_set("ns-1", "t-ready", 7, REVOKE_READY), 0);
}

static void teardown(void)
{
	size_t i;

	for (i = 0; i < TK_COUNT; i++) {
		free(tokens[i]);
		tokens[i] = NULL;
	}
	EVP_PKEY_free(priv);
	EVP_PKEY_free(other);
	revoke_shutdown();
}

static enum outcome run(size_t fn, enum tk t, int ntokens, int64_t now, struct tcache *tc,
    struct gate_result *res)
{
	const char *tok = tokens[t];

	return gate_check(&conf, &fns[fn], tok, tok ? strlen(tok) : 0, t == TK_NONE ? 0 : ntokens,
	    now, tc, res);
}

/* The decision table, each row run without a cache, with a cold cache and again (hot). */
START_TEST(test_decision_table)
{
	static const struct {
		size_t fn;
		enum tk tok;
		int ntokens;
		int registered;         /* ns-1 requires registered tokens */
		enum outcome want;
		const char *jti;        /* expected res.jti */
	} rows[] = {
		{ 0, TK_NONE, 0, 0, OUT_PUBLIC, "" },
		{ 0, TK_GARBAGE, 1, 0, OUT_PUBLIC, "" },
		{ 0, TK_NS, 2, 0, OUT_PUBLIC, "" },
		{ 0, TK_REVOKED, 1, 0, OUT_PUBLIC, "" },
		{ 1, TK_NONE, 0, 0, OUT_TOKEN_MISSING, "" },
		{ 1, TK_NS, 2, 0, OUT_TOKEN_MALFORMED, "" },
		{ 3, TK_BIG, 1, 0, OUT_TOKEN_MALFORMED, "" },
		{ 1, TK_BIG, 1, 0, OUT_TOKEN, "t-big" },
		{ 1, TK_GARBAGE, 1, 0, OUT_TOKEN_MALFORMED, "" },
		{ 1, TK_NONEALG, 1, 0, OUT_TOKEN_ALG, "" },
		{ 1, TK_BADSIG, 1, 0, OUT_TOKEN_SIGNATURE, "" },
		{ 1, TK_NS, 1, 0, OUT_TOKEN, "t-ns" },
		{ 2, TK_NS, 1, 0, OUT_TOKEN, "t-ns" },
		{ 1, TK_NS_NOEXP, 1, 0, OUT_TOKEN, "t-noexp" },
		{ 1, TK_EXPIRED, 1, 0, OUT_TOKEN_EXPIRED, "t-exp" },
		{ 1, TK_NBF, 1, 0, OUT_TOKEN_NOT_YET_VALID, "t-nbf" },
		{ 1, TK_FN_PRIV, 1, 0, OUT_TOKEN, "t-fn" },
		{ 2, TK_FN_PRIV, 1, 0, OUT_TOKEN_SCOPE, "t-fn" },
		{ 1, TK_FN_OTHER, 1, 0, OUT_TOKEN_SCOPE, "t-fnother" },
		{ 1, TK_OTHER_NS, 1, 0, OUT_TOKEN_SCOPE, "t-ns2" },
		{ 1, TK_REVOKED, 1, 0, OUT_TOKEN_REVOKED, "t-revoked" },
		{ 1, TK_REVOKED, 1, 1, OUT_TOKEN_REVOKED, "t-revoked" },
		{ 1, TK_NS, 1, 1, OUT_TOKEN_UNKNOWN, "t-ns" },
		{ 1, TK_READY, 1, 1, OUT_TOKEN, "t-ready" },
		{ 1, TK_READY, 1, 0, OUT_TOKEN, "t-ready" },
	};
	struct tcache *tc = tcache_new(64);
	size_t i;
	int pass;

	ck_assert_ptr_nonnull(tc);
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < ARRAY_LEN(rows); i++) {
			struct gate_result res;
			enum outcome r;

			ns[0].require_registered_tokens = rows[i].registered;
			r = run(rows[i].fn, rows[i].tok, rows[i].ntokens, NOW,
			    pass == 0 ? NULL : tc, &res);
			ck_assert_msg(r == rows[i].want, "pass %d row %zu: %s, want %s", pass, i,
			    outcome_name(r), outcome_name(rows[i].want));
			ck_assert_int_eq(res.reason, r);
			ck_assert_int_ne(r, OUT_NONE);
			ck_assert_str_eq(res.jti, rows[i].jti);
		}
	}
	ns[0].require_registered_tokens = false;
	tcache_free(tc);
}
END_TEST

/* A token that was allowed and cached, then revoked: the next request is refused, from the cache. */
START_TEST(test_cache_hit_then_revoked)
{
	struct tcache *tc = tcache_new(16);
	struct gate_result res;

	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(res.cache_hit, 0);
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(res.cache_hit, 1);
	ck_assert_int_eq(revoke_last_used("ns-1", "t-noexp", 7), 0);     /* not registered: not tracked */
	ck_assert_int_eq(revoke_set(NULL, "t-noexp", 7, REVOKE_REVOKED), 0);
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN_REVOKED);
	ck_assert_int_eq(res.cache_hit, 1);
	ck_assert_str_eq(res.jti, "t-noexp");
	/* READY after REVOKED stays revoked */
	ck_assert_int_eq(revoke_set("ns-1", "t-noexp", 7, REVOKE_READY), 0);
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN_REVOKED);
	tcache_free(tc);
}
END_TEST

/* Cache bounds seen through the gate: exp, generation, negative entries, privacy flips. */
START_TEST(test_cache_bounds)
{
	struct tcache *tc = tcache_new(16);
	struct tcache_stats st;
	struct gate_result res;

	/* allowed at NOW, cached; past exp + leeway it is a miss and refused as expired */
	ck_assert_int_eq(run(1, TK_NS, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(run(1, TK_NS, 1, NOW + 1000 + 29, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(res.cache_hit, 1);
	ck_assert_int_eq(run(1, TK_NS, 1, NOW + 1000 + 30, tc, &res), OUT_TOKEN_EXPIRED);
	ck_assert_int_eq(res.cache_hit, 0);
	/* a forged token costs one verification, then hits the negative entry */
	ck_assert_int_eq(run(1, TK_BADSIG, 1, NOW, tc, &res), OUT_TOKEN_SIGNATURE);
	ck_assert_int_eq(res.cache_hit, 0);
	ck_assert_int_eq(run(1, TK_BADSIG, 1, NOW, tc, &res), OUT_TOKEN_SIGNATURE);
	ck_assert_int_eq(res.cache_hit, 1);
	ck_assert_int_eq(run(1, TK_NONEALG, 1, NOW, tc, &res), OUT_TOKEN_ALG);
	ck_assert_int_eq(run(1, TK_NONEALG, 1, NOW, tc, &res), OUT_TOKEN_ALG);
	ck_assert_int_eq(res.cache_hit, 1);
	/* malformed results are not cached */
	ck_assert_int_eq(run(1, TK_GARBAGE, 1, NOW, tc, &res), OUT_TOKEN_MALFORMED);
	ck_assert_int_eq(run(1, TK_GARBAGE, 1, NOW, tc, &res), OUT_TOKEN_MALFORMED);
	ck_assert_int_eq(res.cache_hit, 0);
	/* a new configuration generation makes every entry stale */
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(res.cache_hit, 1);
	conf.generation++;
	ck_assert_int_eq(run(1, TK_NS_NOEXP, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(res.cache_hit, 0);
	conf.generation--;
	/* a cached namespace token is still scope-checked per function... */
	ck_assert_int_eq(run(1, TK_FN_PRIV, 1, NOW, tc, &res), OUT_TOKEN);
	ck_assert_int_eq(run(2, TK_FN_PRIV, 1, NOW, tc, &res), OUT_TOKEN_SCOPE);
	ck_assert_int_eq(res.cache_hit, 1);
	/* ...and privacy flips apply immediately */
	atomic_store(&fns[2].privacy, PRIVACY_PUBLIC);
	ck_assert_int_eq(run(2, TK_NONE, 0, NOW, tc, &res), OUT_PUBLIC);
	atomic_store(&fns[2].privacy, PRIVACY_PRIVATE);
	ck_assert_int_eq(run(2, TK_NONE, 0, NOW, tc, &res), OUT_TOKEN_MISSING);
	atomic_store(&fns[2].privacy, 0);       /* garbage: private */
	ck_assert_int_eq(run(2, TK_NONE, 0, NOW, tc, &res), OUT_TOKEN_MISSING);
	atomic_store(&fns[2].privacy, PRIVACY_PRIVATE);
	tcache_get_stats(tc, &st);
	ck_assert_uint_gt(st.hits, 0);
	tcache_free(tc);
}
END_TEST

/* API keys through the gate, as a decision table. Each key is generated and registered here:
 *   ns     ns-1, namespace-wide, no expiry       fn     fn-priv only
 *   other  ns-2, namespace-wide                  exp    ns-1, expires_at NOW
 *   gone   ns-1, deleted (REVOKED)
 * and three secrets that are not keys: "wrong" (ns's id with another random part), "ghost" (an id
 * never registered) and "bent" (the prefix, then not a key's shape). */
START_TEST(test_api_keys)
{
	enum { K_NS, K_FN, K_OTHER, K_EXP, K_GONE, K_WRONG, K_GHOST, K_BENT, K_COUNT };
	static const struct {
		const char *ns, *fn;
		int64_t     exp;
		enum revoke_state st;
	} reg[] = {
		[K_NS] = {"ns-1", NULL, 0, REVOKE_READY},
		[K_FN] = {"ns-1", "fn-priv", 0, REVOKE_READY},
		[K_OTHER] = {"ns-2", NULL, 0, REVOKE_READY},
		[K_EXP] = {"ns-1", NULL, NOW, REVOKE_READY},
		[K_GONE] = {"ns-1", NULL, 0, REVOKE_REVOKED},
	};
	static const struct {
		size_t fn;
		int    key;
		enum outcome want;
		bool   id;              /* res.jti is the key's id */
	} rows[] = {
		{1, K_NS, OUT_API_KEY, true},
		{2, K_NS, OUT_API_KEY, true},
		{0, K_BENT, OUT_PUBLIC, false},         /* a public function does not look */
		{1, K_FN, OUT_API_KEY, true},
		{2, K_FN, OUT_TOKEN_SCOPE, true},
		{1, K_OTHER, OUT_TOKEN_SCOPE, true},
		{1, K_EXP, OUT_API_KEY_EXPIRED, true},
		{1, K_GONE, OUT_API_KEY_REVOKED, true},
		{1, K_WRONG, OUT_API_KEY_UNKNOWN, false},
		{1, K_GHOST, OUT_API_KEY_UNKNOWN, false},
		{1, K_BENT, OUT_TOKEN_MALFORMED, false},
	};
	char ids[K_COUNT][APIKEY_ID_LEN + 1], secrets[K_COUNT][APIKEY_SECRET_LEN + 1];
	unsigned char hash[APIKEY_HASH_LEN];
	struct tcache *tc = tcache_new(16);

	for (int k = 0; k < K_COUNT; k++) {
		ck_assert_int_eq(apikey_generate(ids[k], secrets[k], hash), 0);
		if (k < K_WRONG)
			ck_assert_int_eq(revoke_key_set(ids[k], APIKEY_ID_LEN, reg[k].ns, reg[k].fn,
							hash, reg[k].exp, reg[k].st), 0);
	}
	memcpy(secrets[K_WRONG] + APIKEY_PREFIX_LEN, ids[K_NS], APIKEY_ID_LEN);
	memcpy(ids[K_WRONG], ids[K_NS], sizeof(ids[K_NS]));
	snprintf(secrets[K_BENT], sizeof(secrets[K_BENT]), APIKEY_PREFIX "%s", ids[K_NS]);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
			const char *sec = secrets[rows[i].key];
			struct gate_result res;
			enum outcome r = gate_check(&conf, &fns[rows[i].fn], sec, strlen(sec), 1, NOW,
						    pass ? tc : NULL, &res);

			ck_assert_msg(r == rows[i].want, "row %zu: %s, want %s", i, outcome_name(r),
				      outcome_name(rows[i].want));
			ck_assert_str_eq(res.jti, rows[i].id ? ids[rows[i].key] : "");
		}
	}
	/* a use is recorded on the key, for allowed requests only */
	ck_assert_int_eq(revoke_key_last_used(ids[K_NS], APIKEY_ID_LEN), NOW);
	ck_assert_int_eq(revoke_key_last_used(ids[K_OTHER], APIKEY_ID_LEN), 0);
	/* deleted while in use: refused at the next request */
	ck_assert_int_eq(revoke_key_set(ids[K_NS], APIKEY_ID_LEN, "ns-1", NULL, hash, 0,
					REVOKE_REVOKED), 0);
	ck_assert_int_eq(gate_check(&conf, &fns[1], secrets[K_NS], APIKEY_SECRET_LEN, 1, NOW, tc,
				    NULL), OUT_API_KEY_REVOKED);
	util_wipe(secrets, sizeof(secrets));
	tcache_free(tc);
}
END_TEST

START_TEST(test_touch_and_names)
{
	struct gate_result res;

	ck_assert_int_eq(run(1, TK_READY, 1, NOW + 5, NULL, &res), OUT_TOKEN);
	ck_assert_int_eq(revoke_last_used("ns-1", "t-ready", 7), NOW + 5);
	/* refused requests do not count as use */
	ck_assert_int_eq(run(2, TK_FN_PRIV, 1, NOW + 9, NULL, &res), OUT_TOKEN_SCOPE);
	ck_assert_int_eq(revoke_last_used("ns-1", "t-fn", 4), 0);
	ck_assert_int_eq(gate_check(&conf, &fns[1], NULL, 0, 0, NOW, NULL, NULL),
	    OUT_TOKEN_MISSING);
	ck_assert_str_eq(outcome_name(OUT_PUBLIC), "public");
	ck_assert_str_eq(outcome_name(OUT_TOKEN), "token");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_MISSING), "token_missing");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_MALFORMED), "token_malformed");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_ALG), "token_alg");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_SIGNATURE), "token_signature");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_EXPIRED), "token_expired");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_NOT_YET_VALID), "token_not_yet_valid");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_SCOPE), "token_scope");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_REVOKED), "token_revoked");
	ck_assert_str_eq(outcome_name(OUT_TOKEN_UNKNOWN), "token_unknown");
	ck_assert(!outcome_allowed(OUT_NONE));
	ck_assert(outcome_allowed(OUT_PUBLIC) && outcome_allowed(OUT_TOKEN));
	ck_assert(!outcome_allowed(OUT_TOKEN_UNKNOWN));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gate");
	TCase *tc = tcase_create("policy");

	/* checked fixture: every test starts with a fresh revocation set and fresh keys */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_decision_table);
	tcase_add_test(tc, test_cache_hit_then_revoked);
	tcase_add_test(tc, test_cache_bounds);
	tcase_add_test(tc, test_api_keys);
	tcase_add_test(tc, test_touch_and_names);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
