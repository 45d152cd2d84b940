/* privdrop.c - leaving root after binding: hand state_dir and the access log to the configured
 * user, then setgroups/setresgid/setresuid before the workers start. */
#include "privdrop.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

/* nftw has no callback argument: the owner being given, set before the walk (main thread,
 * before any worker exists). */
static uid_t privdrop_uid;
static gid_t privdrop_gid;
static int privdrop_errno;

static int give_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (st->st_uid == privdrop_uid && st->st_gid == privdrop_gid)
		return 0;
	if (lchown(path, privdrop_uid, privdrop_gid) == -1) {
		privdrop_errno = errno;
		return 1;   /* stop the walk */
	}
	return 0;
}

/* Give the tree at dir to uid:gid: no symlink followed (FTW_PHYS), no other file system
 * entered (FTW_MOUNT). The root directory itself is refused: a state_dir of "/" is a mistake. */
static int give_tree(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (strcmp(dir, "/") == 0) {
		snprintf(err, errlen, "state_dir \"/\" cannot be given to a user");
		return -1;
	}
	privdrop_uid = uid;
	privdrop_gid = gid;
	privdrop_errno = 0;
	if (nftw(dir, give_cb, 16, FTW_PHYS | FTW_MOUNT) != 0) {
		snprintf(err, errlen, "state_dir %s: cannot give it to uid %u: %s", dir, (unsigned)uid,
			 strerror(privdrop_errno ? privdrop_errno : errno));
		return -1;
	}
	return 0;
}

int privdrop_apply(const struct conf *c, char *err, size_t errlen)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (geteuid() != 0) {
		if (c->user != NULL && geteuid() != c->uid)
			log_msg(LOG_LVL_WARN, "\"user\": \"%s\" ignored: not started as root (running as "
				"uid %u)", c->user, (unsigned)geteuid());
		return 0;
	}
	if (c->user == NULL) {
		log_msg(LOG_LVL_WARN, "running as root: set \"user\" in the configuration so that "
			"requests are not served by root");
		return 0;
	}
	if (c->uid == 0) {
		log_msg(LOG_LVL_WARN, "\"user\": \"%s\" is root: privileges are not dropped", c->user);
		return 0;
	}
	if (give_tree(c->state_dir, c->uid, c->gid, err, errlen) != 0)
		return -1;
	if (c->access_log != NULL && c->access_log[0] == '/' &&
	    lchown(c->access_log, c->uid, c->gid) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "access log %s: cannot give it to %s: %s", c->access_log,
			 c->user, strerror(errno));
		return -1;
	}
	/* Groups first: once the uid is not root, they can no longer be changed. */
	if (setgroups(1, &c->gid) == -1 || setresgid(c->gid, c->gid, c->gid) == -1 ||
	    setresuid(c->uid, c->uid, c->uid) == -1) {
		snprintf(err, errlen, "cannot become %s (uid %u, gid %u): %s", c->user,
			 (unsigned)c->uid, (unsigned)c->gid, strerror(errno));
		return -1;
	}
	/* Check, as OpenSSH does, that every id changed and that root cannot be regained. */
	if (getresuid(&ruid, &euid, &suid) == -1 || getresgid(&rgid, &egid, &sgid) == -1 ||
	    ruid != c->uid || euid != c->uid || suid != c->uid || rgid != c->gid ||
	    egid != c->gid || sgid != c->gid || setuid(0) != -1) {
		snprintf(err, errlen, "privilege drop to %s did not take effect", c->user);
		return -1;
	}
	log_msg(LOG_LVL_INFO, "running as %s (uid %u, gid %u)", c->user, (unsigned)c->uid,
		(unsigned)c->gid);
	return 0;
}
