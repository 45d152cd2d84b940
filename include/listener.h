/* listener.h - listening sockets: one SO_REUSEPORT socket per listen address and worker, so the
 * kernel spreads connections over the workers without a shared accept lock. */
#ifndef FNGATE_LISTENER_H
#define FNGATE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Check that no other socket is bound to addr: bind it once without SO_REUSEPORT (which the
 * kernel refuses while any process holds the address, with or without SO_REUSEPORT) and close
 * it. Call once per address before listener_bind, so that a second fngate cannot join the
 * first one's SO_REUSEPORT group. 0 when free, -1 with a message in err. */
int listener_probe(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen);

/* Create a non-blocking listening socket bound to addr with SO_REUSEADDR and SO_REUSEPORT.
 * Returns the fd, or -1 with a message in err. */
int listener_bind(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen);

/* One worker's listeners and their accept state: each listener pauses and resumes itself here
 * (the connection cap, descriptor headroom, EMFILE) and hands every accepted connection to the
 * worker's callback, with the index of its listen entry (serve.c binds them in order). */
struct event_base;
struct listener_set;
typedef void (*listener_accept_cb)(void *arg, size_t listen_idx, int fd, struct sockaddr *sa,
				   int salen);

/* Wrap the listening fds (owned from now on) on base, disabled until listener_resume. NULL on
 * failure (the fds are closed). */
struct listener_set *listener_set_new(struct event_base *base, const int *fds, size_t nfds,
				      listener_accept_cb cb, void *arg);
/* Close the sockets (if still open) and free. NULL is fine. */
void listener_set_free(struct listener_set *ls);
/* Accept (again): at start, and when a connection closed after a pause for the cap. */
void listener_resume(struct listener_set *ls);
/* Stop accepting for a moment (the connection cap, or a shortage of descriptors, memory or
 * ports): retried after a short delay, or as soon as listener_resume is called. */
void listener_pause(struct listener_set *ls);
/* Close the listening sockets for good (drain): once every worker's are closed, the kernel
 * refuses new connections (ECONNREFUSED) instead of queueing them. */
void listener_close_all(struct listener_set *ls);

/* Raise the soft RLIMIT_NOFILE towards what max_connections needs (up to the hard limit); warns
 * and returns 1 when the hard limit is too low, 0 when enough, -1 on error. Call at start. */
int listener_raise_nofile(unsigned max_connections);
/* Re-read RLIMIT_NOFILE (after EMFILE, while paused); returns it. */
unsigned listener_fd_limit_refresh(void);
/* fd was just allocated: true when fewer than the reserve are left above it. */
bool listener_fds_low(int fd);

#endif
