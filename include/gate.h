/* gate.h - the private-function policy: one explicit gate that denies by default and returns a
 * typed reason. Everything a request needs to be let through is checked here, in one place. */
#ifndef FNGATE_GATE_H
#define FNGATE_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "outcome.h"
#include "token.h"

struct conf;
struct conf_function;
struct tcache;

struct gate_result {
	enum outcome reason;            /* OUT_PUBLIC, OUT_TOKEN, OUT_API_KEY or a refusal */
	/* the token's jti, or the API key's id once its secret matched ("" otherwise): for logs
	 * and the function (X-Fngate-Token-Id), never a secret */
	char jti[TOKEN_ID_MAX + 1];
	int  cache_hit;
};

/* Decide on a request for `fn` under configuration `c`. `tok` is the X-Auth-Token value
 * (NULL when absent), `ntokens` how many X-Auth-Token headers the request had: a JWT, or an API
 * key (apikey.h: it starts with the key prefix). `cache` is the calling worker's token cache
 * (may be NULL; API keys do not use it). Starts from OUT_NONE ("nothing allows it yet") and
 * never returns it: every path names its outcome, an allow (OUT_PUBLIC, OUT_TOKEN, OUT_API_KEY)
 * or a refusal (OUT_TOKEN_*, OUT_API_KEY_*: 403). */
enum outcome gate_check(const struct conf *c, const struct conf_function *fn,
			    const char *tok, size_t toklen, int ntokens, int64_t now,
			    struct tcache *cache, struct gate_result *res);

#endif
