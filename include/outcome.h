/* outcome.h - every local outcome of a request as one typed value, and the one table that gives
 * each its name (the reason code of JSON bodies and access logs, and the metrics label), the
 * HTTP status fngate answers with, and the decision it counts as. The gate, the replies, the
 * access log and the metrics all read this table, as HAProxy's jwt.c does with its verify
 * statuses; tests/unit/test_outcome.c walks it, so a new outcome cannot be left unnamed. */
#ifndef FNGATE_OUTCOME_H
#define FNGATE_OUTCOME_H

#include <stdbool.h>

enum outcome {
	OUT_NONE = 0,               /* nothing decided: the starting state ("unknown") */
	/* allowed by the gate (gate.c) */
	OUT_PUBLIC,
	OUT_TOKEN,
	OUT_API_KEY,                /* an API key (apikey.h) in X-Auth-Token */
	/* refused by the gate: 403 (security.md lists the checks) */
	OUT_TOKEN_MISSING,
	OUT_TOKEN_MALFORMED,        /* includes more than one X-Auth-Token and over max_token_bytes */
	OUT_TOKEN_ALG,
	OUT_TOKEN_SIGNATURE,
	OUT_TOKEN_EXPIRED,
	OUT_TOKEN_NOT_YET_VALID,
	OUT_TOKEN_SCOPE,
	OUT_TOKEN_REVOKED,
	OUT_TOKEN_UNKNOWN,          /* namespace requires registered tokens; this jti is not */
	OUT_TOKEN_KID_UNKNOWN,      /* the header's kid names no key of the namespace */
	OUT_TOKEN_ISSUED_IN_FUTURE, /* iat beyond now + leeway */
	OUT_API_KEY_UNKNOWN,        /* no key has this id, or not with this secret */
	OUT_API_KEY_REVOKED,        /* the key was deleted (its secret matched) */
	OUT_API_KEY_EXPIRED,        /* the key's expires_at has passed (its secret matched) */
	/* CORS preflights of a function with "cors", answered by fngate itself (cors.c): never
	 * forwarded, no token asked */
	OUT_CORS_PREFLIGHT,         /* 204 with the Access-Control-Allow-* fields */
	OUT_CORS_ORIGIN,            /* 403: the Origin is not in allow_origins */
	OUT_CORS_METHOD,            /* 403: Access-Control-Request-Method not in allow_methods */
	OUT_CORS_HEADERS,           /* 403: Access-Control-Request-Headers names one not allowed */
	/* fngate's own answers to a request it could not or would not serve */
	OUT_NO_ROUTE,
	OUT_BAD_REQUEST,            /* a framing error llhttp reports, without a finer outcome */
	OUT_BAD_CHUNK,
	OUT_BAD_HEADER,
	OUT_BAD_HOST,
	OUT_BAD_TARGET,
	OUT_BAD_TRANSFER_ENCODING,
	OUT_BARE_CR,
	OUT_BARE_LF,
	OUT_OBS_FOLD,
	OUT_HTTP_VERSION,           /* a well-formed HTTP-version other than 1.0 and 1.1 */
	OUT_METHOD_NOT_ALLOWED,
	OUT_EXPECTATION_FAILED,
	OUT_TOO_MANY_HEADERS,
	OUT_HEADERS_TOO_LARGE,
	OUT_URI_TOO_LONG,
	OUT_BODY_TOO_LARGE,
	OUT_HEADER_TIMEOUT,
	OUT_OUT_OF_MEMORY,
	OUT_OUT_OF_DESCRIPTORS,
	OUT_OUT_OF_LOCAL_PORTS,
	OUT_TUNNEL_LIMIT,           /* an upgrade over limits.max_tunnels (tunnels open at once) */
	OUT_NO_CONFIGURATION,
	OUT_STORE_UNAVAILABLE,      /* an admin write the store (fleet mode's, or the journal) could
	                             * not take: the admin API's answer, never the data plane's */
	OUT_REVOCATION_STATE_STALE, /* fleet mode: a private call while the node's state is stale */
	/* the upstream failed */
	OUT_UPSTREAM_UNAVAILABLE,
	OUT_UPSTREAM_CONNECT_TIMEOUT,
	OUT_UPSTREAM_TIMEOUT,
	OUT_UPSTREAM_BAD_RESPONSE,
	OUT_UPSTREAM_CLOSED,
	OUT_UPSTREAM_CLOSED_MID_RESPONSE,
	OUT_UPSTREAM_TLS_FAILED,
	OUT_UPSTREAM_UPGRADE_REFUSED, /* an HTTP/2 extended CONNECT (RFC 8441) the upstream answered
				       * with a 2xx instead of its 101 */
	/* the connection ended: no answer of fngate's (499 when a request was under way) */
	OUT_CLIENT_CLOSED,
	OUT_CLIENT_CLOSED_EARLY,
	OUT_CLIENT_TIMEOUT,
	OUT_CLIENT_ERROR,
	OUT_TIMEOUT,
	OUT_IDLE_TIMEOUT,
	OUT_SHUTDOWN,
	OUT_DONE,
	OUT_TLS_HANDSHAKE_FAILED,
	OUT_TLS_HANDSHAKE_TIMEOUT,
	OUT_TUNNEL_IDLE,            /* a tunnel with no byte either way for tunnel_idle_ms */
	OUT_PROTOCOL_NOT_SUPPORTED, /* an HTTP/2 extended CONNECT for a :protocol other than
				     * websocket (RFC 8441), or to a function whose upstreams speak
				     * h2c (no tunnel through them) */
	OUT_COUNT
};

enum outcome_decision {
	OUTCOME_ALLOW = 1,          /* the gate let it through (or a CORS preflight passed) */
	OUTCOME_DENY,               /* the gate refused it (or a CORS preflight failed) */
	OUTCOME_ERROR,              /* anything else */
};

struct outcome_info {
	const char            *name;     /* reason code: JSON bodies, logs, metrics label */
	unsigned short         status;   /* what fngate answers; 499 for a connection end */
	enum outcome_decision  decision;
};

/* Indexed by enum outcome; every value has its entry (test_outcome.c checks). */
extern const struct outcome_info outcome_table[OUT_COUNT];

/* The entry of o; out-of-range values read as OUT_NONE's. */
static inline const struct outcome_info *outcome_info(enum outcome o)
{
	return &outcome_table[(unsigned)o < OUT_COUNT ? (unsigned)o : 0];
}

static inline const char *outcome_name(enum outcome o)
{
	return outcome_info(o)->name;
}

static inline int outcome_status(enum outcome o)
{
	return outcome_info(o)->status;
}

static inline bool outcome_allowed(enum outcome o)
{
	return outcome_info(o)->decision == OUTCOME_ALLOW;
}

/* "allow", "deny" or "error". */
const char *outcome_decision_name(enum outcome_decision d);

/* What a finished request is recorded as, in the access log and the metrics alike: the gate's
 * outcome, unless the gate allowed it and it then failed (err), or the gate was not reached. */
static inline enum outcome outcome_final(enum outcome gate, enum outcome err)
{
	if (gate == OUT_NONE || (err != OUT_NONE && outcome_allowed(gate)))
		return err;
	return gate;
}

#endif
