/* headers.h - HTTP header rules shared by the request and the response side. */
#ifndef FNGATE_HEADERS_H
#define FNGATE_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

/* A field that never crosses fngate as received, in either direction: hop-by-hop fields
 * (RFC 9110 7.6.1: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*)
 * and Content-Length, since fngate frames every message it forwards itself. */
bool headers_hop_by_hop(const char *name, size_t len);

/* Whether the comma-separated token list v (a Connection value, say) holds tok, compared
 * case-insensitively; whitespace and empty elements are skipped. Unbounded list length. */
bool headers_list_has(const char *v, size_t vl, const char *tok, size_t toklen);

/* Names longer than this cannot be an alias of a field fngate treats specially. */
#define HEADERS_ALIAS_MAX 64

/* A name with '_' in it: what CGI-style runtimes (CGI, WSGI, PHP-FPM, serverless adapters)
 * make of it, '-' and '_' being one variable to them. Writes the name with every '_' read as
 * '-' into out (HEADERS_ALIAS_MAX bytes) and returns true; false when the name has no '_' or is
 * too long to alias anything (out is then untouched). */
bool headers_underscore_alias(const char *name, size_t len, char out[HEADERS_ALIAS_MAX]);

#endif
