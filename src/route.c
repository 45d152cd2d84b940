/* route.c - host / path prefix -> function: hash lookups only, no allocation per request.
 *
 * Two open-addressing tables built once per configuration:
 *  - hosts: an exact name ("a.example.com") or a wildcard suffix (".example.com" for
 *    "*.example.com") -> a group number; group 0 holds the functions without hosts;
 *  - routes: (group, prefix) -> function; the prefix "/" (or none) is stored as "".
 * A request tries its exact host group, then its wildcard groups from the longest suffix, then
 * group 0; within a group, the path's own prefixes at '/' boundaries from the longest. Each try
 * is one hash probe, so the cost depends on the request, not on the number of functions. */
#include "route.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

/* Longest path_prefix conf.c accepts; a request path is only scanned this far. */
#define ROUTE_PREFIX_MAX 512
#define ROUTE_HOST_MAX   253

struct route_host {
	const char *name;       /* NULL: empty slot */
	uint32_t    len;
	uint32_t    hash;
	uint32_t    group;
	bool        wild;       /* name is a suffix ".example.com" */
};

struct route_entry {
	const struct conf_function *fn;     /* NULL: empty slot */
	const char *prefix;     /* "" for "/" and for no prefix */
	uint32_t    len;
	uint32_t    hash;       /* of prefix, before mixing in the group */
	uint32_t    group;
};

struct route_table {
	struct route_host  *hosts;
	size_t              hmask;
	struct route_entry *routes;
	size_t              rmask;
	uint32_t           *group_max;      /* longest prefix in each group (UINT32_MAX: empty) */
	uint32_t            ngroups;
	uint32_t            max_prefix;     /* longest prefix over all groups */
	size_t              nwild;
};

/* murmur3's finalizer: FNV's low bits alone are weak for a power-of-two table */
static inline uint32_t route_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static size_t route_pow2(size_t n)
{
	size_t s = 8;

	while (s < n * 2)
		s <<= 1;
	return s;
}

static const struct route_host *route_host_find(const struct route_table *rt, const char *name,
						size_t len, bool wild)
{
	uint32_t h = util_fnv32(UTIL_FNV32_INIT, name, len) ^ (wild ? 0x5bd1e995u : 0);
	size_t i = route_mix(h) & rt->hmask;

	for (; rt->hosts[i].name != NULL; i = (i + 1) & rt->hmask) {
		const struct route_host *e = &rt->hosts[i];

		if (e->hash == h && e->len == len && e->wild == wild && memcmp(e->name, name, len) == 0)
			return e;
	}
	return NULL;
}

static uint32_t route_host_group(struct route_table *rt, const char *name, size_t len, bool wild)
{
	uint32_t h = util_fnv32(UTIL_FNV32_INIT, name, len) ^ (wild ? 0x5bd1e995u : 0);
	size_t i = route_mix(h) & rt->hmask;

	for (; rt->hosts[i].name != NULL; i = (i + 1) & rt->hmask) {
		const struct route_host *e = &rt->hosts[i];

		if (e->hash == h && e->len == len && e->wild == wild && memcmp(e->name, name, len) == 0)
			return e->group;
	}
	rt->hosts[i].name = name;
	rt->hosts[i].len = (uint32_t)len;
	rt->hosts[i].hash = h;
	rt->hosts[i].wild = wild;
	rt->hosts[i].group = rt->ngroups++;
	if (wild)
		rt->nwild++;
	return rt->hosts[i].group;
}

static inline size_t route_slot(const struct route_table *rt, uint32_t prefix_hash, uint32_t group)
{
	return route_mix(prefix_hash ^ (group * 0x9e3779b1u)) & rt->rmask;
}

static void route_insert(struct route_table *rt, uint32_t group, const struct conf_function *fn)
{
	const char *p = fn->path_prefix != NULL ? fn->path_prefix : "";
	size_t len = fn->path_prefix != NULL ? fn->path_prefix_len : 0;
	uint32_t h;
	size_t i;

	if (len == 1 && p[0] == '/')
		len = 0;        /* "/" matches every path, exactly as no prefix */
	h = util_fnv32(UTIL_FNV32_INIT, p, len);
	for (i = route_slot(rt, h, group); rt->routes[i].fn != NULL; i = (i + 1) & rt->rmask) {
		const struct route_entry *e = &rt->routes[i];

		/* conf.c refuses routes claimed twice; the first declared keeps it regardless */
		if (e->group == group && e->len == len && memcmp(e->prefix, p, len) == 0)
			return;
	}
	rt->routes[i].fn = fn;
	rt->routes[i].prefix = p;
	rt->routes[i].len = (uint32_t)len;
	rt->routes[i].hash = h;
	rt->routes[i].group = group;
	if (rt->group_max[group] == UINT32_MAX || rt->group_max[group] < len)
		rt->group_max[group] = (uint32_t)len;
	if (len > rt->max_prefix)
		rt->max_prefix = (uint32_t)len;
}

