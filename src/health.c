/* health.c - the health listener: liveness (/livez: the process answers) and readiness (/readyz,
 * /healthz: configuration loaded, listeners open, not draining, and the store fresh when fleet
 * mode registers that check). Served on the main loop by the admin API's bounded transport
 * (adminhttp.h: connection cap, head deadline, strict parser), without its Host check (probes
 * name whatever address they reach) and without the admin API itself. */
#include "health.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <jansson.h>

#include "adminhttp.h"
#include "conf.h"
#include "log.h"
#include "serve.h"
#include "util.h"

#define HEALTH_MAX_CONNS 16     /* probes open one connection at a time */
#define HEALTH_MAX_HEAD  4096   /* a probe sends a request line and a few headers */

struct health {
	struct adminhttp *http;
};

static _Atomic(health_store_fresh_fn) health_store_fresh;

void health_set_store_fresh(health_store_fresh_fn fn)
{
	atomic_store(&health_store_fresh, fn);
}

/* Ready when fngate is serving (this listener is opened only once the configuration is loaded
 * and every listener is open), not draining, and the registered store check, if any, passes. */
static void health_ready(struct adminhttp_req *req)
{
	health_store_fresh_fn fresh = atomic_load(&health_store_fresh);
	const char *why = NULL;

	if (serve_draining()) {
		adminhttp_reply_json(req, 503, json_pack("{s:s}", "status", "draining"));
		return;
	}
	if (fresh != NULL && !fresh(&why)) {
		adminhttp_reply_json(req, 503, json_pack("{s:s,s:s}", "status", "not_ready", "reason",
							 why != NULL ? why : "store state not fresh"));
		return;
	}
	adminhttp_reply_json(req, 200, json_pack("{s:s,s:s}", "status", "ready", "version",
						 FNGATE_VERSION));
}

static void health_dispatch(struct adminhttp_req *req, void *arg)
{
	const char *path = adminhttp_path(req);
	enum adminhttp_method m = adminhttp_method(req);

	(void)arg;
	if (m != ADMINHTTP_GET && m != ADMINHTTP_HEAD) {
		adminhttp_add_header(req, "Allow", "GET, HEAD");
		adminhttp_reply_json(req, 405, json_pack("{s:s}", "error", "method_not_allowed"));
	} else if (strcmp(path, "/livez") == 0) {
		adminhttp_reply_json(req, 200, json_pack("{s:s,s:s}", "status", "alive", "version",
							 FNGATE_VERSION));
	} else if (strcmp(path, "/readyz") == 0 || strcmp(path, "/healthz") == 0) {
		health_ready(req);
	} else {
		adminhttp_reply_json(req, 404, json_pack("{s:s}", "error", "not_found"));
	}
}

struct health *health_start(struct event_base *base, const struct conf *c, char *err,
			    size_t errlen)
{
	struct health *h;
	int fd = -1, one = 1;

	err[0] = '\0';
	if (c->health.listen == NULL)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "health listener: out of memory");
		goto fail;
	}
	fd = socket(c->health.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&c->health.addr, c->health.addrlen) == -1 ||
	    listen(fd, 64) == -1) {
		snprintf(err, errlen, "health listener %s: %s", c->health.listen, strerror(errno));
		goto fail;
	}
	h->http = adminhttp_start(base, fd, HEALTH_MAX_CONNS, HEALTH_MAX_HEAD, false, false,
				  health_dispatch, h);
	fd = -1;    /* adminhttp owns it, also on failure */
	if (h->http == NULL) {
		snprintf(err, errlen, "health listener %s: out of memory", c->health.listen);
		goto fail;
	}
	log_msg(LOG_LVL_INFO, "health: listening on %s (/livez, /readyz)", c->health.listen);
	return h;
fail:
	if (fd != -1)
		close(fd);
	health_stop(h);
	return NULL;
}

void health_stop(struct health *h)
{
	if (h == NULL)
		return;
	adminhttp_stop(h->http);
	free(h);
}
