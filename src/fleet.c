/* fleet.c - fleet mode: the registry's writes committed to the shared store first, its snapshot
 * loaded at start, and its change log followed on the main loop (fleet.h). */
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "health.h"
#include "log.h"
#include "registry.h"
#include "revoke.h"
#include "store.h"
#include "util.h"

#define FLEET_TICK_MS      200      /* staleness is judged this often */
#define FLEET_STALE_LOG_US (10 * 1000000ull)

const double fleet_lag_bounds_s[FLEET_LAG_BUCKETS] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5
};

struct fleet {
	struct store    *store;
	struct registry *reg;
	bool             migrated;      /* the schema is known current */
	int64_t          start_pos;     /* where the watch starts reading */
	bool             connected;     /* the watch's connection is up */
	bool             current;       /* ... and has caught up since it connected */
	uint64_t         heard_us;      /* util_mono_us() the store was last heard from; 0: never */
	struct event    *tick;
	uint64_t         stale_logged_us;
	uint64_t         stale_logged_n;
	uint64_t         applied;
	uint64_t         lag_le[FLEET_LAG_BUCKETS];
	uint64_t         lag_count;
	double           lag_sum_s;
};

/* The running fleet (fleet_start .. fleet_close), for fleet_status. Main thread only. */
static struct fleet *fleet_running;

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
	struct fleet *f = arg;
	struct timespec ts;
	double lag;

	if (fleet_apply(f, &ch->item, ch->seq) != 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	lag = ((double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3 - (double)ch->committed_us) / 1e6;
	lag = lag < 0 ? 0 : lag;    /* clocks of two machines */
	f->applied++;
	f->lag_count++;
	f->lag_sum_s += lag;
	for (int i = 0; i < FLEET_LAG_BUCKETS; i++)
		if (lag <= fleet_lag_bounds_s[i])
			f->lag_le[i]++;
	return 0;
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
	/* Heard from only once caught up: before that, this node's state may still be old. */
	f->current = f->connected && (caught_up || f->current);
	if (f->current)
		f->heard_us = util_mono_us();
	/* What was applied reaches the local snapshot once a catch-up is complete (or cut). */
	if (caught_up || !connected)
		(void)registry_sync(f->reg);
}

/* Every FLEET_TICK_MS: is the revocation state stale (max_staleness_s, read from the current
 * configuration so that a reload changes it), and tell the gate. A node that started without
 * reaching the store has never heard from it: stale at once when there is a cap. */
static void fleet_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;
	struct conf *c = conf_acquire();
	uint64_t now = util_mono_us(), cap_us;
	bool stale, policy_serve;

	(void)fd;
	(void)what;
	if (c == NULL)
		return;
	cap_us = (uint64_t)c->store.max_staleness_s * 1000000u;
	policy_serve = c->store.stale_policy == CONF_STALE_SERVE;
	conf_unref(c);
	if (f->current)
		f->heard_us = now;
	stale = cap_us > 0 && !f->current && (f->heard_us == 0 || now - f->heard_us > cap_us);
	if (stale != revoke_stale()) {
		if (stale)
			log_msg(LOG_LVL_ERROR, "fleet: nothing heard from the store for more than %llu s: "
				"private calls %s", (unsigned long long)(cap_us / 1000000u),
				policy_serve ? "are served from the last known state (stale_policy serve)" :
				"answer 503 revocation_state_stale (stale_policy refuse)");
		else
			log_msg(LOG_LVL_INFO, "fleet: the store's state is current again");
		revoke_set_stale(stale);
	}
	if (stale && revoke_stale_served() != f->stale_logged_n &&
	    now - f->stale_logged_us >= FLEET_STALE_LOG_US) {
		log_msg(LOG_LVL_WARN, "fleet: %llu private calls served from a stale state so far",
			(unsigned long long)revoke_stale_served());
		f->stale_logged_n = revoke_stale_served();
		f->stale_logged_us = now;
	}
}

/* The readiness condition (health.h): not stale. */
static bool fleet_fresh(const char **why)
{
	if (!revoke_stale())
		return true;
	*why = "revocation state stale: the store unheard from beyond max_staleness_s";
	return false;
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
		f->heard_us = util_mono_us();
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
	struct timeval tv = {0, FLEET_TICK_MS * 1000};

	f->tick = event_new(base, -1, EV_PERSIST, fleet_on_tick, f);
	if (f->tick == NULL || event_add(f->tick, &tv) != 0)
		return -1;
	health_set_store_fresh(fleet_fresh);
	fleet_running = f;
	fleet_on_tick(-1, 0, f);
	return store_watch(f->store, base, f->start_pos, fleet_on_change, fleet_on_status, f);
}

void fleet_close(struct fleet *f)
{
	if (f == NULL)
		return;
	registry_set_commit(f->reg, NULL, NULL);
	if (fleet_running == f)
		fleet_running = NULL;
	if (f->tick != NULL) {
		health_set_store_fresh(NULL);
		event_free(f->tick);
	}
	store_close(f->store);
	(void)registry_sync(f->reg);
	free(f);
}

int fleet_status(struct fleet_status *out)
{
	const struct fleet *f = fleet_running;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return -1;
	out->connected = f->connected;
	out->stale = revoke_stale();
	out->position = store_watch_position(f->store);
	out->applied = f->applied;
	out->heard_age_s = f->heard_us == 0 ? -1 :
			   f->current ? 0 : (double)(util_mono_us() - f->heard_us) / 1e6;
	memcpy(out->lag_le, f->lag_le, sizeof(out->lag_le));
	out->lag_count = f->lag_count;
	out->lag_sum_s = f->lag_sum_s;
	return 0;
}