struct route_table *route_build(struct conf *c)
{
	struct route_table *rt;
	size_t i, k, nhosts = 0, nroutes = 0;

	rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		return NULL;
	for (i = 0; i < c->nfunctions; i++) {
		nhosts += c->functions[i]->nhosts;
		nroutes += c->functions[i]->nhosts > 0 ? c->functions[i]->nhosts : 1;
	}
	rt->hmask = route_pow2(nhosts) - 1;
	rt->rmask = route_pow2(nroutes) - 1;
	rt->hosts = calloc(rt->hmask + 1, sizeof(*rt->hosts));
	rt->routes = calloc(rt->rmask + 1, sizeof(*rt->routes));
	rt->group_max = malloc((nhosts + 1) * sizeof(*rt->group_max));
	if (rt->hosts == NULL || rt->routes == NULL || rt->group_max == NULL)
		goto fail;
	for (i = 0; i < nhosts + 1; i++)
		rt->group_max[i] = UINT32_MAX;
	rt->ngroups = 1;        /* group 0: functions without hosts */

	for (i = 0; i < c->nfunctions; i++) {
		const struct conf_function *fn = c->functions[i];

		if (fn->nhosts == 0)
			route_insert(rt, 0, fn);
		for (k = 0; k < fn->nhosts; k++) {
			const char *h = fn->hosts[k];
			bool wild = h[0] == '*';
			const char *name = wild ? h + 1 : h;       /* "*.a.b" -> ".a.b" */

			route_insert(rt, route_host_group(rt, name, strlen(name), wild), fn);
		}
	}
	return rt;
fail:
	route_free(rt);
	return NULL;
}

void route_free(struct route_table *rt)
{
	if (rt == NULL)
		return;
	free(rt->hosts);
	free(rt->routes);
	free(rt->group_max);
	free(rt);
}

/* The candidates of one request: the path's prefixes ending at a '/' boundary (or the whole
 * path), with their hashes, computed in one pass. */
struct route_cands {
	uint16_t len[ROUTE_PREFIX_MAX + 1];
	uint32_t hash[ROUTE_PREFIX_MAX + 1];
	size_t   n;
};

static const struct conf_function *route_in_group(const struct route_table *rt, uint32_t group,
						  const struct route_cands *cd, const char *path)
{
	uint32_t max = rt->group_max[group];
	size_t c;

	if (max == UINT32_MAX)
		return NULL;
	for (c = cd->n; c-- > 0;) {
		uint32_t len = cd->len[c];
		size_t i;

		if (len > max)
			continue;
		for (i = route_slot(rt, cd->hash[c], group); rt->routes[i].fn != NULL; i = (i + 1) & rt->rmask) {
			const struct route_entry *e = &rt->routes[i];

			if (e->hash == cd->hash[c] && e->group == group && e->len == len &&
			    memcmp(e->prefix, path, len) == 0)
				return e->fn;
		}
	}
	return NULL;
}

const struct conf_function *route_match(const struct route_table *rt, const char *host, size_t hostlen,
					const char *path, size_t pathlen)
{
	struct route_cands cd;
	const struct route_host *hg;
	const struct conf_function *fn;
	size_t i, lim;
	uint32_t h = UTIL_FNV32_INIT;

	if (rt == NULL)
		return NULL;
	if (path == NULL) {
		path = "";     /* memcmp below is never handed NULL, even for 0 bytes */
		pathlen = 0;
	}
	/* candidates, shortest first: "" (matches all), then each "/a", "/a/b" ... */
	cd.n = 0;
	lim = pathlen < rt->max_prefix ? pathlen : rt->max_prefix;
	for (i = 0; i <= lim; i++) {
		if (i == 0 || i == pathlen || path[i] == '/') {
			cd.len[cd.n] = (uint16_t)i;
			cd.hash[cd.n] = h;
			cd.n++;
		}
		if (i < lim)
			h = util_fnv32(h, path + i, 1);
	}

	if (host != NULL && hostlen > 0 && host[hostlen - 1] == '.')
		hostlen--;      /* "example.com." is the same name */
	if (host != NULL && hostlen > 0 && hostlen <= ROUTE_HOST_MAX) {
		hg = route_host_find(rt, host, hostlen, false);
		if (hg != NULL && (fn = route_in_group(rt, hg->group, &cd, path)) != NULL)
			return fn;
		/* wildcards, longest suffix first; "*.a.b" needs at least one label before ".a.b" */
		for (i = 1; rt->nwild > 0 && i < hostlen; i++) {
			if (host[i] != '.')
				continue;
			hg = route_host_find(rt, host + i, hostlen - i, true);
			if (hg != NULL && (fn = route_in_group(rt, hg->group, &cd, path)) != NULL)
				return fn;
		}
	}
	return route_in_group(rt, 0, &cd, path);
}
