/* gate.h - the private-function policy: one explicit gate that denies by default and returns a
 * typed reason. Everything a request needs to be let through is checked here, in one place. */
#ifndef FNGATE_GATE_H
#define FNGATE_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct conf;
struct conf_function;
struct tcache;

enum gate_reason {
	GATE_DENY = 0,              /* the starting state: nothing has allowed the request yet */
	GATE_ALLOW_PUBLIC,          /* public function */
	GATE_ALLOW_TOKEN,           /* private function, valid token */
	GATE_TOKEN_MISSING,
	GATE_TOKEN_MALFORMED,       /* includes more than one X-Auth-Token and over max_token_bytes */
	GATE_TOKEN_ALG,
	GATE_TOKEN_SIGNATURE,
	GATE_TOKEN_EXPIRED,
	GATE_TOKEN_NOT_YET_VALID,
	GATE_TOKEN_SCOPE,
	GATE_TOKEN_REVOKED,
	GATE_TOKEN_UNKNOWN,         /* namespace requires registered tokens; this jti is not */
	GATE_TOKEN_KID_UNKNOWN,     /* the header's kid names no key of the namespace */
	GATE_TOKEN_ISSUED_IN_FUTURE,/* iat beyond now + leeway */
};

struct gate_result {
	enum gate_reason reason;
	char jti[TOKEN_ID_MAX + 1];     /* token id when one was parsed ("" otherwise), for logs */
	int  cache_hit;
};

/* Decide on a request for `fn` under configuration `c`. `tok` is the X-Auth-Token value
 * (NULL when absent), `ntokens` how many X-Auth-Token headers the request had. `cache` is the
 * calling worker's cache (may be NULL). Never returns GATE_DENY: every path names its reason.
 * The result is an allow (GATE_ALLOW_*) or a refusal (every other value -> 403). */
enum gate_reason gate_check(const struct conf *c, const struct conf_function *fn,
			    const char *tok, size_t toklen, int ntokens, int64_t now,
			    struct tcache *cache, struct gate_result *res);

static inline int gate_allowed(enum gate_reason r)
{
	return r == GATE_ALLOW_PUBLIC || r == GATE_ALLOW_TOKEN;
}

/* "public", "token", "token_missing", ...: the reason code in logs and 403 bodies. */
const char *gate_reason_name(enum gate_reason r);

#endif
