/* registry.h - the token registry: durable token records in state_dir.
 *
 * A record never holds the token itself (it is shown once, at creation). Every change is made
 * durable before the call returns (write temp file, fsync, rename, fsync dir, or a checksummed
 * journal), and the revocation set (revoke.h) is updated before returning too. The daemon's main
 * thread is the only writer. */
#ifndef FNGATE_REGISTRY_H
#define FNGATE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;

enum token_record_status {
	TOKEN_REC_READY = 1,
	TOKEN_REC_REVOKED,
};

struct token_record {
	char    id[37 + 91];        /* the jti: a UUID for tokens fngate issued; any id for imported ones */
	char   *namespace_id;
	char   *function_id;        /* NULL: namespace-wide */
	char   *description;
	int64_t created_at;
	int64_t expires_at;         /* 0: no expiry */
	enum token_record_status status;
	int64_t revoked_at;         /* 0 unless revoked */
	int64_t last_used_at;       /* 0: never */
	char   *kid;                /* the key that signed it; NULL for imported ids */
	bool    imported;           /* revoked by jti without having been issued here */
};

/* Open (create if needed) the registry in state_dir, load every record (tolerating a crash at any
 * step of a previous write), and fill the revocation set. NULL with a message in err on failure. */
struct registry *registry_open(const char *state_dir, char *err, size_t errlen);
void registry_close(struct registry *r);

#endif
