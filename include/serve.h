/* serve.h - the daemon: `fngate serve` and `fngate check`. */
#ifndef FNGATE_SERVE_H
#define FNGATE_SERVE_H

#include <stdbool.h>

/* Run the gateway with the configuration file at path until SIGTERM/SIGINT. Returns the exit
 * status: 0 after a graceful stop, 1 when the configuration or a listener fails at start. */
int serve_main(const char *path);

/* True from SIGTERM/SIGINT until the process exits: the listeners are closed and requests in
 * flight are finishing. The health checks answer 503 "draining" meanwhile. Thread-safe. */
bool serve_draining(void);

/* Validate a configuration file and the keys it names; print every error as
 * file:line:column: message. Returns 0 when valid, 1 otherwise. */
int serve_check(const char *path);

#endif
