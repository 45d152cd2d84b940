/* cli_store.c - `fngate store migrate|import -c FILE`: create or migrate the shared store's
 * schema; copy a single node's state_dir (token records, revocations, privacy overrides,
 * generated signing keys) into it. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "fleet.h"
#include "registry.h"
#include "revoke.h"
#include "signkeys.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define IMPORT_CONFLICTS_SHOWN 20

static int cli_store_usage(FILE *f, int status)
{
	fprintf(f, "usage: fngate store migrate -c FILE\n"
		"       fngate store import -c FILE\n\n"
		"migrate: create or migrate the schema of the PostgreSQL store that FILE's \"store\"\n"
		"block names (to version %d). Safe to run again, and from several nodes at once.\n\n"
		"import: copy FILE's state_dir (token records and revocations, function privacy\n"
		"overrides, generated signing keys, sealed under the store's key_file) into that\n"
		"store, for a single node that becomes a fleet. Stop the node\n"
		"first. Idempotent: what the store already holds is left alone. Refused, with nothing\n"
		"written, when the store holds a different record for any of them.\n",
		STORE_SCHEMA_VERSION);
	return status;
}

/* The store's items, read by the snapshot, sorted by (kind, namespace, key) for lookups. */
struct imp_item {
	enum store_kind kind;
	char           *ns, *key, *body;
};

struct imp_list {
	struct imp_item *v;
	size_t           n, cap;
};

static int imp_push(struct imp_list *l, enum store_kind kind, const char *ns, const char *key,
		    const char *body)
{
	struct imp_item *it;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct imp_item *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	it = &l->v[l->n];
	it->kind = kind;
	it->ns = strdup(ns);
	it->key = strdup(key);
	it->body = body != NULL ? strdup(body) : NULL;
	if (it->ns == NULL || it->key == NULL || (body != NULL && it->body == NULL)) {
		free(it->ns);
		free(it->key);
		free(it->body);
		return -1;
	}
	l->n++;
	return 0;
}

static void imp_free(struct imp_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].ns);
		free(l->v[i].key);
		free(l->v[i].body);
	}
	free(l->v);
}

static int imp_cmp(const void *pa, const void *pb)
{
	const struct imp_item *a = pa, *b = pb;
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((c = strcmp(a->ns, b->ns)) != 0)
		return c;
	return strcmp(a->key, b->key);
}

static int imp_on_store_item(const struct store_change *ch, void *arg)
{
	return imp_push(arg, ch->item.kind, ch->item.namespace_id, ch->item.key, ch->item.body);
}

static int imp_on_privacy(const char *function_id, enum privacy p, void *arg)
{
	return imp_push(arg, STORE_KIND_PRIVACY, "", function_id, p == PRIVACY_PUBLIC ?
			"{\"privacy\":\"public\"}" : "{\"privacy\":\"private\"}");
}

/* Whether two bodies of one item say the same. For a record, its last use and the store
 * position it was applied at are set aside: a node updates them without the record changing. */
static bool imp_same(const char *a, const char *b)
{
	json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
	bool same;

	json_object_del(ja, "used");
	json_object_del(jb, "used");
	json_object_del(ja, "seq");
	json_object_del(jb, "seq");
	same = ja != NULL && jb != NULL && json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	return same;
}

static const char *imp_kind_name(enum store_kind k)
{
	return k == STORE_KIND_TOKEN ? "token record" : k == STORE_KIND_REVOCATION ?
	       "revocation" : k == STORE_KIND_API_KEY ? "API key record" :
	       "privacy override of function";
}

/* The generated signing key of each token-issuing namespace without a configured signing_key
 * that state_dir holds, sealed (fleet_key_body), as items. 0, or -1 (message printed). */
static int imp_keys(const struct conf *c, struct imp_list *l)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	char err[512];
	int rc = 0;

	if (store_seal_key_load(c->store.key_file, key, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store import: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < c->nnamespaces && rc == 0; i++) {
		const struct conf_namespace *ns = &c->namespaces[i];
		char kid[32], *pem = NULL, *body = NULL;
		size_t len = 0;

		if (!ns->issue_tokens || ns->signing_key != NULL ||
		    signkeys_current_kid(c->state_dir, ns->id, kid, sizeof(kid)) != 0)
			continue;
		if (signkeys_generated(c->state_dir, ns->id, kid, sizeof(kid), &pem, &len, err,
					   sizeof(err)) != 0) {
			fprintf(stderr, "fngate store import: namespace %s: %s\n", ns->id, err);
			rc = -1;
			continue;
		}
		body = fleet_key_body(key, ns->id, kid, pem, len);
		util_wipe(pem, len);
		free(pem);
		if (body == NULL || imp_push(l, STORE_KIND_SIGNING_KEY, ns->id, kid, body) != 0) {
			fprintf(stderr, "fngate store import: out of memory\n");
			rc = -1;
		}
		free(body);
	}
	util_wipe(key, sizeof(key));
	return rc;
}

