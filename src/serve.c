/* serve.c - the daemon: configuration checked whole before the loop starts, listeners bound,
 * workers started; SIGHUP reloads (a bad configuration is refused and the old one kept),
 * SIGTERM stops accepting and lets requests in flight finish, SIGUSR1 reopens the access log. */
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "admin.h"
#include "audit.h"
#include "conf.h"
#include "fleet.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "registry.h"
#include "signkeys.h"
#include "revoke.h"
#include "state.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

struct daemon {
	const char        *path;
	struct event_base *base;
	struct worker     *workers;
	int                nworkers;
	struct registry   *reg;
	struct signkeys   *keys;         /* the signing keys minted with (signkeys.h) */
	char              *state_dir;    /* as at start: it changes only at restart */
	struct fleet      *fleet;        /* fleet mode: the registry on the shared store */
	struct admin      *admin;
	struct health     *health;
	unsigned           shutdown_ms;
	uint64_t           reloads;
	struct event      *drain_tick;   /* while draining: are the workers done? */
	struct timespec    drain_end;    /* CLOCK_MONOTONIC: cut what is left then */
};

static _Atomic int serve_drain_flag;

bool serve_draining(void)
{
	return atomic_load(&serve_drain_flag) != 0;
}

/* A signing key the daemon generated or newly took as current, for the audit trail. */
static void audit_key(enum audit_action action, const char *ns, const char *kid,
		      const char *old)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.action = action;
	ev.actor = AUDIT_ACTOR_DAEMON;
	ev.target_id = kid;
	ev.namespace_id = ns;
	ev.detail = old;    /* a rotation: the key it replaced */
	audit_record(&ev);
}

/* signkeys_load on c, recording in the audit trail each key it generated (a
 * token-issuing namespace without a key in state_dir) and each namespace whose signing key
 * changed from the one in use (a rotation: `fngate keygen --rotate`, or a new signing_key,
 * taken by this reload). 0, or -1 with err. */
static int daemon_signing_keys(struct daemon *d, struct conf *c, char *err, size_t errlen)
{
	struct { char old[32]; bool had; } *before = calloc(c->nnamespaces ? c->nnamespaces : 1,
							    sizeof(*before));
	int rc = -1;

	if (before == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->nnamespaces; i++) {
		const struct conf_namespace *ns = &c->namespaces[i];
		EVP_PKEY *pk;
		enum key_alg alg;
		const char *kid;

		before[i].had = ns->signing_key != NULL ||
				signkeys_current_kid(d->state_dir, ns->id, before[i].old,
						     sizeof(before[i].old)) == 0;
		before[i].old[0] = '\0';
		if (signkeys_find(d->keys, ns->id, &pk, &alg, &kid) == 0)
			snprintf(before[i].old, sizeof(before[i].old), "%s", kid);
	}
	if (signkeys_load(d->keys, d->state_dir, c, err, errlen) != 0)
		goto cleanup;
	for (size_t i = 0; i < c->nnamespaces; i++) {
		const struct conf_namespace *ns = &c->namespaces[i];
		EVP_PKEY *pk;
		enum key_alg alg;
		const char *kid;

		if (!ns->issue_tokens || signkeys_find(d->keys, ns->id, &pk, &alg, &kid) != 0)
			continue;
		if (!before[i].had)
			audit_key(AUDIT_SIGNING_KEY_GENERATE, ns->id, kid, NULL);
		else if (before[i].old[0] != '\0' && strcmp(before[i].old, kid) != 0)
			audit_key(AUDIT_SIGNING_KEY_ROTATE, ns->id, kid, before[i].old);
	}
	rc = 0;
cleanup:
	free(before);
	return rc;
}

/* A reload (SIGHUP) for the audit trail: its outcome, and why it was refused. */
static void audit_reload(const char *path, const char *outcome, const char *why)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.action = AUDIT_CONFIG_RELOAD;
	ev.actor = AUDIT_ACTOR_DAEMON;
	ev.target_id = path;
	ev.outcome = outcome;
	ev.detail = why;
	audit_record(&ev);
}

/* Load a configuration and make it ready to publish: runtime state applied, signing keys of
 * token-issuing namespaces ensured. NULL (errors logged; *outcome and why, when given, say
 * which: "config_invalid" with the first error, or "signing_key_failed") when it cannot be
 * used. */
