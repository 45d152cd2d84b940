/* admin.h - the admin API: its own listener, JSON, evhttp, on the main thread's event loop. */
#ifndef FNGATE_ADMIN_H
#define FNGATE_ADMIN_H

#include <stddef.h>

struct event_base;
struct registry;
struct admin;

/* Start the admin API on the current configuration's admin.listen (conf_acquire() is consulted
 * per request, so a reload takes effect at once). Returns NULL with a message in err on failure,
 * or when the admin listener is disabled (then err is ""). */
struct admin *admin_start(struct event_base *base, struct registry *reg, char *err, size_t errlen);
void admin_stop(struct admin *a);

#endif
