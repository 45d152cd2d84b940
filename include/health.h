/* health.h - liveness and readiness on a listener of their own ("health": {"listen": ...}), which
 * does not depend on the admin API: GET/HEAD /livez, /readyz, /healthz, JSON, anything else 404. */
#ifndef FNGATE_HEALTH_H
#define FNGATE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct conf;
struct health;

/* A readiness condition beyond "configuration loaded, listeners open, not draining": fleet mode
 * registers one that says whether its store's state is fresh; until one is registered there is
 * no such condition (and /readyz does not list one). Returns true when ready; on false it sets
 * *why to a short static reason. */
typedef bool (*health_store_fresh_fn)(const char **why);
void health_set_store_fresh(health_store_fresh_fn fn);

/* Start the health listener on c->health.listen on `base` (the main thread's loop, which keeps
 * running while the daemon drains). Call once the listeners are open. Returns NULL with a
 * message in err on failure, or NULL with err "" when no health listener is configured. */
struct health *health_start(struct event_base *base, const struct conf *c, char *err,
			    size_t errlen);
/* Close the listener and free. NULL is fine. */
void health_stop(struct health *h);

#endif
