/* fuzz_net.c - the network fuzz harness: the server's own worker, connection and upstream code
 * driven over a socketpair and loopback, with the loop run until no descriptor is ready and no
 * callback is pending (timers are not waited for: a run never sleeps). */
#include "fuzz_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "proxy.h"
#include "revoke.h"
#include "upstream.h"
#include "worker.h"

#ifndef FNGATE_FUZZ_SOURCE_DIR
#define FNGATE_FUZZ_SOURCE_DIR "."
#endif

#define UP_CONNS_MAX   16       /* upstream connections accepted per input */
#define RUN_ITER_MAX   100000   /* a loop that stays busy this long is a busy loop: a bug */
#define POLL_FDS_MAX   256

static const char canned[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok";
/* The canned answer to an upgrade (a head with a Sec-WebSocket-Key, as fngate sends for
 * HTTP/1.1 WebSocket clients and RFC 8441 streams alike): the connection then echoes, so that
 * tunnels (tunnel.c, h2.c's) are fuzzed too. */
static const char canned_101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
static const char ws_key_field[] = "\nsec-websocket-key:";

struct up_conn {
	int            fd;
	struct event  *ev;
	struct fuzz_session *s;
	unsigned       heads;       /* request heads seen */
	uint32_t       tail;        /* last 4 bytes read, to find "\r\n\r\n" across reads */
	size_t         key_match;   /* bytes of ws_key_field matched so far in this head */
	bool           ws_key;      /* this head carries a Sec-WebSocket-Key: an upgrade */
	bool           tunnel;      /* answered 101: an echo of what comes after */
	bool           eof;
};

struct fuzz_session {
	struct worker  w;
	bool           w_ok;
	int            cfd;         /* the client's end of the socketpair */
	struct event  *accept_ev;
	struct up_conn up[UP_CONNS_MAX];
	size_t         nup;
	enum fuzz_upstream_mode mode;
	bool           h2;          /* accepted where HTTP/2 is on */
	const uint8_t *const *chunks;
	const size_t  *lens;
	size_t         nchunks;
	size_t         next_chunk;
	bool           close_after;
	struct up_conn *scripted;   /* the connection the script answers on */
	char          *out;
	size_t         outlen;
	uint64_t       outtotal;
};

static int up_listen_fd = -1;
static int closed_port_fd = -1;

static void die(const char *what)
{
	fprintf(stderr, "fuzz harness: %s\n", what);
	abort();
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
		die("getsockname");
	return ntohs(sin.sin_port);
}

static int loopback_socket(bool do_listen)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("bind");
	if (do_listen && listen(fd, 128) != 0)
		die("listen");
	return fd;
}