static struct conf *daemon_prepare(struct daemon *d, const char *path, const char **outcome,
				   char *why, size_t whylen)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_load(path, &errs);
	char err[512] = "";

	if (c == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_msg(LOG_LVL_ERROR, "%s:%d:%d: %s", errs.v[i].file, errs.v[i].line,
				errs.v[i].column, errs.v[i].message);
		/* The first error, without the text a syntax error quotes from the file ("near
		 * ..."), which could be part of a secret such as the store's conninfo. */
		if (errs.n > 0)
			util_seterr(why, whylen, "%s:%d:%d: %.*s (%zu errors)", errs.v[0].file,
				    errs.v[0].line, errs.v[0].column,
				    (int)strcspn(errs.v[0].message, "'\""), errs.v[0].message, errs.n);
		if (outcome != NULL)
			*outcome = "config_invalid";
		conf_errors_free(&errs);
		return NULL;
	}
	if (d->keys != NULL && daemon_signing_keys(d, c, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "signing keys: %s", err);
		util_seterr(why, whylen, "signing keys: %s", err);
		if (outcome != NULL)
			*outcome = "signing_key_failed";
		conf_unref(c);
		return NULL;
	}
	if (state_apply(c) != 0)
		log_msg(LOG_LVL_WARN, "state: privacy overrides in %s not applied", c->state_dir);
	return c;
}

/* Does listener i serve TLS in one configuration and plain HTTP in the other? (Listening socket
 * i belongs to listen entry i; a missing entry counts as plain.) */
static bool serve_tls_switched(const struct conf *old, const struct conf *c)
{
	size_t n = old->nlisten > c->nlisten ? old->nlisten : c->nlisten;

	for (size_t i = 0; i < n; i++) {
		bool was = i < old->nlisten && old->listen[i].tls != NULL;
		bool is = i < c->nlisten && c->listen[i].tls != NULL;

		if (was != is)
			return true;
	}
	return false;
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct conf *old, *c;
	const char *outcome = NULL;
	char why[1024] = "", gen[48];

	(void)sig;
	/* SIGHUP, or activated by fleet mode (EV_TIMEOUT) when the fleet's signing key changed */
	if ((what & EV_SIGNAL) != 0)
		log_msg(LOG_LVL_INFO, "SIGHUP: reloading %s", d->path);
	else
		log_msg(LOG_LVL_INFO, "reloading %s for the fleet's signing key", d->path);
	c = daemon_prepare(d, d->path, &outcome, why, sizeof(why));
	if (c == NULL) {
		log_msg(LOG_LVL_ERROR, "reload refused: the running configuration is kept");
		metrics_reload(false, util_now());
		audit_reload(d->path, outcome, why);
		return;
	}
	old = conf_acquire();
	if (old != NULL && serve_tls_switched(old, c)) {
		/* The sockets stay as bound: a listener cannot turn TLS on or off without a restart. */
		log_msg(LOG_LVL_ERROR, "reload refused: a listener turns TLS on or off (restart for that); "
			"the running configuration is kept");
		conf_unref(old);
		conf_unref(c);
		metrics_reload(false, util_now());
		audit_reload(d->path, "tls_switch_refused", "a listener turns TLS on or off: restart "
			     "for that");
		return;
	}
	if (old != NULL) {
		bool same = old->nlisten == c->nlisten && old->workers == c->workers;

		for (size_t i = 0; same && i < c->nlisten; i++)
			same = strcmp(old->listen[i].address, c->listen[i].address) == 0;
		if (!same)
			log_msg(LOG_LVL_WARN, "reload: listen addresses and workers change only at restart");
		if (strcmp(old->state_dir, c->state_dir) != 0)
			log_msg(LOG_LVL_WARN, "reload: state_dir changes only at restart");
		/* max_staleness_s and stale_policy apply at once (fleet.c reads them per tick). */
		if (old->store.type != c->store.type ||
		    (old->store.conninfo != NULL) != (c->store.conninfo != NULL) ||
		    (old->store.conninfo && strcmp(old->store.conninfo, c->store.conninfo) != 0))
			log_msg(LOG_LVL_WARN, "reload: the store's type and conninfo change only at "
				"restart");
		if ((old->access_log == NULL) != (c->access_log == NULL) ||
		    (old->access_log && strcmp(old->access_log, c->access_log) != 0))
			if (log_open_access(c->access_log) != 0)
				log_msg(LOG_LVL_ERROR, "reload: cannot open access log %s", c->access_log);
		if ((old->user == NULL) != (c->user == NULL) || old->uid != c->uid || old->gid != c->gid)
			log_msg(LOG_LVL_WARN, "reload: user and group change only at restart");
		if (old->limits.max_connections != c->limits.max_connections)
			(void)listener_raise_nofile(c->limits.max_connections);
		conf_unref(old);
	}
	log_set_access_format(c->log_format);
	log_flush();    /* a reload is a point where everything logged so far is on disk */
	if (log_set_access_flush(c->access_log_flush_ms) != 0)
		log_msg(LOG_LVL_ERROR, "reload: cannot start the access log's writer thread: "
			"writing each line at once");
	audit_set_retention(c->audit_retention_days);
	snprintf(gen, sizeof(gen), "generation %llu", (unsigned long long)c->generation);
	conf_publish(c);
	d->reloads++;
	metrics_reload(true, util_now());
	log_msg(LOG_LVL_INFO, "reloaded: configuration %s", gen);
	audit_reload(d->path, "ok", gen);
}

