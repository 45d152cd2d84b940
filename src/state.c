/* state.c - runtime state kept in state_dir: function privacy overrides set through the admin
 * API, and the modes of state_dir's tree. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "journal.h"

#define STATE_FILE "privacy.json"
#define STATE_MAX  (4u * 1024 * 1024)

/* Load the state file: a new object (empty when the file does not exist), or NULL on error. */
static json_t *state_load(const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *root, *fns;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", state_dir, STATE_FILE);
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return json_pack("{s:{}}", "functions");
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* Bounded: the state file is small; a huge one is not ours. */
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)STATE_MAX) {
		fclose(f);
		snprintf(err, errlen, "%s: larger than %u bytes", path, STATE_MAX);
		return NULL;
	}
	rewind(f);
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return NULL;
	}
	fns = json_object_get(root, "functions");
	if (!json_is_object(fns)) {
		json_decref(root);
		snprintf(err, errlen, "%s: \"functions\" must be an object", path);
		return NULL;
	}
	return root;
}

static int privacy_parse(json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return 0;
	if (strcmp(s, "private") == 0)
		return PRIVACY_PRIVATE;
	if (strcmp(s, "public") == 0)
		return PRIVACY_PUBLIC;
	return 0;
}

int state_apply(struct conf *c)
{
	char err[512];
	const char *id;
	json_t *root, *v;

	if (c == NULL || c->state_dir == NULL)
		return 0;
	root = state_load(c->state_dir, err, sizeof(err));
	if (root == NULL) {
		log_msg(LOG_LVL_ERROR, "state: %s (function privacy from the configuration applies)",
			err);
		return -1;
	}
	/* The file's value wherever no override is stored: applying twice (fleet mode, once the
	 * store's overrides have replaced the local ones) leaves no override that is gone. */
	for (size_t i = 0; i < c->nfunctions; i++)
		atomic_store(&c->functions[i]->privacy, c->functions[i]->privacy_configured);
	json_object_foreach(json_object_get(root, "functions"), id, v) {
		struct conf_function *fn = conf_find_function(c, id);
		int p = privacy_parse(v);

		if (p == 0) {
			log_msg(LOG_LVL_WARN, "state: function %s: bad privacy value ignored", id);
			continue;
		}
		if (fn == NULL)
			continue;   /* kept: the function may come back in a later configuration */
		/* The stored value wins over the file silently otherwise: an operator who edits the
		 * file's privacy and reloads must learn why it did not take effect. */
		if (p != fn->privacy_configured)
			log_msg(LOG_LVL_WARN, "state: function %s is %s as set through the admin API "
				"(%s/%s), not %s as the configuration says; `fngate function "
				"reset-privacy %s` returns it to the configuration's value", id,
				p == PRIVACY_PUBLIC ? "public" : "private", c->state_dir, STATE_FILE,
				fn->privacy_configured == PRIVACY_PUBLIC ? "public" : "private", id);
		atomic_store(&fn->privacy, p);
	}
	json_decref(root);
	return 0;
}

/* Set fns[function_id] to p, or forget it when p is 0. 0, or -1 with err. */
static int state_put(json_t *fns, const char *function_id, int p, char *err, size_t errlen)
{
	if (p == 0)
		json_object_del(fns, function_id);   /* absent already: nothing to forget */
	else if (json_object_set_new(fns, function_id,
				     json_string(p == PRIVACY_PUBLIC ? "public" : "private")) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Replace the state file with root ({"functions": ...}) atomically. 0, or -1 with err. */
static int state_write(const char *state_dir, json_t *root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc = -1;

	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, STATE_FILE);
	if (journal_write_atomic(path, text, strlen(text), 0600) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(text);
	return rc;
}

/* Store p for function_id, or forget function_id's entry when p is 0; the file is replaced
 * atomically. 0, or -1 with err. */
static int state_store(const char *state_dir, const char *function_id, int p,
		       char *err, size_t errlen)
{
	json_t *root = state_load(state_dir, err, errlen);
	int rc = -1;

	if (root == NULL)
		return -1;
	if (state_put(json_object_get(root, "functions"), function_id, p, err, errlen) == 0)
		rc = state_write(state_dir, root, err, errlen);
	json_decref(root);
	return rc;
}

int state_replace_privacy(const char *state_dir, const char *const *ids, const enum privacy *ps,
			  size_t n, char *err, size_t errlen)
{
	json_t *root = json_pack("{s:{}}", "functions");
	int rc = -1;

	if (root == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (state_put(json_object_get(root, "functions"), ids[i], (int)ps[i], err,
			      errlen) != 0)
			goto cleanup;
	rc = state_write(state_dir, root, err, errlen);
cleanup:
	json_decref(root);
	return rc;
}

int state_each_privacy(const char *state_dir, state_privacy_cb cb, void *arg, char *err,
		       size_t errlen)
{
	const char *id;
	json_t *root = state_load(state_dir, err, errlen), *v;
	int rc = 0;

	if (root == NULL)
		return -1;
	json_object_foreach(json_object_get(root, "functions"), id, v) {
		int p = privacy_parse(v);

		if (p == 0)
			continue;   /* ignored at start as well (state_apply warns) */
		if (cb(id, (enum privacy)p, arg) != 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
	}
	json_decref(root);
	return rc;
}

int state_set_privacy(const char *state_dir, const char *function_id, enum privacy p,
		      char *err, size_t errlen)
{
	return state_store(state_dir, function_id, p, err, errlen);
}

int state_reset_privacy(const char *state_dir, const char *function_id, char *err, size_t errlen)
{
	return state_store(state_dir, function_id, 0, err, errlen);
}

/* nftw has no callback argument: the count of the walk in progress (main thread, at start). */
static int tighten_count;

static int tighten_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct stat st;
	int fd;

	(void)ftw;
	if ((type != FTW_F && type != FTW_D) || (sb->st_mode & 077) == 0)
		return 0;
	/* Through a descriptor opened without following a link: what is changed is what was
	 * checked, even if the entry was swapped meanwhile. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		  (type == FTW_D ? O_DIRECTORY : 0));
	if (fd != -1 && fstat(fd, &st) == -1) {
		close(fd);
		fd = -1;
	}
	if (fd != -1 && (st.st_mode & 077) == 0) {
		close(fd);   /* swapped for a tight one meanwhile */
		return 0;
	}
	if (fd == -1 || fchmod(fd, st.st_mode & 0700) == -1) {
		log_msg(LOG_LVL_WARN, "state_dir: %s is mode %04o (open to its group or others) and "
			"cannot be tightened: %s", path, (unsigned)(sb->st_mode & 07777),
			strerror(errno));
	} else {
		log_msg(LOG_LVL_WARN, "state_dir: %s was mode %04o (open to its group or others); "
			"set to %04o", path, (unsigned)(st.st_mode & 07777),
			(unsigned)(st.st_mode & 0700));
		tighten_count++;
	}
	if (fd != -1)
		close(fd);
	return 0;
}

int state_tighten(const char *state_dir)
{
	tighten_count = 0;
	if (nftw(state_dir, tighten_cb, 16, FTW_PHYS | FTW_MOUNT) != 0) {
		if (errno == ENOENT)
			return 0;
		log_msg(LOG_LVL_ERROR, "state_dir %s: %s", state_dir, strerror(errno));
		return -1;
	}
	return tighten_count;
}
