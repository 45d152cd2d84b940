/* log.h - the daemon log (stderr) and the access log (one line per request, JSON or combined).
 * Nothing here ever receives a token or an admin key: callers pass token ids only. */
#ifndef FNGATE_LOG_H
#define FNGATE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_DEBUG = 1,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
};

/* Set the minimum level written (default INFO). */
void log_set_level(enum log_level lvl);
/* Open the access log: NULL or "-" means stderr, "off" disables it. Reopened by log_reopen (SIGUSR1). 0 / -1. */
int log_open_access(const char *path);
/* Reopen the access log's file (after rotation), having written what was buffered to the old
 * one. 0 / -1. */
int log_reopen(void);
/* At exit, once no other thread logs: write what is buffered, stop the writer. */
void log_close(void);

/* The access log's line format: "json" (the default; also for NULL or an unknown name) or
 * "combined" (Apache/nginx combined log format). Thread-safe; applies to the next line. */
void log_set_access_format(const char *name);
/* Whether lines are written in the combined format (callers then fill referer / user_agent). */
int log_access_combined(void);

/* A daemon message, one JSON line: {"time":..,"level":..,"msg":..}. printf-style. Thread-safe. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A structured record for log shippers: json[0..len) (one JSON object on one line, built and
 * escaped by the caller, e.g. the audit trail's {"type":"audit",...}) written to the daemon log
 * as one line whatever the level. Longer than LOG_RECORD_MAX: not written. Thread-safe. */
#define LOG_RECORD_MAX 16384
void log_record(const char *json, size_t len);

/* One access-log record. String fields may be NULL (written as null). */
struct access_record {
	const char *request_id;
	const char *client;         /* "ip:port" */
	const char *method;
	const char *path;           /* the request target as received (query included), escaped on output */
	size_t      path_len;
	const char *namespace_id;
	const char *function_id;
	const char *decision;       /* "allow" / "deny" / "error" */
	const char *reason;         /* gate reason or error code */
	const char *token_id;       /* jti, never the token */
	int         status;
	uint64_t    bytes_in;
	uint64_t    bytes_out;
	int64_t     upstream_us;    /* -1 when no upstream was involved */
	int64_t     total_us;
	/* Used by the combined format only (NULL: "-"). */
	const char *client_ip;      /* without the port */
	const char *protocol;       /* "HTTP/1.0", "HTTP/1.1", "HTTP/2.0" */
	const char *referer;
	size_t      referer_len;
	const char *user_agent;
	size_t      user_agent_len;
};

/* Record one access-log line (JSON, or combined: host, "-", token id as the user, time, request
 * line, status, bytes out, referer, user agent). Thread-safe. Unbuffered: one write(2) per line;
 * buffered (log_set_access_flush): appended to the thread's buffer, never waiting for the disk. */
void log_access(const struct access_record *r);

/* Buffer the access log: 0 writes each line at once; N > 0 keeps lines in per-thread 64 KiB
 * buffers written by a writer thread when one fills and at least every N ms. Can change at any
 * time (reload). 0, or -1 when the writer thread cannot start (then unbuffered). */
int log_set_access_flush(unsigned flush_ms);
/* Write every buffered access line now (reopen, reload, stop). */
void log_flush(void);
/* Access lines dropped because the disk did not keep up (the queue was full), since start. */
uint64_t log_access_dropped(void);

/* JSON-escape `len` bytes of s into out (capacity cap, NUL-terminated, truncated if needed).
 * Returns the output length. Control and non-ASCII bytes become \\u00XX. */
size_t log_json_escape(const char *s, size_t len, char *out, size_t cap);

#endif