/* While draining, every 50 ms: leave the main loop once every worker is done or the shutdown
 * timeout has passed. The main loop keeps running meanwhile so that the admin API and the
 * health listener answer "draining". */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = {0, 50 * 1000};
	struct timespec now;
	int i;

	(void)fd;
	(void)what;
	for (i = 0; i < d->nworkers && atomic_load(&d->workers[i].exited); i++)
		;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (i == d->nworkers || now.tv_sec > d->drain_end.tv_sec ||
	    (now.tv_sec == d->drain_end.tv_sec && now.tv_nsec >= d->drain_end.tv_nsec)) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	evtimer_add(d->drain_tick, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct conf *cur = conf_acquire();

	(void)what;
	if (atomic_exchange(&serve_drain_flag, 1)) {
		log_msg(LOG_LVL_INFO, "signal %d again: stopping now", (int)sig);
		event_base_loopexit(d->base, NULL);
		conf_unref(cur);
		return;
	}
	if (cur != NULL) {
		d->shutdown_ms = cur->shutdown_timeout_ms;
		conf_unref(cur);
	}
	log_msg(LOG_LVL_INFO, "signal %d: draining: listeners closed; requests in flight may take "
		"%u ms", (int)sig, d->shutdown_ms);
	for (int i = 0; i < d->nworkers; i++)
		worker_drain(&d->workers[i], false);
	clock_gettime(CLOCK_MONOTONIC, &d->drain_end);
	d->drain_end.tv_sec += d->shutdown_ms / 1000;
	d->drain_end.tv_nsec += (long)(d->shutdown_ms % 1000) * 1000000L;
	if (d->drain_end.tv_nsec >= 1000000000L) {
		d->drain_end.tv_sec++;
		d->drain_end.tv_nsec -= 1000000000L;
	}
	on_drain_tick(-1, 0, d);
}

static void on_reopen(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	if (log_reopen() != 0)
		log_msg(LOG_LVL_ERROR, "SIGUSR1: cannot reopen the access log");
	else
		log_msg(LOG_LVL_INFO, "SIGUSR1: access log reopened");
}

/* After the drain: join the workers that are done, cut the connections of the others. */
static void workers_stop(struct daemon *d)
{
	for (int i = 0; i < d->nworkers; i++) {
		if (!atomic_load(&d->workers[i].exited)) {
			log_msg(LOG_LVL_WARN, "worker %d: shutdown timeout, closing its connections", i);
			worker_drain(&d->workers[i], true);
		}
		worker_join(&d->workers[i]);
	}
}

/* libevent's own messages (warnings from its internals) as daemon log lines: every line JSON. */
static void serve_libevent_log(int severity, const char *msg)
{
	log_msg(severity >= EVENT_LOG_ERR ? LOG_LVL_ERROR : severity == EVENT_LOG_WARN ?
		LOG_LVL_WARN : LOG_LVL_DEBUG, "libevent: %s", msg);
}

