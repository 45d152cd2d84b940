/* log.c - the daemon log (JSON lines on stderr) and the access log (one line per request, JSON or
 * combined, built without printf into a per-worker buffer that a writer thread writes; stderr or
 * a file reopened on SIGUSR1). Tokens and admin keys never reach this file's callers'
 * arguments: only token ids do. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define ALOG_LINE_MAX     4096   /* bytes of one access line, at most */
#define ALOG_TAIL_RESERVE 160    /* of which the numeric fields' (status .. total_ms) */

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

/* The access log's buffering (below, before log_access). */
#define ALOG_BUF_SIZE      (64 * 1024)
#define ALOG_QUEUE_MAX     64          /* full buffers waiting: 4 MiB */
#define ALOG_DROP_LOG_US   (60 * 1000000ull)

struct alog_buf {
	pthread_mutex_t  mu;
	char            *data;         /* ALOG_BUF_SIZE bytes */
	size_t           len;
	uint64_t         lines;
	struct alog_buf *next;         /* alog_threads */
};

struct alog_chunk {
	char    *data;
	size_t   len;
	uint64_t lines;
};

static _Atomic unsigned alog_flush_ms;     /* 0: unbuffered */
static _Atomic uint64_t alog_dropped;
static _Thread_local struct alog_buf *alog_mine;
static pthread_mutex_t alog_threads_mu = PTHREAD_MUTEX_INITIALIZER;
static struct alog_buf *alog_threads;
/* the queue, the spare buffers and the writer's state: under alog_q_mu */
static pthread_mutex_t alog_q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t alog_q_cond = PTHREAD_COND_INITIALIZER;
static struct alog_chunk alog_queue[ALOG_QUEUE_MAX];
static size_t alog_qhead, alog_qlen;
static char *alog_spare[ALOG_QUEUE_MAX];
static size_t alog_nspare;
static bool alog_stop, alog_running;
static pthread_t alog_thread;
/* held while writing: the writer thread and log_flush write in queue order */
static pthread_mutex_t alog_w_mu = PTHREAD_MUTEX_INITIALIZER;


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

	log_flush();    /* what was logged before the signal belongs to the old file */
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
	bool running;

	/* Called once no other thread logs any more (the workers have been joined): stop the
	 * writer, write what is buffered, free the buffers. */
	pthread_mutex_lock(&alog_q_mu);
	alog_stop = true;
	running = alog_running;
	alog_running = false;
	pthread_cond_signal(&alog_q_cond);
	pthread_mutex_unlock(&alog_q_mu);
	if (running)
		pthread_join(alog_thread, NULL);
	log_flush();
	atomic_store(&alog_flush_ms, 0);
	pthread_mutex_lock(&alog_threads_mu);
	while (alog_threads != NULL) {
		struct alog_buf *b = alog_threads;

		alog_threads = b->next;
		pthread_mutex_destroy(&b->mu);
		free(b->data);
		free(b);
	}
	pthread_mutex_unlock(&alog_threads_mu);
	while (alog_nspare > 0)
		free(alog_spare[--alog_nspare]);
	alog_mine = NULL;
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

void log_record(const char *json, size_t len)
{
	char line[LOG_RECORD_MAX + 1];

	/* One write(2) with its newline, so that lines of other threads never land inside it. */
	if (len == 0 || len > LOG_RECORD_MAX)
		return;
	memcpy(line, json, len);
	line[len] = '\n';
	write_all(2, line, len + 1);
}

/* ---------------------------------------------------------------- access lines, without printf
 *
 * A line is built by appending to a buffer with at least ALOG_LINE_MAX bytes free: each field
 * is bounded (paths to 1024/2048 bytes, escaped at most 6x... so the line cuts fields that would
 * pass the end instead of overflowing). */

struct lb {
	char  *p;
	size_t at;
	size_t cap;     /* bytes usable for fields; the line's fixed tail has its own reserve */
};

static inline void lb_lit(struct lb *b, const char *s, size_t n)
{
	if (b->at + n > b->cap)
		n = b->cap - b->at;
	memcpy(b->p + b->at, s, n);
	b->at += n;
}

#define LB_LIT(b, lit) lb_lit((b), (lit), sizeof(lit) - 1)

static inline void lb_u64(struct lb *b, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	lb_lit(b, d + sizeof(d) - n, n);
}

/* Microseconds as milliseconds with three decimals ("%.3f" of us / 1000: exact); -1: "-1.000". */
static void lb_ms(struct lb *b, int64_t us)
{
	char frac[4];

	if (us < 0) {
		LB_LIT(b, "-1.000");
		return;
	}
	lb_u64(b, (uint64_t)us / 1000);
	frac[0] = '.';
	frac[1] = (char)('0' + us / 100 % 10);
	frac[2] = (char)('0' + us / 10 % 10);
	frac[3] = (char)('0' + us % 10);
	lb_lit(b, frac, 4);
}

