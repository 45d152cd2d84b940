/* fuzz_net.h - the shared harness of the network fuzz targets: a worker built by worker_init (the
 * server's own code), a published configuration, a client on a socketpair handed to conn_accept,
 * an in-process upstream on loopback, and a loop run until nothing is left to do. */
#ifndef FNGATE_FUZZ_NET_H
#define FNGATE_FUZZ_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_MARK     "\n--MARK--\n"     /* h2o corpus: separates the separate socket writes */
#define FUZZ_MARK_LEN 10
#define FUZZ_OUT_MAX  (1024 * 1024)      /* client output kept for the invariants */

enum fuzz_upstream_mode {
	FUZZ_UP_CANNED = 1,     /* answer each request head with a small keep-alive 200 */
	FUZZ_UP_SCRIPT,         /* answer the first request head with the scripted chunks */
};

struct fuzz_session;
struct event_base;

/* Whether base has nothing left to do now: no callback active or deferred, and no descriptor an
 * added event waits on is ready. Timers are not counted: runs never wait for them. */
bool fuzz_loop_idle(struct event_base *base);

/* Once per process: load and publish the configuration, start the upstream listener. Aborts on
 * failure (a harness that cannot start must not report clean runs). */
void fuzz_net_init(void);

/* A new worker, client connection and upstream for one input. h2: the connection is accepted on
 * the configuration's listener (HTTP/2 on: the h2c preface starts h2.c), else as a plain
 * HTTP/1-only connection. */
struct fuzz_session *fuzz_session_new(enum fuzz_upstream_mode mode, bool h2);
/* Script the upstream's answer: chunks written one by one (each followed by a loop run until
 * idle); close_after closes the upstream connection after the last chunk. The chunk memory must
 * outlive the session. */
void fuzz_session_script(struct fuzz_session *s, const uint8_t *const *chunks, const size_t *lens,
			 size_t n, bool close_after);
/* Write len bytes from the client, then run the loop until idle. */
void fuzz_session_write(struct fuzz_session *s, const uint8_t *p, size_t len);
/* Half-close the client side (EOF to fngate) and run until idle. */
void fuzz_session_client_eof(struct fuzz_session *s);
/* Run the loop until idle. */
void fuzz_session_run(struct fuzz_session *s);
/* What the client received so far (at most FUZZ_OUT_MAX bytes are kept). */
const char *fuzz_session_output(const struct fuzz_session *s, size_t *len);
/* Check the invariants, tear everything down (worker_free), check nothing is left. */
void fuzz_session_end(struct fuzz_session *s);

#endif
