/* headers.c - HTTP header rules shared by both directions: hop-by-hop fields, token lists and the
 * '_' alias of a name. */
#include "headers.h"

#include <string.h>
#include <strings.h>

#include "util.h"

bool headers_hop_by_hop(const char *n, size_t len)
{
	bool hop = false;

	switch (len) {
	case 2:
		hop = util_ieq(n, len, "te");
		break;
	case 7:
		hop = util_ieq(n, len, "trailer") || util_ieq(n, len, "upgrade");
		break;
	case 10:
		hop = util_ieq(n, len, "connection") || util_ieq(n, len, "keep-alive");
		break;
	case 14:
		hop = util_ieq(n, len, "content-length");
		break;
	case 17:
		hop = util_ieq(n, len, "transfer-encoding");
		break;
	default:
		break;
	}
	return hop || (len >= 6 && util_ieq(n, 6, "proxy-"));
}

bool headers_trailer_forbidden(const char *n, size_t len)
{
	return headers_hop_by_hop(n, len) || (len == 4 && util_ieq(n, len, "host"));
}

bool headers_list_has(const char *v, size_t vl, const char *tok, size_t toklen)
{
	size_t p = 0;

	while (p < vl) {
		size_t s;

		while (p < vl && (v[p] == ' ' || v[p] == '\t' || v[p] == ','))
			p++;
		s = p;
		while (p < vl && v[p] != ',' && v[p] != ' ' && v[p] != '\t')
			p++;
		if (p - s == toklen && toklen > 0 && strncasecmp(v + s, tok, toklen) == 0)
			return true;
	}
	return false;
}

bool headers_connection_lists(const char *buf, const struct header *hdr, unsigned n,
			      const char *name, size_t len)
{
	for (unsigned i = 0; i < n; i++) {
		if (hdr[i].name_len == 10 && util_ieq(buf + hdr[i].name_off, 10, "connection") &&
		    headers_list_has(buf + hdr[i].val_off, hdr[i].val_len, name, len))
			return true;
	}
	return false;
}

bool headers_underscore_alias(const char *n, size_t len, char out[HEADERS_ALIAS_MAX])
{
	if (len > HEADERS_ALIAS_MAX || memchr(n, '_', len) == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		out[i] = n[i] == '_' ? '-' : n[i];
	return true;
}