/* Bytes that JSON strings carry as they are: printable ASCII except '"' and '\\'. */
static const unsigned char json_plain[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, [';'] = 1,
	['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1,
	['_'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1, [' '] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* How one byte outside json_plain is written: into out (6 bytes), returning the length. */
typedef size_t (*lb_esc_fn)(unsigned char ch, char *out);

/* JSON (as log_json_escape escapes): \" and \\, else \u00XX. */
static size_t esc_json(unsigned char ch, char *out)
{
	static const char hx[] = "0123456789abcdef";

	if (ch == '"' || ch == '\\') {
		out[0] = '\\';
		out[1] = (char)ch;
		return 2;
	}
	memcpy(out, "\\u00", 4);
	out[4] = hx[ch >> 4];
	out[5] = hx[ch & 0xf];
	return 6;
}

/* The combined format: \xHH, as nginx writes such bytes, so a line can never be split or its
 * quotes broken. */
static size_t esc_clf(unsigned char ch, char *out)
{
	static const char hx[] = "0123456789ABCDEF";

	out[0] = '\\';
	out[1] = 'x';
	out[2] = hx[ch >> 4];
	out[3] = hx[ch & 0xf];
	return 4;
}

/* v[0..vlen), runs of plain bytes copied at once, the others escaped by esc. */
static void lb_escaped(struct lb *b, const char *v, size_t vlen, lb_esc_fn esc)
{
	for (size_t i = 0; i < vlen;) {
		size_t j = i;
		char out[6];

		while (j < vlen && json_plain[(unsigned char)v[j]])
			j++;
		lb_lit(b, v + i, j - i);
		if (j == vlen)
			break;
		lb_lit(b, out, esc((unsigned char)v[j], out));
		i = j + 1;
	}
}

/* `,"key":"escaped value"`, or `,"key":null`. key_lit includes the leading `,"key":`. */
static void lb_json(struct lb *b, const char *key_lit, size_t key_len, const char *v, size_t vlen)
{
	lb_lit(b, key_lit, key_len);
	if (v == NULL) {
		LB_LIT(b, "null");
		return;
	}
	LB_LIT(b, "\"");
	lb_escaped(b, v, vlen, esc_json);
	LB_LIT(b, "\"");
}

#define LB_JSON(b, key, v, n) lb_json((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (v), (n))

/* A combined-format field (esc_clf); NULL or "" -> "-". */
static void lb_clf(struct lb *b, const char *v, size_t vlen)
{
	if (v == NULL || vlen == 0) {
		LB_LIT(b, "-");
		return;
	}
	lb_escaped(b, v, vlen, esc_clf);
}

static size_t slen(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* The combined format's time, "10/Oct/2000:13:55:36 +0000", formatted once a second per thread. */
static size_t time_clf(char *buf, size_t cap)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[40];
	static _Thread_local size_t cached_len;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&tv.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		cached_sec = tv.tv_sec;
	}
	if (cap < cached_len)
		return 0;
	memcpy(buf, cached, cached_len);
	return cached_len;
}

/* host - user [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326 "referer" "agent" */
static void line_clf(struct lb *b, const struct access_record *r)
{
	char ts[40];

	lb_clf(b, r->client_ip, slen(r->client_ip));
	LB_LIT(b, " - ");
	lb_clf(b, r->token_id, slen(r->token_id));
	LB_LIT(b, " [");
	lb_lit(b, ts, time_clf(ts, sizeof(ts)));
	LB_LIT(b, "] \"");
	lb_clf(b, r->method, slen(r->method));
	LB_LIT(b, " ");
	lb_clf(b, r->path, r->path_len > 2048 ? 2048 : r->path_len);
	LB_LIT(b, " ");
	lb_clf(b, r->protocol, slen(r->protocol));
	LB_LIT(b, "\" ");
	lb_u64(b, (uint64_t)(r->status > 0 ? r->status : 0));
	LB_LIT(b, " ");
	if (r->bytes_out > 0)
		lb_u64(b, r->bytes_out);
	else
		LB_LIT(b, "-");
	LB_LIT(b, " \"");
	lb_clf(b, r->referer, r->referer_len > 1024 ? 1024 : r->referer_len);
	LB_LIT(b, "\" \"");
	lb_clf(b, r->user_agent, r->user_agent_len > 1024 ? 1024 : r->user_agent_len);
	LB_LIT(b, "\"\n");
}

static void line_json(struct lb *b, const struct access_record *r)
{
	char ts[40];

	LB_LIT(b, "{\"time\":\"");
	lb_lit(b, ts, time_iso(ts, sizeof(ts)));
	LB_LIT(b, "\",\"type\":\"access\"");
	LB_JSON(b, "request_id", r->request_id, slen(r->request_id));
	LB_JSON(b, "client", r->client, slen(r->client));
	LB_JSON(b, "method", r->method, slen(r->method));
	LB_JSON(b, "protocol", r->protocol, slen(r->protocol));
	LB_JSON(b, "path", r->path, r->path_len > 1024 ? 1024 : r->path_len);
	LB_JSON(b, "namespace", r->namespace_id, slen(r->namespace_id));
	LB_JSON(b, "function", r->function_id, slen(r->function_id));
	LB_JSON(b, "decision", r->decision, slen(r->decision));
	LB_JSON(b, "reason", r->reason, slen(r->reason));
	LB_JSON(b, "token_id", r->token_id, slen(r->token_id));
	/* the numeric tail always fits: ALOG_TAIL_RESERVE bytes are kept for it */
	b->cap += ALOG_TAIL_RESERVE;
	LB_LIT(b, ",\"status\":");
	lb_u64(b, (uint64_t)(r->status > 0 ? r->status : 0));
	LB_LIT(b, ",\"bytes_in\":");
	lb_u64(b, r->bytes_in);
	LB_LIT(b, ",\"bytes_out\":");
	lb_u64(b, r->bytes_out);
	LB_LIT(b, ",\"upstream_ms\":");
	lb_ms(b, r->upstream_us);
	LB_LIT(b, ",\"total_ms\":");
	lb_ms(b, r->total_us);
	LB_LIT(b, "}\n");
}

/* Build r's line at b->p (ALOG_LINE_MAX bytes free). Returns its length. */
static size_t line_build(char *p, const struct access_record *r)
{
	struct lb b = {p, 0, ALOG_LINE_MAX - ALOG_TAIL_RESERVE};

	if (atomic_load_explicit(&access_combined, memory_order_relaxed)) {
		b.cap = ALOG_LINE_MAX - 2;
		line_clf(&b, r);
		if (b.p[b.at - 1] != '\n') {   /* cut: keep the line whole */
			b.p[b.at++] = '"';
			b.p[b.at++] = '\n';
		}
	} else {
		line_json(&b, r);
	}
	return b.at;
}

/* ---------------------------------------------------------------- buffering and the writer
 *
 * With access_log_flush_ms > 0, each thread that logs appends its lines to a buffer of its
 * own (ALOG_BUF_SIZE bytes, under a mutex that only the writer thread ever contends for). A
 * full buffer goes to a bounded queue; the writer thread writes the queue, and every flush
 * period takes the threads' partial buffers too. Workers never wait for the disk: when the
 * queue is full (the disk does not keep up), a full buffer is dropped instead, its lines
 * counted (log_access_dropped) and reported once a minute. log_flush writes everything now
 * (reopen, reload, stop). With 0, each line is written at once by the thread that made it. */

/* A buffer for a thread (alog_q_mu held): a spare one, else a new one. NULL: no memory. */
static char *alog_fresh(void)
{
	return alog_nspare > 0 ? alog_spare[--alog_nspare] : malloc(ALOG_BUF_SIZE);
}

/* Give back a written buffer (alog_q_mu held). */
static void alog_recycle(char *data)
{
	if (alog_nspare < ALOG_QUEUE_MAX)
		alog_spare[alog_nspare++] = data;
	else
		free(data);
}

/* Hand b's full buffer to the writer and give b an empty one (b->mu held). When the queue is
 * full or there is no memory, the lines are dropped and counted: the worker never waits. */
static void alog_handoff(struct alog_buf *b)
{
	char *fresh;

	pthread_mutex_lock(&alog_q_mu);
	if (alog_qlen < ALOG_QUEUE_MAX && (fresh = alog_fresh()) != NULL) {
		alog_queue[(alog_qhead + alog_qlen++) % ALOG_QUEUE_MAX] =
			(struct alog_chunk){b->data, b->len, b->lines};
		b->data = fresh;
		pthread_cond_signal(&alog_q_cond);
	} else {
		atomic_fetch_add(&alog_dropped, b->lines);
	}
	pthread_mutex_unlock(&alog_q_mu);
	b->len = 0;
	b->lines = 0;
}

/* This thread's buffer, registered on first use. NULL: no memory. */
static struct alog_buf *alog_thread_buf(void)
{
	struct alog_buf *b = alog_mine;

	if (b != NULL)
		return b;
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->data = malloc(ALOG_BUF_SIZE)) == NULL) {
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_mutex_lock(&alog_threads_mu);
	b->next = alog_threads;
	alog_threads = b;
	pthread_mutex_unlock(&alog_threads_mu);
	alog_mine = b;
	return b;
}

/* Write everything queued and every thread's partial buffer (alog_w_mu held). */
static void alog_write_out(void)
{
	struct alog_chunk batch[ALOG_QUEUE_MAX];
	size_t n = 0;
	int fd = atomic_load(&access_fd);

	pthread_mutex_lock(&alog_q_mu);
	while (alog_qlen > 0) {
		batch[n++] = alog_queue[alog_qhead];
		alog_qhead = (alog_qhead + 1) % ALOG_QUEUE_MAX;
		alog_qlen--;
	}
	pthread_mutex_unlock(&alog_q_mu);
	for (size_t i = 0; i < n; i++) {
		if (fd >= 0)
			write_all(fd, batch[i].data, batch[i].len);
		pthread_mutex_lock(&alog_q_mu);
		alog_recycle(batch[i].data);
		pthread_mutex_unlock(&alog_q_mu);
	}
	pthread_mutex_lock(&alog_threads_mu);
	for (struct alog_buf *b = alog_threads; b != NULL; b = b->next) {
		struct alog_chunk c = {NULL, 0, 0};

		pthread_mutex_lock(&b->mu);
		if (b->len > 0) {
			char *fresh;

			pthread_mutex_lock(&alog_q_mu);
			fresh = alog_fresh();
			pthread_mutex_unlock(&alog_q_mu);
			if (fresh != NULL) {
				c = (struct alog_chunk){b->data, b->len, b->lines};
				b->data = fresh;
				b->len = 0;
				b->lines = 0;
			}
		}
		pthread_mutex_unlock(&b->mu);
		if (c.data != NULL) {
			if (fd >= 0)
				write_all(fd, c.data, c.len);
			pthread_mutex_lock(&alog_q_mu);
			alog_recycle(c.data);
			pthread_mutex_unlock(&alog_q_mu);
		}
	}
	pthread_mutex_unlock(&alog_threads_mu);
}

static void *alog_writer(void *arg)
{
	uint64_t reported = 0, reported_us = 0;

	(void)arg;
	for (;;) {
		unsigned ms = atomic_load(&alog_flush_ms);
		struct timespec until;
		uint64_t dropped;
		bool stop;

		clock_gettime(CLOCK_REALTIME, &until);
		ms = ms > 0 ? ms : 1000;
		until.tv_sec += ms / 1000;
		until.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&alog_q_mu);
		while (!alog_stop && alog_qlen == 0 &&
		       pthread_cond_timedwait(&alog_q_cond, &alog_q_mu, &until) == 0)
			;
		stop = alog_stop;
		pthread_mutex_unlock(&alog_q_mu);
		pthread_mutex_lock(&alog_w_mu);
		alog_write_out();
		pthread_mutex_unlock(&alog_w_mu);
		dropped = atomic_load(&alog_dropped);
		if (dropped != reported && util_mono_us() - reported_us >= ALOG_DROP_LOG_US) {
			log_msg(LOG_LVL_WARN, "access log: %llu lines dropped since the last report: "
				"the disk does not keep up (fngate_access_log_dropped_total)",
				(unsigned long long)(dropped - reported));
			reported = dropped;
			reported_us = util_mono_us();
		}
		if (stop)
			return NULL;
	}
}