void fuzz_net_init(void)
{
	const char *src = getenv("FNGATE_SOURCE_DIR");
	char *text = NULL;
	struct conf_errors errs = {0};
	struct conf *c;
	int n;

	if (up_listen_fd != -1)
		return;
	if (src == NULL || *src == '\0')
		src = FNGATE_FUZZ_SOURCE_DIR;
	/* As the daemon (serve.c): a peer that went away is an EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_ERROR);
	/* The access log is written (and so its escaping fuzzed too), to nowhere. */
	if (log_open_access("/dev/null") != 0)
		die("access log");
	if (revoke_init() != 0)
		die("revoke_init");
	up_listen_fd = loopback_socket(true);
	/* Bound but not listening: a connection to it is refused at once (502). */
	closed_port_fd = loopback_socket(false);
	n = asprintf(&text,
	    "{\"listen\": [\"127.0.0.1:1\"], \"workers\": 1, \"state_dir\": \"/nonexistent-fngate-fuzz\",\n"
	    " \"admin\": {\"listen\": null},\n"
	    " \"limits\": {\"max_header_bytes\": 8192, \"max_body_bytes\": 65536,\n"
	    "            \"max_token_bytes\": 4096, \"max_connections\": 64},\n"
	    " \"tokens\": {\"leeway_s\": 60, \"cache_entries\": 16},\n"
	    " \"namespaces\": [{\"id\": \"ns1\", \"name\": \"fz\",\n"
	    "   \"keys\": [{\"kid\": \"k1\", \"alg\": \"RS256\", \"public_key\": \"%s/fuzz/keys/demo.pub.pem\"}],\n"
	    "   \"functions\": [\n"
	    "    {\"id\": \"pub\", \"name\": \"pub\", \"privacy\": \"public\", \"path_prefix\": \"/\",\n"
	    "     \"upstreams\": [\"http://127.0.0.1:%u/base\"]},\n"
	    "    {\"id\": \"priv\", \"name\": \"priv\", \"privacy\": \"private\", \"path_prefix\": \"/priv\",\n"
	    "     \"upstreams\": [\"http://127.0.0.1:%u\"]},\n"
	    "    {\"id\": \"keep\", \"name\": \"keep\", \"privacy\": \"public\", \"path_prefix\": \"/keep\",\n"
	    "     \"strip_prefix\": false, \"upstreams\": [\"http://127.0.0.1:%u\"]},\n"
	    "    {\"id\": \"down\", \"name\": \"down\", \"privacy\": \"public\", \"path_prefix\": \"/down\",\n"
	    "     \"upstreams\": [\"http://127.0.0.1:%u\"]},\n"
	    "    {\"id\": \"host\", \"name\": \"host\", \"privacy\": \"public\",\n"
	    "     \"hosts\": [\"example.com\", \"*.example.org\"],\n"
	    "     \"upstreams\": [\"http://127.0.0.1:%u\"]}\n"
	    "   ]}]}\n",
	    src, bound_port(up_listen_fd), bound_port(up_listen_fd), bound_port(up_listen_fd),
	    bound_port(closed_port_fd), bound_port(up_listen_fd));
	if (n < 0)
		die("asprintf");
	c = conf_load_string(text, (size_t)n, "fuzz.json", &errs);
	free(text);
	if (c == NULL) {
		conf_errors_print(&errs, stderr);
		conf_errors_free(&errs);
		die("configuration (is FNGATE_SOURCE_DIR the source tree?)");
	}
	conf_publish(c);
}

/* ---------------------------------------------------------------- the in-process upstream */

static void up_write_all(struct fuzz_session *s, struct up_conn *u, const uint8_t *p, size_t len);

static void up_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_conn *u = arg;
	struct fuzz_session *s = u->s;
	uint8_t buf[16384];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		u->eof = true;
		event_del(u->ev);
		/* A tunnel's end is passed back, as the far side of a WebSocket would. */
		if (u->tunnel)
			(void)shutdown(fd, SHUT_WR);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		int c = buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i];

		if (u->tunnel) {
			up_write_all(s, u, buf + i, (size_t)(n - i));
			return;
		}
		u->key_match = c == ws_key_field[u->key_match] ? u->key_match + 1 : c == '\n';
		if (u->key_match == sizeof(ws_key_field) - 1) {
			u->ws_key = true;
			u->key_match = 0;
		}
		u->tail = (u->tail << 8) | buf[i];
		if (u->tail != 0x0d0a0d0au)
			continue;
		u->heads++;
		if (s->mode == FUZZ_UP_CANNED && u->ws_key) {
			up_write_all(s, u, (const uint8_t *)canned_101, sizeof(canned_101) - 1);
			u->tunnel = true;
		} else if (s->mode == FUZZ_UP_CANNED) {
			up_write_all(s, u, (const uint8_t *)canned, sizeof(canned) - 1);
		} else if (s->scripted == NULL) {
			s->scripted = u;    /* the driver writes the script (fuzz_session_run) */
		}
		u->ws_key = false;
		u->key_match = 0;
	}
}

