/* route.h - which function a request is for: by Host and by path prefix. */
#ifndef FNGATE_ROUTE_H
#define FNGATE_ROUTE_H

#include <stddef.h>

struct conf;
struct conf_function;
struct route_table;

/* Build the routing index of a configuration (called by conf_load). Routes claimed twice (the same
 * host and prefix for two functions) are reported through conf's error list by conf.c before this
 * is called. Returns NULL on allocation failure. */
struct route_table *route_build(struct conf *c);
void route_free(struct route_table *rt);

/* The function for a request. `host` is the Host header without port, lowercased by the caller
 * (len may be 0 when absent); `path` is the request target's path (no query). Exact host names
 * win over wildcards ("*.example.com" matches "a.example.com", not "example.com"), wildcards over
 * functions without hosts; within those, the longest path prefix wins. A prefix "/a/b" matches
 * "/a/b", "/a/b/..." but not "/a/bc". Returns NULL when nothing matches (-> 404). */
const struct conf_function *route_match(const struct route_table *rt, const char *host, size_t hostlen,
					const char *path, size_t pathlen);

#endif
