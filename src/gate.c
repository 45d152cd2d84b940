/* gate.c - the private-function policy: one gate, default deny, a typed reason for every path. */
#include "gate.h"

#include <stdatomic.h>
#include <string.h>

#include "conf.h"
#include "revoke.h"
#include "tcache.h"
#include "token.h"

static enum gate_reason gate_from_token(enum token_status st)
{
	switch (st) {
	case TOKEN_OK:
		return GATE_ALLOW_TOKEN;
	case TOKEN_MALFORMED:
		return GATE_TOKEN_MALFORMED;
	case TOKEN_ALG:
		return GATE_TOKEN_ALG;
	case TOKEN_SIGNATURE:
		return GATE_TOKEN_SIGNATURE;
	case TOKEN_EXPIRED:
		return GATE_TOKEN_EXPIRED;
	case TOKEN_NOT_YET_VALID:
		return GATE_TOKEN_NOT_YET_VALID;
	case TOKEN_SCOPE:
		return GATE_TOKEN_SCOPE;
	case TOKEN_KID_UNKNOWN:
		return GATE_TOKEN_KID_UNKNOWN;
	case TOKEN_ISSUED_IN_FUTURE:
		return GATE_TOKEN_ISSUED_IN_FUTURE;
	}
	/* Anything unexpected is a refusal, never an allow. */
	return GATE_TOKEN_MALFORMED;
}

static enum gate_reason gate_check_private(const struct conf *c, const struct conf_function *fn,
    const char *tok, size_t toklen, int ntokens, int64_t now, struct tcache *cache,
    struct gate_result *res)
{
	const struct conf_namespace *ns = fn->ns;
	struct token_claims claims;
	unsigned char digest[32];
	enum token_status st;
	enum revoke_state rs;
	int64_t expires;
	size_t jlen;
	int cached = 0;

	if (ntokens <= 0 || tok == NULL)
		return GATE_TOKEN_MISSING;
	/* Two X-Auth-Token headers: which one would the upstream see? Refuse the ambiguity. */
	if (ntokens > 1)
		return GATE_TOKEN_MALFORMED;
	if (toklen == 0 || toklen > fn->limits.max_token_bytes)
		return GATE_TOKEN_MALFORMED;
	if (ns == NULL)
		return GATE_TOKEN_SCOPE;

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
		return GATE_TOKEN_REVOKED;
	if (ns->require_registered_tokens && rs != REVOKE_READY)
		return GATE_TOKEN_UNKNOWN;

	revoke_touch(ns->id, res->jti, jlen, now);
	return GATE_ALLOW_TOKEN;
}

enum gate_reason gate_check(const struct conf *c, const struct conf_function *fn,
    const char *tok, size_t toklen, int ntokens, int64_t now, struct tcache *cache,
    struct gate_result *res)
{
	struct gate_result local;
	enum gate_reason r = GATE_DENY;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->reason = GATE_DENY;

	if (c == NULL || fn == NULL) {
		r = GATE_TOKEN_SCOPE;   /* no function, nothing to allow */
		goto done;
	}
	/* Only an explicit "public" opens the door; any other value (even garbage) is private.
	 * Public functions forward as they come, token or not: the token is not looked at. */
	if (atomic_load_explicit(&fn->privacy, memory_order_relaxed) == PRIVACY_PUBLIC) {
		r = GATE_ALLOW_PUBLIC;
		goto done;
	}
	r = gate_check_private(c, fn, tok, toklen, ntokens, now, cache, res);
done:
	if (r == GATE_DENY)
		r = GATE_TOKEN_MALFORMED;
	res->reason = r;
	return r;
}

const char *gate_reason_name(enum gate_reason r)
{
	switch (r) {
	case GATE_DENY:
		return "deny";
	case GATE_ALLOW_PUBLIC:
		return "public";
	case GATE_ALLOW_TOKEN:
		return "token";
	case GATE_TOKEN_MISSING:
		return "token_missing";
	case GATE_TOKEN_MALFORMED:
		return "token_malformed";
	case GATE_TOKEN_ALG:
		return "token_alg";
	case GATE_TOKEN_SIGNATURE:
		return "token_signature";
	case GATE_TOKEN_EXPIRED:
		return "token_expired";
	case GATE_TOKEN_NOT_YET_VALID:
		return "token_not_yet_valid";
	case GATE_TOKEN_SCOPE:
		return "token_scope";
	case GATE_TOKEN_REVOKED:
		return "token_revoked";
	case GATE_TOKEN_UNKNOWN:
		return "token_unknown";
	case GATE_TOKEN_KID_UNKNOWN:
		return "token_kid_unknown";
	case GATE_TOKEN_ISSUED_IN_FUTURE:
		return "token_issued_in_future";
	}
	return "deny";
}