int cli_store_share_key(const struct conf *c, const char *ns, char *err, size_t errlen)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	char kid[32], *pem = NULL, *body = NULL;
	size_t len = 0;
	struct store *s = NULL;
	int rc = -1;

	if (store_seal_key_load(c->store.key_file, key, err, errlen) != 0)
		return -1;
	if (signkeys_generated(c->state_dir, ns, kid, sizeof(kid), &pem, &len, err,
				   errlen) != 0)
		goto cleanup;
	if ((body = fleet_key_body(key, ns, kid, pem, len)) == NULL) {
		util_seterr(err, errlen, "sealing failed");
		goto cleanup;
	}
	s = store_open(c->store.conninfo, err, errlen);
	if (s == NULL || store_migrate(s, err, errlen) != 0)
		goto cleanup;
	rc = store_replace(s, &(struct store_item){STORE_KIND_SIGNING_KEY, ns, kid, body}, err,
			   errlen);
cleanup:
	store_close(s);
	if (pem != NULL)
		util_wipe(pem, len);
	free(pem);
	free(body);
	util_wipe(key, sizeof(key));
	return rc;
}

/* The store's signing key of namespace ns (one per namespace: store_claim), or NULL. */
static const struct imp_item *imp_find_key(const struct imp_list *stored, const char *ns)
{
	for (size_t i = 0; i < stored->n; i++)
		if (stored->v[i].kind == STORE_KIND_SIGNING_KEY && strcmp(stored->v[i].ns, ns) == 0)
			return &stored->v[i];
	return NULL;
}

/* `fngate store import`: the node's state (its registry opened read as at start: the journal
 * locked, so a running node refuses it) compared with the store's snapshot, then whatever the
 * store lacks written in one transaction. Exit status as cli.h. */
