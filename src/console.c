/* console.c - the web console's static files: a regular file under the console directory, opened
 * without blocking or following a last symlink, never a hidden file. */
#include "console.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>        /* evhttp_uridecode only */

#include "adminhttp.h"
#include "util.h"

#ifndef FNGATE_WEB_DIR
#define FNGATE_WEB_DIR "web"
#endif
#ifndef FNGATE_WEB_INSTALL_DIR
#define FNGATE_WEB_INSTALL_DIR "/usr/local/share/fngate/web"
#endif

#define STATIC_MAX      (8 * 1024 * 1024)
#define STATIC_PATH_MAX 1024

struct console {
	char *root;     /* realpath of the console directory */
};

struct console *console_open(void)
{
	const char *cands[3] = {getenv("FNGATE_WEB_ROOT"), FNGATE_WEB_INSTALL_DIR, FNGATE_WEB_DIR};
	char real[PATH_MAX];
	struct stat st;
	struct console *con;

	for (size_t i = 0; i < ARRAY_LEN(cands); i++) {
		if (cands[i] == NULL || *cands[i] == '\0')
			continue;
		if (realpath(cands[i], real) == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if ((con = calloc(1, sizeof(*con))) == NULL)
			return NULL;
		if ((con->root = strdup(real)) == NULL) {
			free(con);
			return NULL;
		}
		return con;
	}
	return NULL;
}

const char *console_root(const struct console *con)
{
	return con != NULL ? con->root : "none";
}

void console_close(struct console *con)
{
	if (con == NULL)
		return;
	free(con->root);
	free(con);
}

static const char *content_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{".html", "text/html; charset=utf-8"},
		{".js",   "text/javascript; charset=utf-8"},
		{".mjs",  "text/javascript; charset=utf-8"},
		{".css",  "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".svg",  "image/svg+xml"},
		{".png",  "image/png"},
		{".ico",  "image/x-icon"},
		{".txt",  "text/plain; charset=utf-8"},
		{".map",  "application/json"},
		{".woff2", "font/woff2"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot != NULL && i < ARRAY_LEN(types); i++) {
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* A decoded path the console may serve: "/"-rooted, no segment starting with "." (hidden files
 * and directories such as /.git/config, and "." / ".."), no backslash. */
static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s != '\0'; s++) {
		if (*s == '\\' || (s[0] == '/' && s[1] == '.'))
			return false;
	}
	return true;
}

static void not_found(struct adminhttp_req *req)
{
	static const char msg[] = "{\"error\":\"not_found\",\"message\":\"no such file\"}\n";
	struct evbuffer *b = evbuffer_new();

	if (b != NULL)
		evbuffer_add(b, msg, sizeof(msg) - 1);
	adminhttp_add_header(req, "Content-Type", "application/json");
	adminhttp_add_header(req, "Cache-Control", "no-store");
	adminhttp_reply(req, 404, b);
	if (b != NULL)
		evbuffer_free(b);
}

void console_serve(const struct console *con, struct adminhttp_req *req)
{
	char full[PATH_MAX], real[PATH_MAX];
	char *dec = NULL;
	size_t dl = 0, rootlen;
	struct stat st;
	struct evbuffer *b = NULL;
	int fd = -1;

	if (con == NULL)
		goto notfound;
	dec = evhttp_uridecode(adminhttp_path(req), 0, &dl);
	if (dec == NULL || dl != strlen(dec) || dl > STATIC_PATH_MAX || !path_ok(dec))
		goto notfound;
	if (snprintf(full, sizeof(full), "%s%s%s", con->root, dec,
		     dec[dl - 1] == '/' ? "index.html" : "") >= (int)sizeof(full))
		goto notfound;
	/* realpath resolves symlinks inside the root; the result must still be under it */
	if (realpath(full, real) == NULL)
		goto notfound;
	rootlen = strlen(con->root);
	if (strncmp(real, con->root, rootlen) != 0 || real[rootlen] != '/')
		goto notfound;
	/* O_NONBLOCK: a FIFO placed in the root must not block the admin loop in open(2); the type
	 * is checked on the descriptor, so what is served is what was checked. */
	fd = open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX)
		goto notfound;
	if ((b = evbuffer_new()) == NULL)
		goto notfound;
	if (st.st_size > 0) {
		if (evbuffer_add_file(b, fd, 0, st.st_size) != 0)
			goto notfound;
		fd = -1;    /* owned by the buffer now */
	}
	adminhttp_add_header(req, "Content-Type", content_type(real));
	adminhttp_add_header(req, "Cache-Control", "no-cache");
	adminhttp_reply(req, 200, b);
	goto cleanup;
notfound:
	not_found(req);
cleanup:
	if (b != NULL)
		evbuffer_free(b);
	if (fd != -1)
		close(fd);
	free(dec);
}
