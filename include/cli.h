/* cli.h - the command-line clients: token, function, audit, admin-key, keygen (admin API or offline),
 * store (the fleet store's schema). */
#ifndef FNGATE_CLI_H
#define FNGATE_CLI_H

#include <stddef.h>

struct conf;

/* Exit statuses (docs/admin-api.md, "CLI"). 0, 1 and 2 keep their first meaning; the others
 * refine "failure" so that scripts can tell why a call was refused. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1,       /* API unreachable, 5xx, I/O, declined confirmation */
	CLI_EXIT_USAGE = 2,         /* bad command line */
	CLI_EXIT_AUTH = 3,          /* 401 / 403: no key, unknown key, missing permission */
	CLI_EXIT_NOT_FOUND = 4,     /* 404 */
	CLI_EXIT_REJECTED = 5,      /* 400 / 409 / 413: the API refused the request (message says why) */
};

/* Each returns the process exit status (enum cli_exit). argv[0] is the subcommand. */
int cli_token(int argc, char **argv);
/* fngate api-key create|list|get|delete: API keys through the admin API, as cli_token. */
int cli_api_key(int argc, char **argv);
int cli_function(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_admin_key(int argc, char **argv);
int cli_keygen(int argc, char **argv);
int cli_store(int argc, char **argv);         /* cli_store.c */
/* Fleet mode (c's store is PostgreSQL): make namespace ns's current generated key in c's
 * state_dir the fleet's, sealed, replacing the store's (every node adopts it and reloads).
 * 0, or -1 with err (nothing written to the store). cli_store.c, for `fngate keygen`. */
int cli_store_share_key(const struct conf *c, const char *ns, char *err, size_t errlen);

#endif
