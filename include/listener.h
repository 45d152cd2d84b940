/* listener.h - listening sockets: one SO_REUSEPORT socket per listen address and worker, so the
 * kernel spreads connections over the workers without a shared accept lock. */
#ifndef FNGATE_LISTENER_H
#define FNGATE_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

/* Check that no other socket is bound to addr: bind it once without SO_REUSEPORT (which the
 * kernel refuses while any process holds the address, with or without SO_REUSEPORT) and close
 * it. Call once per address before listener_bind, so that a second fngate cannot join the
 * first one's SO_REUSEPORT group. 0 when free, -1 with a message in err. */
int listener_probe(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen);

/* Create a non-blocking listening socket bound to addr with SO_REUSEADDR and SO_REUSEPORT.
 * Returns the fd, or -1 with a message in err. */
int listener_bind(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen);

/* Wrap worker `w`'s listening fds into evconnlisteners on its base (disabled until enabled). 0 / -1. */
struct worker;
int listener_attach(struct worker *w, const int *fds, size_t nfds);
/* Enable / disable accepting on all of a worker's listeners. */
void listener_enable(struct worker *w, int on);
/* Close a worker's listening sockets for good (drain): once every worker's are closed, the
 * kernel refuses new connections (ECONNREFUSED) instead of queueing them. */
void listener_close_all(struct worker *w);

/* Raise the soft RLIMIT_NOFILE towards what max_connections needs (up to the hard limit); warns
 * and returns 1 when the hard limit is too low, 0 when enough, -1 on error. Call at start. */
int listener_raise_nofile(unsigned max_connections);
/* Re-read RLIMIT_NOFILE (after EMFILE, while paused); returns it. */
unsigned listener_fd_limit_refresh(void);
/* fd was just allocated: true when fewer than the reserve are left above it. */
bool listener_fds_low(int fd);

#endif
