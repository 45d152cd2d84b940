/* metrics.h - Prometheus metrics: counters kept per worker (written by that worker only, no lock
 * on the request path), summed when the admin API's GET /metrics is scraped.
 *
 * Ownership: a worker owns its struct metrics_worker and is its only writer; the scraper (the
 * main thread) reads it with relaxed atomic loads. Per-function counters live in a table tied to
 * one configuration snapshot (indexed by conf_function.index); when a request arrives on a newer
 * snapshot the worker folds its table into a process-wide total keyed by namespace and function
 * id strings, so a reload that renumbers functions never mixes their counts. */
#ifndef FNGATE_METRICS_H
#define FNGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

struct conf;
struct conf_function;
struct registry;
struct metrics_worker;

/* Status classes: index = status / 100 (1xx..5xx); METRICS_CLASS_OTHER for anything else. */
enum metrics_class {
	METRICS_CLASS_OTHER = 0,
	METRICS_CLASS_1XX,
	METRICS_CLASS_2XX,
	METRICS_CLASS_3XX,
	METRICS_CLASS_4XX,
	METRICS_CLASS_5XX,
	METRICS_NCLASSES
};

#define METRICS_SNAPSHOT_MS 200     /* a scrape waits this long at most for the workers' gauges */

/* The gauges only a worker's own thread may read (token cache statistics, upstream pools, open
 * connections): a scrape asks every worker, whose report function fills them through these on
 * its thread. The worker pushes; metrics never reaches into worker, cache or pool internals. */
struct metrics_gauges;
struct tcache_stats;
typedef void (*metrics_report_fn)(void *arg, struct metrics_gauges *g);
void metrics_gauges_cache(struct metrics_gauges *g, const struct tcache_stats *s);
void metrics_gauges_pool(struct metrics_gauges *g, const char *key, unsigned nidle);
/* One open HTTP/2 upstream connection (h2up.c) to the endpoint `key`, carrying nstreams calls
 * (0: it is idle). */
void metrics_gauges_h2(struct metrics_gauges *g, const char *key, unsigned nstreams);
void metrics_gauges_conns(struct metrics_gauges *g, unsigned n);

/* The metrics of one worker, whose event base gets the event a scrape uses to ask for its report
 * (and report is called once more by metrics_worker_free). base or report NULL: a detached set
 * (unit tests) whose gauges are zero. Registered so that scrapes see it. NULL on allocation
 * failure. */
struct event_base;
struct metrics_worker *metrics_worker_new(struct event_base *base, metrics_report_fn report,
					  void *arg);
/* Unregister and free (on the main thread, after the worker stopped). Its counts stay in the
 * process totals: counters never go backwards. NULL is fine. */
void metrics_worker_free(struct metrics_worker *m);

/* One finished request, from request_finish (the hot path: a few nanoseconds). c is the snapshot
 * the request ran on, fn its function (NULL: none matched), final what it is recorded as (the
 * access log's outcome_final: the gate's outcome, or the error when the gate did not decide or
 * allowed a request that then failed; its name is the reason label, its decision the decision
 * label), status the status sent, upstream_us the upstream's time to response head (-1: no
 * upstream). m NULL: nothing. */
void metrics_request(struct metrics_worker *m, struct conf *c, const struct conf_function *fn,
		     enum outcome final, int status, int64_t upstream_us);

/* A TLS handshake on a client listener finished: ok, or failed. Thread-safe (any thread). */
void metrics_tls_handshake(bool ok);

/* HTTP/2 connection events (h2.c): one began, or a defence ended one (security.md). */
enum metrics_h2 {
	METRICS_H2_CONNECTION = 0,  /* a connection began HTTP/2 */
	METRICS_H2_RAPID_RESET,     /* more than max_resets_per_s resets: GOAWAY ENHANCE_YOUR_CALM */
	METRICS_H2_FLOOD,           /* a flood nghttp2 or the header bound stopped (PING, SETTINGS,
				     * CONTINUATION, a header list past twice the limit) */
	METRICS_H2_PROTOCOL_ERROR,  /* any other connection error of the client's */
	METRICS_H2_TIMEOUT,         /* SETTINGS unacknowledged, or a header block unfinished */
	METRICS_H2_STREAM_STALLED,  /* a stream reset after client_idle_ms stalled on the client */
	METRICS_H2_COUNT
};
/* Count one HTTP/2 event. Thread-safe (any thread). */
void metrics_h2(enum metrics_h2 which);

/* Header fields fngate dropped for the '_' in their names (headers.h): */
enum metrics_hdrdrop {
	METRICS_HDRDROP_REQUEST = 0,        /* a request field with '_' (underscores_in_headers off) */
	METRICS_HDRDROP_REQUEST_ALIAS,      /* one that reads as a field fngate sets or strips */
	METRICS_HDRDROP_RESPONSE_ALIAS,     /* a response field that reads as a framing field */
	METRICS_NHDRDROP
};
/* One such field was dropped. Thread-safe; rare, so one shared relaxed atomic add. */
void metrics_header_dropped(enum metrics_hdrdrop which);

/* Tunnels (upgraded connections, tunnel.c): one opened; one closed after carrying `up` bytes
 * from the client to the upstream and `down` back. Thread-safe; once per tunnel. */
void metrics_tunnel_open(void);
void metrics_tunnel_close(uint64_t up, uint64_t down);

/* A configuration reload (SIGHUP) was applied (ok) or refused, at wall-clock time `when`
 * (seconds). Thread-safe. */
void metrics_reload(bool ok, int64_t when);

/* Everything in the Prometheus text exposition format 0.0.4, summed over workers, as a malloc'ed
 * NUL-terminated string (*len its length). reg (may be NULL) gives the registry size. Waits at
 * most METRICS_SNAPSHOT_MS for the workers' gauges (a worker that does not answer in time
 * contributes its previous ones). Call from one thread at a time (the admin API's). NULL on
 * allocation failure. */
char *metrics_render(const struct registry *reg, size_t *len);

/* Escape a label value for the text format (backslash, double quote and newline escaped) into
 * out (capacity cap, NUL-terminated, truncated on a character boundary when too long).
 * Returns the output length. */
size_t metrics_escape_label(const char *s, char *out, size_t cap);

#endif
