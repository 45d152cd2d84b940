/* gate.c - the private-function policy: one gate, default deny, a typed reason for every path. */
#include "gate.h"

#include <stdatomic.h>
#include <string.h>

#include "apikey.h"
#include "conf.h"
#include "revoke.h"
#include "tcache.h"
#include "token.h"
#include "util.h"

static enum outcome gate_from_token(enum token_status st)
{
	switch (st) {
	case TOKEN_OK:
		return OUT_TOKEN;
	case TOKEN_MALFORMED:
		return OUT_TOKEN_MALFORMED;
	case TOKEN_ALG:
		return OUT_TOKEN_ALG;
	case TOKEN_SIGNATURE:
		return OUT_TOKEN_SIGNATURE;
	case TOKEN_EXPIRED:
		return OUT_TOKEN_EXPIRED;
	case TOKEN_NOT_YET_VALID:
		return OUT_TOKEN_NOT_YET_VALID;
	case TOKEN_SCOPE:
		return OUT_TOKEN_SCOPE;
	case TOKEN_KID_UNKNOWN:
		return OUT_TOKEN_KID_UNKNOWN;
	case TOKEN_ISSUED_IN_FUTURE:
		return OUT_TOKEN_ISSUED_IN_FUTURE;
	}
	/* Anything unexpected is a refusal, never an allow. */
	return OUT_TOKEN_MALFORMED;
}

/* Fleet mode: this node's revocations may lag the shared store too long to vouch for a
 * credential (docs/fleet.md). OUT_NONE when the call may go on. What is known refused stays
 * refused before this either way. */
static enum outcome gate_stale(const struct conf *c)
{
	if (!revoke_stale())
		return OUT_NONE;
	if (c->store.stale_policy != CONF_STALE_SERVE)
		return OUT_REVOCATION_STATE_STALE;
	revoke_count_stale_served();
	return OUT_NONE;
}

/* An API key: one probe of the set by the id the secret carries, then the SHA-256 of the secret
 * compared in constant time with the key's. Whether a key was deleted, expired or is out of
 * scope is told only to the holder of its secret: anyone else learns "unknown". */
static enum outcome gate_check_api_key(const struct conf *c, const struct conf_function *fn,
    const char *tok, size_t toklen, int64_t now, struct gate_result *res)
{
	unsigned char digest[APIKEY_HASH_LEN];
	struct revoke_key k;
	enum revoke_state rs;
	enum outcome r;
	const char *id;

	if (apikey_parse(tok, toklen, &id) != 0)
		return OUT_TOKEN_MALFORMED;
	rs = revoke_key_lookup(id, APIKEY_ID_LEN, &k);
	if (rs == REVOKE_UNKNOWN)
		return OUT_API_KEY_UNKNOWN;
	apikey_hash(tok, toklen, digest);
	if (!util_ct_equal(digest, k.hash, sizeof(digest)))
		return OUT_API_KEY_UNKNOWN;
	memcpy(res->jti, id, APIKEY_ID_LEN);
	res->jti[APIKEY_ID_LEN] = '\0';
	if (rs == REVOKE_REVOKED)
		return OUT_API_KEY_REVOKED;
	if (k.expires_at != 0 && k.expires_at <= now)
		return OUT_API_KEY_EXPIRED;
	if (strcmp(k.ns, fn->ns->id) != 0 ||
	    (k.function_id != NULL && strcmp(k.function_id, fn->id) != 0))
		return OUT_TOKEN_SCOPE;
	if ((r = gate_stale(c)) != OUT_NONE)
		return r;
	revoke_key_touch(id, APIKEY_ID_LEN, now);
	return OUT_API_KEY;
}

static enum outcome gate_check_private(const struct conf *c, const struct conf_function *fn,
    const char *tok, size_t toklen, int ntokens, int64_t now, struct tcache *cache,
    struct gate_result *res)
{
	const struct conf_namespace *ns = fn->ns;
	struct token_claims claims;
	unsigned char digest[32];
	enum token_status st;
	enum revoke_state rs;
	enum outcome r;
	int64_t expires;
	size_t jlen;
	int cached = 0;

