/* log.c - the daemon log (JSON lines on stderr) and the access log (one JSON line per request,
 * stderr or a file reopened on SIGUSR1). Tokens and admin keys never reach this file's callers'
 * arguments: only token ids do. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_LVL_INFO;
static _Atomic int access_fd = 2;
static _Atomic int access_combined;
static char *access_path;
/* The descriptor number access-log files use, once one was opened. A reopen dup2()s the new file
 * onto it instead of closing it: a worker that loaded access_fd just before keeps writing to a
 * valid descriptor (the old file, which is what rotation wants), never to a closed number that a
 * new client socket may already have taken. Kept open until log_close. */
static int access_file_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level lvl)
{
	atomic_store(&min_level, (int)lvl);
}

int log_open_access(const char *path)
{
	int fd = 2;

	pthread_mutex_lock(&log_lock);
	free(access_path);
	access_path = NULL;
	if (path != NULL && strcmp(path, "off") == 0) {
		fd = -1;        /* access logging disabled */
	} else if (path != NULL && strcmp(path, "-") != 0) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			pthread_mutex_unlock(&log_lock);
			return -1;
		}
		if (access_file_fd == -1) {
			access_file_fd = fd;
		} else {
			/* dup2 replaces the file behind the number atomically. */
			if (dup3(fd, access_file_fd, O_CLOEXEC) == -1) {
				close(fd);
				pthread_mutex_unlock(&log_lock);
				return -1;
			}
			close(fd);
			fd = access_file_fd;
		}
		access_path = strdup(path);
	}
	/* Switching to stderr or "off" leaves access_file_fd open: a line in flight still has a
	 * valid descriptor. */
	atomic_store(&access_fd, fd);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_set_access_format(const char *name)
{
	atomic_store(&access_combined, name != NULL && strcmp(name, "combined") == 0);
}

int log_access_combined(void)
{
	return atomic_load_explicit(&access_combined, memory_order_relaxed);
}

int log_reopen(void)
{
	int rc = 0;
	char *p;

	pthread_mutex_lock(&log_lock);
	p = access_path ? strdup(access_path) : NULL;
	pthread_mutex_unlock(&log_lock);
	if (p != NULL)
		rc = log_open_access(p);
	free(p);
	return rc;
}

void log_close(void)
{
	/* Called once no other thread logs any more (the workers have been joined). */
	atomic_store(&access_fd, 2);
	pthread_mutex_lock(&log_lock);
	if (access_file_fd != -1)
		close(access_file_fd);
	access_file_fd = -1;
	free(access_path);
	access_path = NULL;
	pthread_mutex_unlock(&log_lock);
}

size_t log_json_escape(const char *s, size_t len, char *out, size_t cap)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[7];
		size_t el;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			el = 2;
		} else if (ch < 0x20 || ch >= 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hx[ch >> 4];
			esc[5] = hx[ch & 0xf];
			el = 6;
		} else {
			esc[0] = (char)ch;
			el = 1;
		}
		if (o + el >= cap)
			break;
		memcpy(out + o, esc, el);
		o += el;
	}
	out[o] = '\0';
	return o;
}

