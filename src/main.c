/* main.c - `fngate`: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include <openssl/opensslv.h>
#include <event2/event.h>
#include <jansson.h>

#include "backup.h"
#include "cli.h"
#include "serve.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fngate <command> [options]\n"
		"\n"
		"Gateway:\n"
		"  serve -c FILE          run the gateway\n"
		"  check -c FILE          validate a configuration and the keys it names\n"
		"  version                print the version\n"
		"\n"
		"Tokens and keys (through the admin API unless noted):\n"
		"  token create|list|get|delete|revoke|mint ...\n"
		"  api-key create|list|get|delete ...\n"
		"  function set-privacy ID private|public\n"
		"  function reset-privacy ID\n"
		"  audit [--namespace ID] [--actor NAME] [--action A] [--since T] [--until T]\n"
		"  admin-key create --name NAME --role owner   (offline)\n"
		"  keygen --namespace ID [--alg RS256|ES256] [--bits N] [--rotate]   (offline)\n"
		"\n"
		"State:\n"
		"  state backup -c FILE DIR   copy state_dir consistently while fngate runs\n"
		"Fleet store (PostgreSQL):\n"
		"  store migrate -c FILE  create or migrate the store's schema\n"
		"  store import -c FILE   copy a single node's state_dir into the store\n"
		"\n"
		"Run `fngate <command> --help` for a command's options.\n");
}

/* serve and check share their options: -c FILE (or --config FILE). */
static int config_command(int argc, char **argv, int (*fn)(const char *))
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: fngate %s -c FILE\n\n%s\n", argv[0],
			       strcmp(argv[0], "serve") == 0
			       ? "Run the gateway. SIGHUP reloads the configuration, SIGTERM stops\n"
				 "gracefully, SIGUSR1 reopens the access log."
			       : "Validate FILE and every key it names; print each error as\n"
				 "file:line:column: message. Exit 0 when valid, 1 otherwise.");
			return 0;
		}
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		fprintf(stderr, "fngate %s: unknown argument '%s' (see --help)\n", argv[0], argv[i]);
		return 2;
	}
	if (path == NULL) {
		fprintf(stderr, "fngate %s: -c FILE is required (see --help)\n", argv[0]);
		return 2;
	}
	return fn(path);
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("fngate %s (libevent %s, %s, jansson %s)\n", FNGATE_VERSION, event_get_version(),
		       OPENSSL_VERSION_TEXT, JANSSON_VERSION);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return config_command(argc - 1, argv + 1, serve_main);
	if (strcmp(cmd, "check") == 0)
		return config_command(argc - 1, argv + 1, serve_check);
	if (strcmp(cmd, "token") == 0)
		return cli_token(argc - 1, argv + 1);
	if (strcmp(cmd, "api-key") == 0)
		return cli_api_key(argc - 1, argv + 1);
	if (strcmp(cmd, "function") == 0)
		return cli_function(argc - 1, argv + 1);
	if (strcmp(cmd, "audit") == 0)
		return cli_audit(argc - 1, argv + 1);
	if (strcmp(cmd, "admin-key") == 0)
		return cli_admin_key(argc - 1, argv + 1);
	if (strcmp(cmd, "keygen") == 0)
		return cli_keygen(argc - 1, argv + 1);
	if (strcmp(cmd, "state") == 0)
		return backup_main(argc - 1, argv + 1);
	if (strcmp(cmd, "store") == 0)
		return cli_store(argc - 1, argv + 1);
	fprintf(stderr, "fngate: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
