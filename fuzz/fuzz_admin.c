/* fuzz_admin.c - libFuzzer target: the admin API's request handling (admin.c) as the daemon runs
 * it: admin_start on a loopback port, the registry in a temporary state_dir, and one TCP request
 * per input. Input byte 0: bit 7 set -> the rest is sent as is (a whole HTTP request); otherwise
 * bits 0-2 pick the method, bits 3-4 the admin key (owner, one-namespace, read-only, unknown),
 * and the rest is "target\nbody" (bytes of the target that cannot appear in a request line are
 * percent-encoded). */
#include <arpa/inet.h>
#include <errno.h>
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
#include <openssl/evp.h>

#include "admin.h"
#include "conf.h"
#include "fuzz_net.h"
#include "log.h"
#include "registry.h"
#include "revoke.h"
#include "signkeys.h"
#include "state.h"
#include "util.h"

#ifndef FNGATE_FUZZ_SOURCE_DIR
#define FNGATE_FUZZ_SOURCE_DIR "."
#endif

#define TOKENS_CAP  200         /* past this many records, creations are sent as GET */
#define REQ_MAX     (256 * 1024)
#define ITER_MAX    100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct registry *reg;
static struct signkeys *keys;
static struct admin *adm;
static struct sockaddr_in admin_addr;
static char state_dir[] = "/tmp/fngate-fuzz-admin-XXXXXX";

static const char *const secrets[4] = {"owner-secret", "ns-secret", "ro-secret", "not-a-key"};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_admin: %s (errno: %s)\n", what, strerror(errno));
	abort();
}

static void cleanup(void)
{
	char cmd[256];

	admin_stop(adm);
	adm = NULL;
	registry_close(reg);
	reg = NULL;
	signkeys_free(keys);
	keys = NULL;
	conf_publish(NULL);
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	revoke_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_admin: could not remove %s\n", state_dir);
}

static void hash_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		die("sha256");
	util_hex(md, 32, out);
}

static void init(void)
{
	const char *src = getenv("FNGATE_SOURCE_DIR");
	char h[3][65], err[256], *text = NULL;
	struct conf_errors errs = {0};
	struct conf *c;
	socklen_t sl = sizeof(admin_addr);
	int fd, n;

	if (src == NULL || *src == '\0')
		src = FNGATE_FUZZ_SOURCE_DIR;
	signal(SIGPIPE, SIG_IGN);    /* as the daemon */
	log_set_level(LOG_LVL_ERROR);
	if (revoke_init() != 0)
		die("revoke_init");
	if (mkdtemp(state_dir) == NULL)
		die("mkdtemp");
	atexit(cleanup);
	/* A free loopback port for the admin listener. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&admin_addr, 0, sizeof(admin_addr));
	admin_addr.sin_family = AF_INET;
	admin_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&admin_addr, sizeof(admin_addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&admin_addr, &sl) != 0)
		die("cannot find a free port");
	close(fd);
	for (size_t i = 0; i < 3; i++)
		hash_hex(secrets[i], h[i]);
	n = asprintf(&text,
	    "{\"listen\": [\"127.0.0.1:1\"], \"state_dir\": \"%s\",\n"
	    " \"admin\": {\"listen\": \"127.0.0.1:%u\", \"keys\": [\n"
	    "   {\"name\": \"owner\", \"role\": \"owner\", \"sha256\": \"%s\"},\n"
	    "   {\"name\": \"ns\", \"permissions\": [\"tokens:read\", \"tokens:write\", \"functions:write\"],\n"
	    "    \"namespaces\": [\"ns1\"], \"sha256\": \"%s\"},\n"
	    "   {\"name\": \"ro\", \"permissions\": [\"tokens:read\"], \"sha256\": \"%s\"}]},\n"
	    " \"namespaces\": [\n"
	    "  {\"id\": \"ns1\", \"name\": \"one\", \"issue_tokens\": true,\n"
	    "   \"signing_key\": \"%s/fuzz/keys/demo.key.pem\",\n"
	    "   \"keys\": [{\"kid\": \"k1\", \"alg\": \"RS256\", \"public_key\": \"%s/fuzz/keys/demo.pub.pem\"}],\n"
	    "   \"functions\": [{\"id\": \"f1\", \"name\": \"f1\", \"path_prefix\": \"/f1\", \"upstreams\": [\"http://127.0.0.1:1\"]},\n"
	    "                 {\"id\": \"f2\", \"name\": \"f2\", \"privacy\": \"public\", \"hosts\": [\"a.example\"],\n"
	    "                  \"upstreams\": [\"http://127.0.0.1:1\"]}]},\n"
	    "  {\"id\": \"ns2\", \"name\": \"two\",\n"
	    "   \"keys\": [{\"alg\": \"RS256\", \"public_key\": \"%s/fuzz/keys/demo.pub.pem\"}],\n"
	    "   \"functions\": [{\"id\": \"g1\", \"name\": \"g1\", \"path_prefix\": \"/g1\", \"upstreams\": [\"http://127.0.0.1:1\"]}]}\n"
	    " ]}\n",
	    state_dir, ntohs(admin_addr.sin_port), h[0], h[1], h[2], src, src, src);
	if (n < 0)
		die("asprintf");
	c = conf_load_string(text, (size_t)n, "fuzz-admin.json", &errs);
	free(text);
	if (c == NULL) {
		conf_errors_print(&errs, stderr);
		die("configuration");
	}
	/* The daemon's start sequence (serve.c), minus the workers. */
	reg = registry_open(c->state_dir, err, sizeof(err));
	keys = signkeys_new();
	if (reg == NULL || keys == NULL ||
	    signkeys_load(keys, c->state_dir, c, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		die("registry");
	}
	(void)state_apply(c);
	conf_publish(c);
	base = event_base_new();
	if (base == NULL)
		die("event_base_new");
	adm = admin_start(base, reg, keys, err, sizeof(err));
	if (adm == NULL) {
		fprintf(stderr, "%s\n", err);
		die("admin_start");
	}
}

static const char *const methods[8] = {"GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS",
				       "POST"};

/* Build "METHOD target HTTP/1.1" + headers + body into out; returns its length. */
static size_t build_request(const uint8_t *data, size_t size, char *out, size_t cap)
{
	uint8_t sel = data[0];
	const uint8_t *p = data + 1, *end = data + size, *nl;
	const char *method = methods[sel & 0x07];
	size_t o = 0, bodylen;
	int n;

	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		nl = end;
	if (strcmp(method, "POST") == 0 && registry_count(reg) >= TOKENS_CAP)
		method = "GET";     /* bound the registry (and the disk) over a long run */
	n = snprintf(out, cap, "%s ", method);
	o = (size_t)n;
	if (p == nl || *p != '/')
		out[o++] = '/';
	for (; p < nl && o + 4 < cap / 2; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '%') {
			static const char hex[] = "0123456789ABCDEF";

			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0x0f];
		} else {
			out[o++] = (char)*p;
		}
	}
	p = nl < end ? nl + 1 : end;
	bodylen = (size_t)(end - p);
	if (bodylen > cap / 4)
		bodylen = cap / 4;
	n = snprintf(out + o, cap - o, " HTTP/1.1\r\nHost: admin\r\n"
		     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n", secrets[(sel >> 3) & 0x03], bodylen);
	o += (size_t)n;
	memcpy(out + o, p, bodylen);
	return o + bodylen;
}

