/* health.c - the health listener: liveness (/livez: the process answers) and readiness (/readyz,
 * /healthz: configuration loaded, listeners open, not draining, and the store fresh when fleet
 * mode registers that check). Small, bounded evhttp responder on the main loop; no admin API. */
#include "health.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "serve.h"
#include "util.h"

struct health {
	struct evhttp *http;
};

static _Atomic(health_store_fresh_fn) health_store_fresh;

void health_set_store_fresh(health_store_fresh_fn fn)
{
	atomic_store(&health_store_fresh, fn);
}

static void health_reply(struct evhttp_request *req, int code, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (b != NULL && s != NULL)
		evbuffer_add_printf(b, "%s\n", s);
	evhttp_send_reply(req, code, NULL, b);
	free(s);
	json_decref(body);
	if (b != NULL)
		evbuffer_free(b);
}

/* Ready when fngate is serving (this listener is opened only once the configuration is loaded
 * and every listener is open), not draining, and the registered store check, if any, passes. */
static void health_ready(struct evhttp_request *req)
{
	health_store_fresh_fn fresh = atomic_load(&health_store_fresh);
	const char *why = NULL;

	if (serve_draining()) {
		health_reply(req, 503, json_pack("{s:s}", "status", "draining"));
		return;
	}
	if (fresh != NULL && !fresh(&why)) {
		health_reply(req, 503, json_pack("{s:s,s:s}", "status", "not_ready", "reason",
						 why != NULL ? why : "store state not fresh"));
		return;
	}
	health_reply(req, 200, json_pack("{s:s,s:s}", "status", "ready", "version",
					 FNGATE_VERSION));
}

static void health_dispatch(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	(void)arg;
	if (path == NULL)
		path = "";
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		health_reply(req, 405, json_pack("{s:s}", "error", "method_not_allowed"));
	} else if (strcmp(path, "/livez") == 0)
		health_reply(req, 200, json_pack("{s:s,s:s}", "status", "alive", "version",
						 FNGATE_VERSION));
	else if (strcmp(path, "/readyz") == 0 || strcmp(path, "/healthz") == 0)
		health_ready(req);
	else
		health_reply(req, 404, json_pack("{s:s}", "error", "not_found"));
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
	if (h == NULL || (h->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "health listener: out of memory");
		goto fail;
	}
	/* Probes send a request line and a few headers: anything bigger is refused by evhttp
	 * (400/413), and a silent client is dropped after 5 s. The common methods reach
	 * health_dispatch for a JSON 405; evhttp answers 501 for the rest. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(h->http, 4096);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_timeout(h->http, 5);
	evhttp_set_gencb(h->http, health_dispatch, h);
	fd = socket(c->health.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&c->health.addr, c->health.addrlen) == -1 ||
	    listen(fd, 64) == -1) {
		snprintf(err, errlen, "health listener %s: %s", c->health.listen, strerror(errno));
		goto fail;
	}
	if (evhttp_accept_socket(h->http, fd) != 0) {
		snprintf(err, errlen, "health listener %s: evhttp_accept_socket failed",
			 c->health.listen);
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
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}
