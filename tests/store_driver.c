/* store_driver.c - a command-line driver of store_pg.c for the integration tests only (not
 * installed): migrate, write a burst of items, take a snapshot, or watch the change log and print
 * each change with its commit-to-callback latency.
 *
 *   store_driver migrate CONNINFO
 *   store_driver write CONNINFO COUNT TAG      COUNT transactions of one token item "TAG-i"
 *   store_driver quota CONNINFO NS MAX COUNT TAG
 *                                              the same, each record of namespace NS written
 *                                              under its quota MAX (store_quota): prints
 *                                              "written W full F"
 *   store_driver snapshot CONNINFO             "item KIND NS KEY BODY" lines, then "position N"
 *   store_driver watch CONNINFO [POSITION]     until stdin closes: "change SEQ KEY LAT_US",
 *                                              "connected", "lost", "caughtup POS" lines */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "store.h"

static int64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int print_change(const struct store_change *ch, void *arg)
{
	(void)arg;
	printf("change %" PRId64 " %s %" PRId64 "\n", ch->seq, ch->item.key, now_us() - ch->committed_us);
	fflush(stdout);
	return 0;
}

static int print_item(const struct store_change *ch, void *arg)
{
	(void)arg;
	printf("item %d %s %s %s\n", (int)ch->item.kind, ch->item.namespace_id[0] ? ch->item.namespace_id
	       : "-", ch->item.key, ch->item.body);
	return 0;
}

static void print_status(int connected, int caught_up, int64_t position, void *arg)
{
	(void)arg;
	if (caught_up)
		printf("caughtup %" PRId64 "\n", position);
	else
		printf("%s\n", connected ? "connected" : "lost");
	fflush(stdout);
}

/* stdin closed: the test is done with us. */
static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];
	(void)what;

	if (read(fd, buf, sizeof(buf)) <= 0)
		event_base_loopbreak(arg);
}

static int watch(struct store *s, int64_t position)
{
	struct store_mark from = {position, -1};
	struct event_base *base = event_base_new();
	struct event *ev;
	int rc;

	if (base == NULL)
		return 1;
	ev = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, base);
	if (ev == NULL || event_add(ev, NULL) != 0 ||
	    store_watch(s, base, &from, print_change, print_status, NULL, NULL) != 0)
		return 1;
	rc = event_base_dispatch(base);
	store_close(s);
	event_free(ev);
	event_base_free(base);
	return rc == -1;
}

int main(int argc, char **argv)
{
	char err[512];
	struct store *s;
	int rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: store_driver migrate|write|snapshot|watch CONNINFO ...\n");
		return 2;
	}
	s = store_open(argv[2], err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (strcmp(argv[1], "watch") == 0)
		return watch(s, argc > 3 ? strtoll(argv[3], NULL, 10) : 0);
	if (strcmp(argv[1], "migrate") == 0) {
		rc = store_migrate(s, err, sizeof(err)) == 0 ? 0 : 1;
	} else if (strcmp(argv[1], "write") == 0 && argc == 5) {
		long n = strtol(argv[3], NULL, 10);
		rc = 0;
		for (long i = 0; i < n && rc == 0; i++) {
			char key[128], body[160];
			struct store_item it = {STORE_KIND_TOKEN, "ns", key, body};
			snprintf(key, sizeof(key), "%s-%ld", argv[4], i);
			snprintf(body, sizeof(body), "{\"id\":\"%s\"}", key);
			rc = store_apply(s, &it, 1, NULL, NULL, err, sizeof(err)) == 0 ? 0 : 1;
		}
	} else if (strcmp(argv[1], "quota") == 0 && argc == 7) {
		struct store_quota q = {argv[3], strtoul(argv[4], NULL, 10), (int64_t)time(NULL)};
		long n = strtol(argv[5], NULL, 10), written = 0, full = 0;

		rc = 0;
		for (long i = 0; i < n && rc == 0; i++) {
			char key[128], body[256];
			struct store_item it = {STORE_KIND_TOKEN, "", key, body};
			int r;

			snprintf(key, sizeof(key), "%s-%ld", argv[6], i);
			snprintf(body, sizeof(body), "{\"id\":\"%s\",\"ns\":\"%s\",\"expires\":0}", key,
				 argv[3]);
			r = store_apply(s, &it, 1, &q, NULL, err, sizeof(err));
			if (r < 0)
				rc = 1;
			else if (r == 1)
				full++;
			else
				written++;
		}
		printf("written %ld full %ld\n", written, full);
	} else if (strcmp(argv[1], "snapshot") == 0) {
		struct store_mark at;
		rc = store_snapshot(s, print_item, NULL, &at, err, sizeof(err)) == 0 ? 0 : 1;
		if (rc == 0)
			printf("position %" PRId64 "\n", at.seq);
	} else {
		fprintf(stderr, "store_driver: bad command\n");
		store_close(s);
		return 2;
	}
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	store_close(s);
	return rc;
}
