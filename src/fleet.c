/* fleet.c - fleet mode: the registry's writes committed to the shared store first, its snapshot
 * loaded at start, and its change log followed on the main loop (fleet.h). */
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "registry.h"
#include "store.h"
#include "util.h"

struct fleet {
	struct store    *store;
	struct registry *reg;
	bool             migrated;      /* the schema is known current */
	int64_t          start_pos;     /* where the watch starts reading */
	bool             connected;
};

/* The store item of a record: an issued token under its id; an imported revocation under the
 * namespace it applies in ("" for every namespace) and the jti. */
static void fleet_item(const struct token_record *t, const char *json, struct store_item *it)
{
	const char *ns = registry_rec_ns(t);

	it->kind = t->imported ? STORE_KIND_REVOCATION : STORE_KIND_TOKEN;
	it->namespace_id = t->imported && ns != NULL ? ns : "";
	it->key = t->id;
	it->body = json;
}

/* The schema is made current once per process, at the first moment the store answers. */
static int fleet_migrate(struct fleet *f, char *err, size_t errlen)
{
	if (f->migrated)
		return 0;
	if (store_migrate(f->store, err, errlen) != 0)
		return -1;
	f->migrated = true;
	return 0;
}

/* registry_commit_fn: one store_apply per registry write. */
static int fleet_commit(void *arg, const struct token_record *t, const char *json, int64_t *seq,
			char *err, size_t errlen)
{
	struct fleet *f = arg;
	struct store_item it;

	fleet_item(t, json, &it);
	if (fleet_migrate(f, err, errlen) != 0)
		return -1;
	return store_apply(f->store, &it, 1, seq, err, errlen);
}

/* Apply one item of the store (a change of the log, or an item of the snapshot) at position
 * seq. Returns 0 to go on, -1 to have it read again (resources). */
static int fleet_apply(struct fleet *f, const struct store_item *it, int64_t seq)
{
	char err[256];
	int rc;

	switch (it->kind) {
	case STORE_KIND_TOKEN:
	case STORE_KIND_REVOCATION:
		break;
	default:
		return 0;   /* kinds this node does not follow yet */
	}
	if (it->body == NULL)
		return 0;   /* records are never deleted: a deletion cannot take a revocation back */
	rc = registry_apply_json(f->reg, it->body, seq, err, sizeof(err));
	if (rc == -2) {
		log_msg(LOG_LVL_ERROR, "fleet: change %lld: %s; read again later", (long long)seq, err);
		return -1;
	}
	if (rc < 0)
		log_msg(LOG_LVL_ERROR, "fleet: change %lld (%s %s): %s; skipped", (long long)seq,
			it->namespace_id, it->key, err);
	return 0;
}

static int fleet_on_change(const struct store_change *ch, void *arg)
{
	return fleet_apply(arg, &ch->item, ch->seq);
}

/* A snapshot item holds the state at the snapshot's position. */
struct fleet_snap {
	struct fleet *f;
	int64_t       position;
};

static int fleet_on_snapshot_item(const struct store_change *ch, void *arg)
{
	struct fleet_snap *s = arg;

	return fleet_apply(s->f, &ch->item, s->position);
}

static void fleet_on_status(int connected, int caught_up, int64_t position, void *arg)
{
	struct fleet *f = arg;

	if (connected && !f->connected)
		log_msg(LOG_LVL_INFO, "fleet: following the store from change %lld",
			(long long)position);
	else if (!connected && f->connected)
		log_msg(LOG_LVL_WARN, "fleet: lost the store at change %lld; serving the last known "
			"state", (long long)position);
	f->connected = connected != 0;
	/* What was applied reaches the local snapshot once a catch-up is complete (or cut). */
	if (caught_up || !connected)
		(void)registry_sync(f->reg);
}

struct fleet *fleet_open(struct registry *r, const struct conf_store *cs, char *err,
			 size_t errlen)
{
	struct fleet *f = calloc(1, sizeof(*f));
	struct fleet_snap snap;
	char serr[512];

	if (f == NULL) {
		util_seterr(err, errlen, "out of memory");
		return NULL;
	}
	f->reg = r;
	f->store = store_open(cs->conninfo, err, errlen);
	if (f->store == NULL) {
		free(f);
		return NULL;
	}
	f->start_pos = registry_position(r);
	snap.f = f;
	snap.position = 0;
	if (fleet_migrate(f, serr, sizeof(serr)) != 0 ||
	    store_snapshot(f->store, fleet_on_snapshot_item, &snap, &snap.position, serr,
			   sizeof(serr)) != 0) {
		log_msg(LOG_LVL_WARN, "fleet: %s; serving the local snapshot (%zu records, change "
			"%lld) until the store answers", serr, registry_count(r),
			(long long)f->start_pos);
	} else {
		f->start_pos = snap.position;
		log_msg(LOG_LVL_INFO, "fleet: loaded the store's snapshot at change %lld (%zu records)",
			(long long)snap.position, registry_count(r));
	}
	if (registry_sync(r) != 0)
		log_msg(LOG_LVL_WARN, "fleet: the local snapshot could not be written; retried");
	registry_set_commit(r, fleet_commit, f);
	return f;
}

int fleet_start(struct fleet *f, struct event_base *base)
{
	return store_watch(f->store, base, f->start_pos, fleet_on_change, fleet_on_status, f);
}

void fleet_close(struct fleet *f)
{
	if (f == NULL)
		return;
	registry_set_commit(f->reg, NULL, NULL);
	store_close(f->store);
	(void)registry_sync(f->reg);
	free(f);
}