int log_set_access_flush(unsigned flush_ms)
{
	int rc = 0;

	atomic_store(&alog_flush_ms, flush_ms);
	pthread_mutex_lock(&alog_q_mu);
	if (flush_ms > 0 && !alog_running) {
		alog_stop = false;
		if (pthread_create(&alog_thread, NULL, alog_writer, NULL) == 0)
			alog_running = true;
		else
			rc = -1;
	}
	pthread_mutex_unlock(&alog_q_mu);
	if (rc != 0)
		atomic_store(&alog_flush_ms, 0);   /* unbuffered then: nothing is lost */
	return rc;
}

void log_flush(void)
{
	pthread_mutex_lock(&alog_w_mu);
	alog_write_out();
	pthread_mutex_unlock(&alog_w_mu);
}

uint64_t log_access_dropped(void)
{
	return atomic_load(&alog_dropped);
}

void log_access(const struct access_record *r)
{
	struct alog_buf *b;
	int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);

	if (fd < 0)
		return;
	if (atomic_load_explicit(&alog_flush_ms, memory_order_relaxed) == 0 ||
	    (b = alog_thread_buf()) == NULL) {
		char line[ALOG_LINE_MAX];

		write_all(fd, line, line_build(line, r));
		return;
	}
	pthread_mutex_lock(&b->mu);
	if (ALOG_BUF_SIZE - b->len < ALOG_LINE_MAX)
		alog_handoff(b);
	b->len += line_build(b->data + b->len, r);
	b->lines++;
	pthread_mutex_unlock(&b->mu);
}