static void up_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct fuzz_session *s = arg;
	struct up_conn *u;
	int fd;

	(void)what;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	if (s->nup == UP_CONNS_MAX) {
		close(fd);
		return;
	}
	u = &s->up[s->nup];
	memset(u, 0, sizeof(*u));
	u->fd = fd;
	u->s = s;
	u->ev = event_new(s->w.base, fd, EV_READ | EV_PERSIST, up_read_cb, u);
	if (u->ev == NULL || event_add(u->ev, NULL) != 0)
		die("upstream event");
	s->nup++;
}

static void up_close(struct up_conn *u)
{
	if (u->ev != NULL)
		event_free(u->ev);
	u->ev = NULL;
	if (u->fd != -1)
		close(u->fd);
	u->fd = -1;
}

/* ---------------------------------------------------------------- running the loop */

struct busy_scan {
	struct pollfd pfd[POLL_FDS_MAX];
	nfds_t n;
};

static int scan_event(const struct event_base *base, const struct event *ev, void *arg)
{
	struct busy_scan *b = arg;
	evutil_socket_t fd = event_get_fd(ev);
	short what = event_get_events(ev);

	(void)base;
	if (fd < 0 || !(what & (EV_READ | EV_WRITE)) || b->n == POLL_FDS_MAX)
		return 0;
	if (!event_pending(ev, what & (EV_READ | EV_WRITE), NULL))
		return 0;
	b->pfd[b->n].fd = fd;
	b->pfd[b->n].events = (short)(((what & EV_READ) ? POLLIN : 0) | ((what & EV_WRITE) ? POLLOUT : 0));
	b->pfd[b->n].revents = 0;
	b->n++;
	return 0;
}

/* Idle: no callback active or deferred, and no descriptor an event waits on is ready. */
bool fuzz_loop_idle(struct event_base *base)
{
	struct busy_scan b;

	if (event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) > 0)
		return false;
	b.n = 0;
	event_base_foreach_event(base, scan_event, &b);
	return b.n == 0 || poll(b.pfd, b.n, 0) == 0;
}

static void client_drain(struct fuzz_session *s)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(s->cfd, buf, sizeof(buf))) > 0) {
		size_t keep = (size_t)n;

		if (s->outlen + keep > FUZZ_OUT_MAX)
			keep = FUZZ_OUT_MAX - s->outlen;
		memcpy(s->out + s->outlen, buf, keep);
		s->outlen += keep;
		s->outtotal += (uint64_t)n;
	}
}

static void run_until_idle(struct fuzz_session *s)
{
	for (unsigned i = 0;; i++) {
		if (i == RUN_ITER_MAX)
			die("the event loop never went idle (busy loop)");
		event_base_loop(s->w.base, EVLOOP_NONBLOCK);
		if (s->cfd != -1)
			client_drain(s);
		if (fuzz_loop_idle(s->w.base))
			return;
	}
}