static size_t time_iso(char *buf, size_t cap)
{
	/* Per thread, the "YYYY-MM-DDTHH:MM:SS" part is formatted once a second; only the
	 * milliseconds change between lines (this runs for every access-log line). */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	static _Thread_local size_t cached_len;
	struct timeval tv;
	unsigned ms;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&tv.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = tv.tv_sec;
	}
	if (cap < cached_len + 6)
		return 0;
	memcpy(buf, cached, cached_len);
	ms = (unsigned)(tv.tv_usec / 1000);
	buf[cached_len] = '.';
	buf[cached_len + 1] = (char)('0' + ms / 100);
	buf[cached_len + 2] = (char)('0' + ms / 10 % 10);
	buf[cached_len + 3] = (char)('0' + ms % 10);
	buf[cached_len + 4] = 'Z';
	buf[cached_len + 5] = '\0';
	return cached_len + 5;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"", "debug", "info", "warn", "error"};
	char msg[1024], esc[2048], line[2300], ts[40];
	va_list ap;
	int n;

	if ((int)lvl < atomic_load(&min_level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_json_escape(msg, strlen(msg), esc, sizeof(esc));
	time_iso(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
		     names[lvl], esc);
	if (n > 0)
		write_all(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Append "key":"escaped" or "key":null. */
static size_t put_str(char *o, size_t at, size_t cap, const char *key, const char *v, size_t vlen)
{
	int n;

	if (at >= cap)
		return at;
	if (v == NULL) {
		n = snprintf(o + at, cap - at, ",\"%s\":null", key);
		return at + (n > 0 ? (size_t)n : 0);
	}
	n = snprintf(o + at, cap - at, ",\"%s\":\"", key);
	if (n <= 0 || at + (size_t)n >= cap)
		return cap;
	at += (size_t)n;
	at += log_json_escape(v, vlen, o + at, cap - at - 2);
	o[at++] = '"';
	o[at] = '\0';
	return at;
}

/* A combined-format field: bytes other than printable ASCII, '"' and '\\' become \xHH (as
 * nginx writes them), so a line can never be split or its quotes broken. NULL or "" -> "-". */
static size_t put_clf(char *o, size_t at, size_t cap, const char *v, size_t vlen)
{
	static const char hx[] = "0123456789ABCDEF";

	if (v == NULL || vlen == 0) {
		if (at + 1 < cap)
			o[at++] = '-';
		return at;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			if (at + 4 >= cap)
				break;
			o[at++] = '\\';
			o[at++] = 'x';
			o[at++] = hx[ch >> 4];
			o[at++] = hx[ch & 0xf];
		} else {
			if (at + 1 >= cap)
				break;
			o[at++] = (char)ch;
		}
	}
	return at;
}

static size_t put_raw(char *o, size_t at, size_t cap, const char *lit)
{
	size_t n = strlen(lit);

	if (at + n >= cap)
		return at;
	memcpy(o + at, lit, n);
	return at + n;
}

/* host - user [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326 "referer" "agent" */
static void log_access_clf(int fd, const struct access_record *r)
{
	char line[4096], ts[40];
	struct timeval tv;
	struct tm tm;
	size_t at = 0, cap = sizeof(line) - 2;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	at = put_clf(line, at, cap, r->client_ip, r->client_ip ? strlen(r->client_ip) : 0);
	at = put_raw(line, at, cap, " - ");
	at = put_clf(line, at, cap, r->token_id, r->token_id ? strlen(r->token_id) : 0);
	n = snprintf(line + at, cap - at, " [%s] \"", ts);
	at = n > 0 && (size_t)n < cap - at ? at + (size_t)n : cap;
	at = put_clf(line, at, cap, r->method, r->method ? strlen(r->method) : 0);
	at = put_raw(line, at, cap, " ");
	at = put_clf(line, at, cap, r->path, r->path_len > 2048 ? 2048 : r->path_len);
	at = put_raw(line, at, cap, " ");
	at = put_clf(line, at, cap, r->protocol, r->protocol ? strlen(r->protocol) : 0);
	if (r->bytes_out > 0)
		n = snprintf(line + at, cap - at, "\" %d %llu \"", r->status,
			     (unsigned long long)r->bytes_out);
	else
		n = snprintf(line + at, cap - at, "\" %d - \"", r->status);
	at = n > 0 && (size_t)n < cap - at ? at + (size_t)n : cap;
	at = put_clf(line, at, cap, r->referer, r->referer_len > 1024 ? 1024 : r->referer_len);
	at = put_raw(line, at, cap, "\" \"");
	at = put_clf(line, at, cap, r->user_agent, r->user_agent_len > 1024 ? 1024 : r->user_agent_len);
	line[at++] = '"';
	line[at++] = '\n';
	write_all(fd, line, at);
}

void log_access(const struct access_record *r)
{
	char line[4096], ts[40];
	size_t at;
	int n, fd = atomic_load(&access_fd);

	if (fd < 0)
		return;
	if (atomic_load_explicit(&access_combined, memory_order_relaxed)) {
		log_access_clf(fd, r);
		return;
	}
	time_iso(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"type\":\"access\"", ts);
	at = (size_t)n;
	at = put_str(line, at, sizeof(line) - 256, "request_id", r->request_id,
		     r->request_id ? strlen(r->request_id) : 0);
	at = put_str(line, at, sizeof(line) - 256, "client", r->client, r->client ? strlen(r->client) : 0);
	at = put_str(line, at, sizeof(line) - 256, "method", r->method, r->method ? strlen(r->method) : 0);
	at = put_str(line, at, sizeof(line) - 256, "path", r->path, r->path_len > 1024 ? 1024 : r->path_len);
	at = put_str(line, at, sizeof(line) - 256, "namespace", r->namespace_id,
		     r->namespace_id ? strlen(r->namespace_id) : 0);
	at = put_str(line, at, sizeof(line) - 256, "function", r->function_id,
		     r->function_id ? strlen(r->function_id) : 0);
	at = put_str(line, at, sizeof(line) - 256, "decision", r->decision,
		     r->decision ? strlen(r->decision) : 0);
	at = put_str(line, at, sizeof(line) - 256, "reason", r->reason, r->reason ? strlen(r->reason) : 0);
	at = put_str(line, at, sizeof(line) - 256, "token_id", r->token_id,
		     r->token_id ? strlen(r->token_id) : 0);
	if (at > sizeof(line) - 256)
		at = sizeof(line) - 256;
	n = snprintf(line + at, sizeof(line) - at,
		     ",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,\"upstream_ms\":%s%.3f,"
		     "\"total_ms\":%.3f}\n",
		     r->status, (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
		     "", r->upstream_us < 0 ? -1.0 : (double)r->upstream_us / 1000.0,
		     (double)r->total_us / 1000.0);
	if (n > 0)
		at += (size_t)n;
	write_all(fd, line, at);
}