static void run_until_idle(int fd, size_t *got)
{
	char buf[16384];
	ssize_t n;

	for (unsigned i = 0;; i++) {
		if (i == ITER_MAX)
			die("the event loop never went idle (busy loop)");
		event_base_loop(base, EVLOOP_NONBLOCK);
		while (fd != -1 && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			if (*got == 0 && (n < 5 || memcmp(buf, "HTTP/", 5) != 0))
				die("the admin API answered something other than an HTTP response");
			if (*got == 0 && getenv("FNGATE_FUZZ_DEBUG") != NULL)
				fprintf(stderr, "admin: %.*s\n", (int)(memchr(buf, '\r', (size_t)n) ?
					(char *)memchr(buf, '\r', (size_t)n) - buf : n), buf);
			*got += (size_t)n;
		}
		if (fuzz_loop_idle(base))
			return;
	}
}

/* A client connection to the admin listener. Each comes from the next loopback source address
 * (127.0.0.2, 127.0.0.3, ...): the API closes first, so its side keeps every (source, port) pair
 * in TIME_WAIT for a minute, and one source address runs out of pairs after ~28k connections -
 * a harness limit, not a finding. 127/8 all reaches the listener on 127.0.0.1. */
static int client_connect(void)
{
	static uint32_t next;
	struct sockaddr_in src;
	int fd = -1;

	for (int attempt = 0; attempt < 8; attempt++) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000002u + (next++ % 0xfffff0u));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			die("socket");
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
		    connect(fd, (struct sockaddr *)&admin_addr, sizeof(admin_addr)) == 0)
			return fd;
		close(fd);
	}
	die("connect to the admin listener");
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char req[REQ_MAX];
	const char *p;
	size_t len, got = 0;
	int fd;

	if (base == NULL)
		init();
	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		p = (const char *)data + 1;
		len = size - 1 < REQ_MAX ? size - 1 : REQ_MAX;
	} else {
		len = build_request(data, size, req, sizeof(req));
		p = req;
	}
	fd = client_connect();
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			struct pollfd pfd = {fd, POLLOUT, 0};

			/* The API stopped reading: let it run; if it still does not read, stop. */
			run_until_idle(fd, &got);
			if (poll(&pfd, 1, 0) <= 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	run_until_idle(fd, &got);
	(void)shutdown(fd, SHUT_WR);
	run_until_idle(fd, &got);
	{
		/* Close with a reset: hundreds of thousands of connections a minute would otherwise
		 * leave the client side's ports in TIME_WAIT until connect(2) finds none (a harness
		 * limit, not a finding). */
		struct linger lg = {1, 0};

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
	run_until_idle(-1, &got);
	return 0;
}