int serve_main(const char *path)
{
	struct daemon d;
	struct conf *c = NULL;
	struct event *ev_hup = NULL, *ev_term = NULL, *ev_int = NULL, *ev_usr1 = NULL;
	char err[512] = "";
	int rc = 1, started = 0;
	sigset_t held;

	memset(&d, 0, sizeof(d));
	d.path = path;
	signal(SIGPIPE, SIG_IGN);
	/* Until the main loop's handlers are installed (below, once the listeners exist), a SIGHUP
	 * or SIGUSR1 would kill the daemon by default: one sent just after start (systemd, a
	 * deployment script, a test that saw the port open) is held pending instead, and acted on
	 * once the handlers are in place. Every thread started meanwhile keeps them blocked, so
	 * the main loop is the one that receives them. */
	sigemptyset(&held);
	sigaddset(&held, SIGHUP);
	sigaddset(&held, SIGUSR1);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGINT);
	pthread_sigmask(SIG_BLOCK, &held, NULL);
	/* A file size limit (RLIMIT_FSIZE) reached by the journal or a log is a failed write
	 * (EFBIG) that the writer reports, not a reason to die. */
	signal(SIGXFSZ, SIG_IGN);
	/* No evthread_use_pthreads(): every event base belongs to one thread, and the threads
	 * signal each other through eventfds, so libevent's locks would only cost time. */
	if (revoke_init() != 0) {
		log_msg(LOG_LVL_ERROR, "cannot initialise threads");
		return 1;
	}
	c = daemon_prepare(&d, path, NULL, NULL, 0);
	if (c == NULL)
		goto cleanup;
	/* Enough descriptors for max_connections (a client and an upstream one each), as far as
	 * the hard limit allows; a shortfall is logged, and accept keeps headroom (listener.c). */
	(void)listener_raise_nofile(c->limits.max_connections);
	if (util_mkdir_p(c->state_dir) != 0) {
		log_msg(LOG_LVL_ERROR, "state_dir %s: %s", c->state_dir, strerror(errno));
		goto cleanup;
	}
	(void)state_tighten(c->state_dir);   /* each change logged; a failure too */
	d.reg = registry_open(c->state_dir, err, sizeof(err));
	if (d.reg == NULL) {
		log_msg(LOG_LVL_ERROR, "registry: %s", err);
		goto cleanup;
	}
	d.keys = signkeys_new();
	d.state_dir = strdup(c->state_dir);
	if (d.keys == NULL || d.state_dir == NULL) {
		log_msg(LOG_LVL_ERROR, "out of memory");
		goto cleanup;
	}
	/* Before fleet mode loads the store's snapshot, which holds the fleet's events. */
	if (audit_open(c->state_dir, c->audit_retention_days, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "audit: %s", err);
		goto cleanup;
	}
	if (c->store.type == CONF_STORE_POSTGRESQL) {
		d.fleet = fleet_open(d.reg, c, err, sizeof(err));
		if (d.fleet == NULL) {
			log_msg(LOG_LVL_ERROR, "store: %s", err);
			goto cleanup;
		}
		/* The store's privacy overrides, now in state_dir, on this first snapshot. */
		if (state_apply(c) != 0)
			log_msg(LOG_LVL_WARN, "state: privacy overrides in %s not applied", c->state_dir);
	}
	/* The signing keys of this first snapshot (after fleet mode settled the generated ones). */
	if (daemon_signing_keys(&d, c, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "signing keys: %s", err);
		goto cleanup;
	}
	if (log_open_access(c->access_log) != 0) {
		log_msg(LOG_LVL_ERROR, "access log %s: %s", c->access_log, strerror(errno));
		goto cleanup;
	}
	log_set_access_format(c->log_format);
	if (log_set_access_flush(c->access_log_flush_ms) != 0)
		log_msg(LOG_LVL_ERROR, "cannot start the access log's writer thread: writing each "
			"line at once");
	d.shutdown_ms = c->shutdown_timeout_ms;
	d.nworkers = c->workers;
	d.workers = calloc((size_t)d.nworkers, sizeof(*d.workers));
	event_set_log_callback(serve_libevent_log);
	d.base = event_base_new();
	if (d.workers == NULL || d.base == NULL)
		goto cleanup;
	/* Each worker binds its own SO_REUSEPORT socket per address, and the kernel would let
	 * another fngate of the same user join the group and take half of the connections: refuse
	 * to start unless every address is free of any other process (listener_probe). */
	for (size_t k = 0; k < c->nlisten; k++) {
		if (listener_probe((struct sockaddr *)&c->listen[k].addr, c->listen[k].addrlen,
				   err, sizeof(err)) != 0) {
			log_msg(LOG_LVL_ERROR, "listen %s: %s", c->listen[k].address, err);
			goto cleanup;
		}
	}
	if (c->admin.listen != NULL &&
	    listener_probe((struct sockaddr *)&c->admin.addr, c->admin.addrlen, err,
			   sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "admin listen %s: %s", c->admin.listen, err);
		goto cleanup;
	}
	if (c->health.listen != NULL &&
	    listener_probe((struct sockaddr *)&c->health.addr, c->health.addrlen, err,
			   sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "health listen %s: %s", c->health.listen, err);
		goto cleanup;
	}
	conf_publish(conf_ref(c));
	for (int i = 0; i < d.nworkers; i++) {
		int fds[64];
		size_t n = 0;

		for (size_t k = 0; k < c->nlisten && k < 64; k++) {
			fds[n] = listener_bind((struct sockaddr *)&c->listen[k].addr, c->listen[k].addrlen,
					       err, sizeof(err));
			if (fds[n] == -1) {
				log_msg(LOG_LVL_ERROR, "listen %s: %s", c->listen[k].address, err);
				goto cleanup;
			}
			n++;
		}
		if (worker_init(&d.workers[i], i, fds, n, c->cache_entries) != 0) {
			log_msg(LOG_LVL_ERROR, "worker %d: initialisation failed", i);
			goto cleanup;
		}
	}
	ev_hup = evsignal_new(d.base, SIGHUP, on_reload, &d);
	ev_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_stop, &d);
	ev_usr1 = evsignal_new(d.base, SIGUSR1, on_reopen, &d);
	d.drain_tick = evtimer_new(d.base, on_drain_tick, &d);
	if (!ev_hup || !ev_term || !ev_int || !ev_usr1 || !d.drain_tick || evsignal_add(ev_hup, NULL) ||
	    evsignal_add(ev_term, NULL) || evsignal_add(ev_int, NULL) || evsignal_add(ev_usr1, NULL))
		goto cleanup;
	pthread_sigmask(SIG_UNBLOCK, &held, NULL);     /* what came meanwhile is handled now */
	if (d.fleet != NULL && fleet_start(d.fleet, d.base, ev_hup) != 0) {
		log_msg(LOG_LVL_ERROR, "store: cannot follow the store's changes");
		goto cleanup;
	}
	err[0] = '\0';
	d.admin = admin_start(d.base, d.reg, d.keys, err, sizeof(err));
	if (d.admin == NULL && err[0] != '\0') {
		log_msg(LOG_LVL_ERROR, "admin API: %s", err);
		goto cleanup;
	}
	d.health = health_start(d.base, c, err, sizeof(err));
	if (d.health == NULL && err[0] != '\0') {
		log_msg(LOG_LVL_ERROR, "%s", err);
		goto cleanup;
	}
	/* Every port is bound and every file open: requests are never served as root. */
	if (privdrop_apply(c, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "privilege drop: %s", err);
		goto cleanup;
	}
	for (int i = 0; i < d.nworkers; i++) {
		if (worker_start(&d.workers[i]) != 0)
			goto cleanup;
		started++;
	}
	for (size_t k = 0; k < c->nlisten; k++)
		log_msg(LOG_LVL_INFO, "listening on %s%s (%d workers)", c->listen[k].address,
			c->listen[k].tls != NULL ? " with TLS" : "", d.nworkers);
	if (c->admin.listen != NULL && d.admin != NULL)
		log_msg(LOG_LVL_INFO, "admin API on %s%s", c->admin.listen,
			c->admin.tls != NULL ? " with TLS" : "");
	event_base_dispatch(d.base);
	if (d.admin != NULL) {
		admin_stop(d.admin);
		d.admin = NULL;
	}
	health_stop(d.health);
	d.health = NULL;
	workers_stop(&d);
	started = 0;
	log_msg(LOG_LVL_INFO, "stopped");
	rc = 0;