	if (ntokens <= 0 || tok == NULL)
		return OUT_TOKEN_MISSING;
	/* Two X-Auth-Token headers: which one would the upstream see? Refuse the ambiguity. */
	if (ntokens > 1)
		return OUT_TOKEN_MALFORMED;
	if (toklen == 0 || toklen > fn->limits.max_token_bytes)
		return OUT_TOKEN_MALFORMED;
	if (ns == NULL)
		return OUT_TOKEN_SCOPE;
	if (apikey_claims(tok, toklen))
		return gate_check_api_key(c, fn, tok, toklen, now, res);

	memset(&claims, 0, sizeof(claims));
	if (cache != NULL) {
		tcache_digest(tok, toklen, digest);
		cached = tcache_lookup(cache, digest, ns, c->generation, now, &claims);
	}
	if (cached != 0) {
		res->cache_hit = 1;
		st = (enum token_status)cached;
	} else {
		st = token_verify(ns, tok, toklen, fn->limits.max_token_bytes, &claims);
		if (cache != NULL && (st == TOKEN_OK || st == TOKEN_SIGNATURE || st == TOKEN_ALG ||
				      st == TOKEN_KID_UNKNOWN)) {
			/* A positive entry dies with the token; negative ones with the generation. */
			expires = INT64_MAX;
			if (st == TOKEN_OK && claims.has_exp)
				expires = claims.exp > INT64_MAX - (c->leeway_s > 0 ? c->leeway_s : 0) ?
				    INT64_MAX : claims.exp + (c->leeway_s > 0 ? c->leeway_s : 0);
			tcache_insert(cache, digest, ns, c->generation, st, &claims, expires);
		}
	}
	if (st != TOKEN_OK)
		return gate_from_token(st);

	memcpy(res->jti, claims.jti, sizeof(res->jti));
	res->jti[sizeof(res->jti) - 1] = '\0';
	jlen = strlen(res->jti);

	st = token_check_time(&claims, now, c->leeway_s);
	if (st != TOKEN_OK)
		return gate_from_token(st);
	st = token_check_scope(&claims, ns, fn->id);
	if (st != TOKEN_OK)
		return gate_from_token(st);

	/* Revocation is never cached: consulted on every request, cache hit or not. */
	rs = revoke_lookup(ns->id, res->jti, jlen);
	if (rs == REVOKE_REVOKED)
		return OUT_TOKEN_REVOKED;
	if (ns->require_registered_tokens && rs != REVOKE_READY)
		return OUT_TOKEN_UNKNOWN;
	if ((r = gate_stale(c)) != OUT_NONE)
		return r;

	revoke_touch(ns->id, res->jti, jlen, now);
	return OUT_TOKEN;
}

enum outcome gate_check(const struct conf *c, const struct conf_function *fn,
    const char *tok, size_t toklen, int ntokens, int64_t now, struct tcache *cache,
    struct gate_result *res)
{
	struct gate_result local;
	enum outcome r = OUT_NONE;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->reason = OUT_NONE;

	if (c == NULL || fn == NULL) {
		r = OUT_TOKEN_SCOPE;    /* no function, nothing to allow */
		goto done;
	}
	/* Only an explicit "public" opens the door; any other value (even garbage) is private.
	 * Public functions forward as they come, token or not: the token is not looked at. */
	if (atomic_load_explicit(&fn->privacy, memory_order_relaxed) == PRIVACY_PUBLIC) {
		r = OUT_PUBLIC;
		goto done;
	}
	r = gate_check_private(c, fn, tok, toklen, ntokens, now, cache, res);
done:
	if (r == OUT_NONE)
		r = OUT_TOKEN_MALFORMED;
	res->reason = r;
	return r;
}
