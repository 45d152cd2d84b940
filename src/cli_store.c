/* cli_store.c - `fngate store migrate -c FILE`: create or migrate the shared store's schema. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "store.h"

static int cli_store_usage(FILE *f, int status)
{
	fprintf(f, "usage: fngate store migrate -c FILE\n\n"
		"Create or migrate the schema of the PostgreSQL store that FILE's \"store\" block names\n"
		"(to version %d). Safe to run again, and from several nodes at once.\n",
		STORE_SCHEMA_VERSION);
	return status;
}

int cli_store(int argc, char **argv)
{
	struct conf_errors errs = {0};
	const char *path = NULL;
	struct conf *c = NULL;
	struct store *s = NULL;
	char err[512];
	int rc = CLI_EXIT_FAILURE;

	if (argc < 2)
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cli_store_usage(stdout, CLI_EXIT_OK);
	if (strcmp(argv[1], "migrate") != 0) {
		fprintf(stderr, "fngate store: unknown command '%s'\n", argv[1]);
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	}
	for (int i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cli_store_usage(stdout, CLI_EXIT_OK);
		fprintf(stderr, "fngate store migrate: unknown argument '%s'\n", argv[i]);
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	}
	if (path == NULL) {
		fprintf(stderr, "fngate store migrate: -c FILE is required\n");
		return CLI_EXIT_USAGE;
	}
	c = conf_load(path, &errs);
	if (c == NULL) {
		conf_errors_print(&errs, stderr);
		goto cleanup;
	}
	if (c->store.type != CONF_STORE_POSTGRESQL) {
		fprintf(stderr, "fngate store migrate: %s has no \"store\" of type \"postgresql\"\n", path);
		goto cleanup;
	}
	s = store_open(c->store.conninfo, err, sizeof(err));
	if (s == NULL || store_migrate(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store migrate: %s\n", err);
		goto cleanup;
	}
	printf("store schema at version %d\n", STORE_SCHEMA_VERSION);
	rc = CLI_EXIT_OK;
cleanup:
	store_close(s);
	conf_unref(c);
	conf_errors_free(&errs);
	return rc;
}