static void up_write_all(struct fuzz_session *s, struct up_conn *u, const uint8_t *p, size_t len)
{
	(void)s;
	while (len > 0 && u->fd != -1) {
		ssize_t n = write(u->fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			struct pollfd pfd = {u->fd, POLLOUT, 0};

			/* Full: fngate paused reading (backpressure). Whatever is left is dropped,
			 * as from an upstream that gave up. */
			if (poll(&pfd, 1, 0) <= 0)
				return;
			continue;
		}
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

void fuzz_session_run(struct fuzz_session *s)
{
	run_until_idle(s);
	/* The scripted upstream answers one chunk at a time, each seen by fngate as its own read. */
	while (s->scripted != NULL && s->scripted->fd != -1 && s->next_chunk < s->nchunks) {
		size_t i = s->next_chunk++;

		up_write_all(s, s->scripted, s->chunks[i], s->lens[i]);
		run_until_idle(s);
		if (s->next_chunk == s->nchunks && s->close_after) {
			up_close(s->scripted);
			run_until_idle(s);
		}
	}
}

/* ---------------------------------------------------------------- sessions */

struct fuzz_session *fuzz_session_new(enum fuzz_upstream_mode mode, bool h2)
{
	struct fuzz_session *s = calloc(1, sizeof(*s));
	int sv[2];
	struct sockaddr_storage sa;

	if (s == NULL || (s->out = malloc(FUZZ_OUT_MAX)) == NULL)
		die("out of memory");
	s->mode = mode;
	s->h2 = h2;
	memset(&sa, 0, sizeof(sa));
	sa.ss_family = AF_UNIX;
	if (worker_init(&s->w, 0, NULL, 0, 16) != 0)
		die("worker_init");
	s->w_ok = true;
	s->accept_ev = event_new(s->w.base, up_listen_fd, EV_READ | EV_PERSIST, up_accept_cb, s);
	if (s->accept_ev == NULL || event_add(s->accept_ev, NULL) != 0)
		die("accept event");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
	s->cfd = sv[0];
	/* What the listener's accept callback does with a new client: on listen[0] (HTTP/2 on), or
	 * on no listen entry (plain HTTP/1). */
	conn_accept_on(&s->w, h2 ? 0 : SIZE_MAX, sv[1], (const struct sockaddr *)(const void *)&sa,
		       (int)sizeof(sa));
	return s;
}

void fuzz_session_script(struct fuzz_session *s, const uint8_t *const *chunks, const size_t *lens,
			 size_t n, bool close_after)
{
	s->chunks = chunks;
	s->lens = lens;
	s->nchunks = n;
	s->next_chunk = 0;
	s->close_after = close_after;
}

void fuzz_session_write(struct fuzz_session *s, const uint8_t *p, size_t len)
{
	while (len > 0 && s->cfd != -1) {
		ssize_t n = write(s->cfd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			size_t before = s->outlen;

			/* fngate is not reading (backpressure, or it waits for an upstream): give
			 * it a chance; if it still does not read, the rest is dropped. */
			fuzz_session_run(s);
			if (s->outlen == before) {
				struct pollfd pfd = {s->cfd, POLLOUT, 0};

				if (poll(&pfd, 1, 0) <= 0)
					return;
			}
			continue;
		}
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
	fuzz_session_run(s);
}

void fuzz_session_client_eof(struct fuzz_session *s)
{
	if (s->cfd != -1)
		(void)shutdown(s->cfd, SHUT_WR);
	fuzz_session_run(s);
}

const char *fuzz_session_output(const struct fuzz_session *s, size_t *len)
{
	*len = s->outlen;
	return s->out;
}

void fuzz_session_end(struct fuzz_session *s)
{
	if (getenv("FNGATE_FUZZ_DEBUG") != NULL)
		fprintf(stderr, "--- client received %llu bytes, upstream connections %zu:\n%.*s\n---\n",
			(unsigned long long)s->outtotal, s->nup, (int)s->outlen, s->out);
	/* Every byte fngate sent the client is a response: nothing else may come out. HTTP/2
	 * starts with the server's SETTINGS frame (type 4 on stream 0, no flags); the h2c preface
	 * may also have been refused as an HTTP/1 request. */
	if (s->h2 && s->outlen >= 9 && s->out[3] == 4 && s->out[4] == 0 &&
	    memcmp(s->out + 5, "\0\0\0\0", 4) == 0) {
		/* a session */
	} else if (s->outlen > 0 && (s->outlen < 9 ? memcmp(s->out, "HTTP/1.1 ", s->outlen) :
				     memcmp(s->out, "HTTP/1.1 ", 9)) != 0) {
		die("client output is neither an HTTP/2 session nor starts with \"HTTP/1.1 \"");
	}
	/* A graceful end first (the paths a real peer takes), then whatever is left is freed. */
	close(s->cfd);
	s->cfd = -1;
	run_until_idle(s);
	for (size_t i = 0; i < s->nup; i++)
		up_close(&s->up[i]);
	run_until_idle(s);
	event_free(s->accept_ev);
	s->accept_ev = NULL;
	worker_free(&s->w);
	if (atomic_load(&worker_total_conns) != 0)
		die("worker_total_conns is not zero after worker_free");
	free(s->out);
	free(s);
}
