/* outcome.c - the table of local outcomes: name, status and decision of each (outcome.h). */
#include "outcome.h"

#define ALLOW(n)      {n, 200, OUTCOME_ALLOW}
#define DENY(n)       {n, 403, OUTCOME_DENY}
#define ERR(n, s)     {n, s, OUTCOME_ERROR}

const struct outcome_info outcome_table[OUT_COUNT] = {
	[OUT_NONE]                         = ERR("unknown", 500),
	[OUT_PUBLIC]                       = ALLOW("public"),
	[OUT_TOKEN]                        = ALLOW("token"),
	[OUT_TOKEN_MISSING]                = DENY("token_missing"),
	[OUT_TOKEN_MALFORMED]              = DENY("token_malformed"),
	[OUT_TOKEN_ALG]                    = DENY("token_alg"),
	[OUT_TOKEN_SIGNATURE]              = DENY("token_signature"),
	[OUT_TOKEN_EXPIRED]                = DENY("token_expired"),
	[OUT_TOKEN_NOT_YET_VALID]          = DENY("token_not_yet_valid"),
	[OUT_TOKEN_SCOPE]                  = DENY("token_scope"),
	[OUT_TOKEN_REVOKED]                = DENY("token_revoked"),
	[OUT_TOKEN_UNKNOWN]                = DENY("token_unknown"),
	[OUT_TOKEN_KID_UNKNOWN]            = DENY("token_kid_unknown"),
	[OUT_TOKEN_ISSUED_IN_FUTURE]       = DENY("token_issued_in_future"),
	[OUT_CORS_PREFLIGHT]               = {"cors_preflight", 204, OUTCOME_ALLOW},
	[OUT_CORS_ORIGIN]                  = DENY("cors_origin"),
	[OUT_CORS_METHOD]                  = DENY("cors_method"),
	[OUT_CORS_HEADERS]                 = DENY("cors_headers"),
	[OUT_NO_ROUTE]                     = ERR("no_route", 404),
	[OUT_BAD_REQUEST]                  = ERR("bad_request", 400),
	[OUT_BAD_CHUNK]                    = ERR("bad_chunk", 400),
	[OUT_BAD_HEADER]                   = ERR("bad_header", 400),
	[OUT_BAD_HOST]                     = ERR("bad_host", 400),
	[OUT_BAD_TARGET]                   = ERR("bad_target", 400),
	[OUT_BAD_TRANSFER_ENCODING]        = ERR("bad_transfer_encoding", 400),
	[OUT_BARE_CR]                      = ERR("bare_cr", 400),
	[OUT_BARE_LF]                      = ERR("bare_lf", 400),
	[OUT_OBS_FOLD]                     = ERR("obs_fold", 400),
	[OUT_HTTP_VERSION]                 = ERR("http_version", 505),
	[OUT_METHOD_NOT_ALLOWED]           = ERR("method_not_allowed", 405),
	[OUT_EXPECTATION_FAILED]           = ERR("expectation_failed", 417),
	[OUT_TOO_MANY_HEADERS]             = ERR("too_many_headers", 431),
	[OUT_HEADERS_TOO_LARGE]            = ERR("headers_too_large", 431),
	[OUT_URI_TOO_LONG]                 = ERR("uri_too_long", 414),
	[OUT_BODY_TOO_LARGE]               = ERR("body_too_large", 413),
	[OUT_HEADER_TIMEOUT]               = ERR("header_timeout", 408),
	[OUT_OUT_OF_MEMORY]                = ERR("out_of_memory", 503),
	[OUT_OUT_OF_DESCRIPTORS]           = ERR("out_of_descriptors", 503),
	[OUT_OUT_OF_LOCAL_PORTS]           = ERR("out_of_local_ports", 503),
	[OUT_NO_CONFIGURATION]             = ERR("no_configuration", 503),
	[OUT_STORE_UNAVAILABLE]            = ERR("store_unavailable", 503),
	[OUT_REVOCATION_STATE_STALE]       = ERR("revocation_state_stale", 503),
	[OUT_UPSTREAM_UNAVAILABLE]         = ERR("upstream_unavailable", 502),
	[OUT_UPSTREAM_CONNECT_TIMEOUT]     = ERR("upstream_connect_timeout", 504),
	[OUT_UPSTREAM_TIMEOUT]             = ERR("upstream_timeout", 504),
	[OUT_UPSTREAM_BAD_RESPONSE]        = ERR("upstream_bad_response", 502),
	[OUT_UPSTREAM_CLOSED]              = ERR("upstream_closed", 502),
	[OUT_UPSTREAM_CLOSED_MID_RESPONSE] = ERR("upstream_closed_mid_response", 502),
	[OUT_UPSTREAM_TLS_FAILED]          = ERR("upstream_tls_failed", 502),
	[OUT_CLIENT_CLOSED]                = ERR("client_closed", 499),
	[OUT_CLIENT_CLOSED_EARLY]          = ERR("client_closed_early", 499),
	[OUT_CLIENT_TIMEOUT]               = ERR("client_timeout", 499),
	[OUT_CLIENT_ERROR]                 = ERR("client_error", 499),
	[OUT_TIMEOUT]                      = ERR("timeout", 499),
	[OUT_IDLE_TIMEOUT]                 = ERR("idle_timeout", 499),
	[OUT_SHUTDOWN]                     = ERR("shutdown", 499),
	[OUT_DONE]                         = ERR("done", 499),
	[OUT_TLS_HANDSHAKE_FAILED]         = ERR("tls_handshake_failed", 499),
	[OUT_TLS_HANDSHAKE_TIMEOUT]        = ERR("tls_handshake_timeout", 499),
};

const char *outcome_decision_name(enum outcome_decision d)
{
	return d == OUTCOME_ALLOW ? "allow" : d == OUTCOME_DENY ? "deny" : "error";
}