cleanup:
	if (started > 0) {
		for (int i = 0; i < started; i++)
			worker_drain(&d.workers[i], true);
		for (int i = 0; i < started; i++)
			worker_join(&d.workers[i]);
	}
	if (d.admin != NULL)
		admin_stop(d.admin);
	health_stop(d.health);
	for (int i = 0; d.workers != NULL && i < d.nworkers; i++)
		if (d.workers[i].base != NULL)
			worker_free(&d.workers[i]);
	free(d.workers);
	if (ev_hup)
		event_free(ev_hup);
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_usr1)
		event_free(ev_usr1);
	if (d.drain_tick)
		event_free(d.drain_tick);
	fleet_close(d.fleet);
	audit_close();
	if (d.reg != NULL)
		registry_close(d.reg);
	signkeys_free(d.keys);
	free(d.state_dir);
	if (d.base != NULL)
		event_base_free(d.base);
	conf_publish(NULL);
	if (c != NULL)
		conf_unref(c);
	revoke_shutdown();
	tls_shutdown();     /* wipe the session-ticket keys */
	log_close();
	return rc;
}

int serve_check(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_load(path, &errs);

	if (c == NULL) {
		conf_errors_print(&errs, stderr);
		conf_errors_free(&errs);
		return 1;
	}
	printf("%s: configuration ok (%zu namespaces, %zu functions)\n", path, c->nnamespaces,
	       c->nfunctions);
	conf_unref(c);
	return 0;
}
