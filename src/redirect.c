/* redirect.c - a redirect that escapes a stripped prefix (Location: /api/ for a function served
 * at /shop/catalog/) brought back into the function's public path space (redirect.h). */
#include "redirect.h"

#include <string.h>
#include <strings.h>

#include "conf.h"
#include "util.h"

enum redirect_field redirect_field(const char *name, size_t len)
{
	if (util_ieq(name, len, "location") || util_ieq(name, len, "content-location"))
		return REDIRECT_URL;
	if (util_ieq(name, len, "refresh"))
		return REDIRECT_REFRESH;
	return REDIRECT_NONE;
}

/* The public prefix: what the caller's path has in front of what ep sees after its base path. */
static const char *public_prefix(const struct conf_function *fn)
{
	return fn->strip_prefix && fn->path_prefix != NULL && fn->path_prefix_len > 1 ?
	       fn->path_prefix : "";
}

bool redirect_needed(const struct conf_function *fn, const struct conf_upstream *ep)
{
	return strcmp(public_prefix(fn), ep->base_path) != 0;
}

size_t redirect_max_len(const struct conf_function *fn, size_t vl)
{
	/* public prefix + '/' + the value's own bytes, which the rewrite never lengthens */
	return strlen(public_prefix(fn)) + 1 + vl;
}

/* Whether the authority a (al bytes) names ep: its host:port as sent in Host, or its host alone
 * when the port is the scheme's default. Host names compare case-insensitively. */
static bool authority_is(const struct conf_upstream *ep, const char *a, size_t al)
{
	size_t hl = strlen(ep->hostport);
	const char *colon = strrchr(ep->hostport, ':');

	if (al == hl && strncasecmp(a, ep->hostport, al) == 0)
		return true;
	if (colon == NULL || ep->port != (ep->tls ? 443 : 80))
		return false;
	hl = (size_t)(colon - ep->hostport);
	return al == hl && strncasecmp(a, ep->hostport, al) == 0;
}

/* The URL u (ul bytes) rewritten into out, or -1 when it stays. */
static long rewrite_url(const struct conf_function *fn, const struct conf_upstream *ep,
			const char *u, size_t ul, char *out)
{
	const char *pub = public_prefix(fn), *p, *rest;
	size_t pl, bl = strlen(ep->base_path), publ = strlen(pub), restl, at = 0;

	if (ul >= 8 && strncasecmp(u, "https://", 8) == 0 && ep->tls) {
		p = u + 8;
	} else if (ul >= 7 && strncasecmp(u, "http://", 7) == 0 && !ep->tls) {
		p = u + 7;
	} else if (ul >= 1 && u[0] == '/' && (ul == 1 || u[1] != '/')) {
		p = NULL;       /* root-relative: the path is the whole value */
	} else {
		return -1;      /* relative, scheme-relative, another scheme: resolved by the client */
	}
	if (p != NULL) {
		const char *end = p;

		while (end < u + ul && *end != '/' && *end != '?' && *end != '#')
			end++;
		if (!authority_is(ep, p, (size_t)(end - p)))
			return -1;
		p = end;
	} else {
		p = u;
	}
	pl = (size_t)(u + ul - p);
	/* The base path, whole: "/base" opens "/base", "/base/x", "/base?q", not "/basement". */
	if (pl < bl || memcmp(p, ep->base_path, bl) != 0 ||
	    (pl > bl && p[bl] != '/' && p[bl] != '?' && p[bl] != '#'))
		return -1;
	rest = p + bl;
	restl = pl - bl;
	memcpy(out, pub, publ);
	at = publ;
	if (publ == 0 && (restl == 0 || rest[0] != '/'))
		out[at++] = '/';
	memcpy(out + at, rest, restl);
	at += restl;
	/* Unchanged text (no prefix to restore, nothing stripped) is left as it came. */
	if (at == ul && memcmp(out, u, ul) == 0)
		return -1;
	return (long)at;
}

long redirect_rewrite(const struct conf_function *fn, const struct conf_upstream *ep,
		      enum redirect_field kind, const char *v, size_t vl, char *out)
{
	size_t i = 0, head, ul;
	long n;
	char q = '\0';

	if (kind == REDIRECT_URL)
		return rewrite_url(fn, ep, v, vl, out);
	if (kind != REDIRECT_REFRESH)
		return -1;
	/* "delay" [";" OWS "url" OWS "=" OWS ["'" | '"'] url ["'" | '"']] */
	while (i < vl && v[i] != ';')
		i++;
	if (i == vl)
		return -1;
	for (i++; i < vl && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	if (vl - i < 3 || strncasecmp(v + i, "url", 3) != 0)
		return -1;
	for (i += 3; i < vl && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	if (i == vl || v[i] != '=')
		return -1;
	for (i++; i < vl && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	if (i < vl && (v[i] == '\'' || v[i] == '"'))
		q = v[i++];
	head = i;
	ul = vl - head;
	if (q != '\0' && ul > 0 && v[vl - 1] == q)
		ul--;
	memcpy(out, v, head);
	n = rewrite_url(fn, ep, v + head, ul, out + head);
	if (n < 0)
		return -1;
	memcpy(out + head + (size_t)n, v + head + ul, vl - head - ul);
	return (long)(head + (size_t)n + (vl - head - ul));
}