static int cli_store_import(const struct conf *c, struct store *s)
{
	struct imp_list local = {0}, stored = {0};
	struct registry *r = NULL;
	const struct token_record **recs = NULL;
	struct store_item *writes = NULL;
	size_t total = 0, nrec, nwrites = 0, nsame = 0, nconflict = 0;
	struct store_mark at;
	int64_t seq = 0;
	char err[512];
	int rc = CLI_EXIT_FAILURE;

	if (revoke_init() != 0) {
		fprintf(stderr, "fngate store import: cannot initialise the revocation set\n");
		return rc;
	}
	r = registry_open(c->state_dir, err, sizeof(err));
	if (r == NULL) {
		fprintf(stderr, "fngate store import: %s\n", err);
		goto cleanup;
	}
	nrec = registry_count(r);
	recs = calloc(nrec ? nrec : 1, sizeof(*recs));
	if (recs == NULL)
		goto oom;
	/* Tokens, then API keys: a listing holds one kind. */
	for (int keys = 0; keys <= 1; keys++) {
		size_t n = registry_list(r, &(struct registry_query){.page = 1, .api_keys = keys,
				    .page_size = nrec ? nrec : 1}, recs, nrec, &total);

		for (size_t i = 0; i < n; i++) {
			char *js = registry_record_json(recs[i]);
			struct store_item it;
			int bad;

			if (js == NULL)
				goto oom;
			fleet_record_item(recs[i], js, &it);
			bad = imp_push(&local, it.kind, it.namespace_id, it.key, js);
			free(js);
			if (bad != 0)
				goto oom;
		}
	}
	if (state_each_privacy(c->state_dir, imp_on_privacy, &local, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store import: %s\n", err);
		goto cleanup;
	}
	if (imp_keys(c, &local) != 0)
		goto cleanup;
	if (store_snapshot(s, imp_on_store_item, &stored, &at, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store import: %s\n", err);
		goto cleanup;
	}
	if (stored.n > 0)   /* qsort's array may not be NULL, even for no element */
		qsort(stored.v, stored.n, sizeof(*stored.v), imp_cmp);
	writes = calloc(local.n ? local.n : 1, sizeof(*writes));
	if (writes == NULL)
		goto oom;
	for (size_t i = 0; i < local.n; i++) {
		const struct imp_item *l = &local.v[i];
		const struct imp_item *st;

		/* A signing key: one per namespace, and compared by kid (each sealing differs). */
		if (l->kind == STORE_KIND_SIGNING_KEY) {
			st = imp_find_key(&stored, l->ns);
			if (st == NULL)
				writes[nwrites++] = (struct store_item){l->kind, l->ns, l->key, l->body};
			else if (strcmp(st->key, l->key) == 0)
				nsame++;
			else if (nconflict++ < IMPORT_CONFLICTS_SHOWN)
				fprintf(stderr, "fngate store import: conflict: the store holds another "
					"generated signing key of namespace %s (%s; here: %s): the tokens "
					"this node issued would be refused by the fleet\n", l->ns, st->key,
					l->key);
			continue;
		}
		st = stored.n > 0 ? bsearch(l, stored.v, stored.n, sizeof(*stored.v), imp_cmp) :
		     NULL;
		if (st == NULL) {
			writes[nwrites++] = (struct store_item){l->kind, l->ns, l->key, l->body};
		} else if (imp_same(l->body, st->body)) {
			nsame++;
		} else if (nconflict++ < IMPORT_CONFLICTS_SHOWN) {
			fprintf(stderr, "fngate store import: conflict: the store holds a different %s "
				"%s%s%s\n  here:  %s\n  store: %s\n", imp_kind_name(l->kind), l->ns,
				*l->ns ? "/" : "", l->key, l->body, st->body);
		}
	}
	if (nconflict > 0) {
		fprintf(stderr, "fngate store import: %zu record(s) of %s differ from the store's: "
			"nothing was imported\n", nconflict, c->state_dir);
		rc = CLI_EXIT_REJECTED;
		goto cleanup;
	}
	if (nwrites == 0) {
		printf("nothing to import: the store already holds all %zu items of %s\n", local.n,
		       c->state_dir);
		rc = CLI_EXIT_OK;
		goto cleanup;
	}
	if (store_apply(s, writes, nwrites, NULL, &seq, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store import: %s\n", err);
		goto cleanup;
	}
	printf("imported %zu items of %s into the store (changes %lld to %lld); %zu were already "
	       "there\n", nwrites, c->state_dir, (long long)(seq - (int64_t)nwrites + 1),
	       (long long)seq, nsame);
	rc = CLI_EXIT_OK;
	goto cleanup;
oom:
	fprintf(stderr, "fngate store import: out of memory\n");
cleanup:
	free(writes);
	free(recs);
	imp_free(&local);
	imp_free(&stored);
	registry_close(r);
	revoke_shutdown();
	return rc;
}

int cli_store(int argc, char **argv)
{
	struct conf_errors errs = {0};
	const char *path = NULL, *cmd;
	struct conf *c = NULL;
	struct store *s = NULL;
	char err[512];
	int rc = CLI_EXIT_FAILURE;

	if (argc < 2)
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return cli_store_usage(stdout, CLI_EXIT_OK);
	if (strcmp(cmd, "migrate") != 0 && strcmp(cmd, "import") != 0) {
		fprintf(stderr, "fngate store: unknown command '%s'\n", cmd);
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	}
	for (int i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cli_store_usage(stdout, CLI_EXIT_OK);
		fprintf(stderr, "fngate store %s: unknown argument '%s'\n", cmd, argv[i]);
		return cli_store_usage(stderr, CLI_EXIT_USAGE);
	}
	if (path == NULL) {
		fprintf(stderr, "fngate store %s: -c FILE is required\n", cmd);
		return CLI_EXIT_USAGE;
	}
	c = conf_load(path, &errs);
	if (c == NULL) {
		conf_errors_print(&errs, stderr);
		goto cleanup;
	}
	if (c->store.type != CONF_STORE_POSTGRESQL) {
		fprintf(stderr, "fngate store %s: %s has no \"store\" of type \"postgresql\"\n", cmd,
			path);
		goto cleanup;
	}
	s = store_open(c->store.conninfo, err, sizeof(err));
	if (s == NULL || store_migrate(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "fngate store %s: %s\n", cmd, err);
		goto cleanup;
	}
	if (strcmp(cmd, "import") == 0) {
		rc = cli_store_import(c, s);
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
