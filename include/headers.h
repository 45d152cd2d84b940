/* headers.h - HTTP header rules shared by the request and the response side, and the header field
 * of a collected head (struct header) both sides locate their fields with. */
#ifndef FNGATE_HEADERS_H
#define FNGATE_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One header field of a collected head, as offsets into the buffer that holds its text (a
 * request's buf, an upstream response's hdrbuf). */
struct header {
	uint32_t name_off;
	uint32_t name_len;
	uint32_t val_off;
	uint32_t val_len;
};

/* A field that never crosses fngate as received, in either direction: hop-by-hop fields
 * (RFC 9110 7.6.1: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*)
 * and Content-Length, since fngate frames every message it forwards itself. */
bool headers_hop_by_hop(const char *name, size_t len);

/* A field that may not travel in trailers (RFC 9110 6.5.1): the hop-by-hop ones above
 * (framing, connection) and Host (routing). Relayed trailers leave them out. */
bool headers_trailer_forbidden(const char *name, size_t len);

/* Whether the comma-separated token list v (a Connection value, say) holds tok, compared
 * case-insensitively; whitespace and empty elements are skipped. Unbounded list length. */
bool headers_list_has(const char *v, size_t vl, const char *tok, size_t toklen);

/* Whether a Connection field among the n fields hdr (offsets into buf) lists the field name
 * name[0..len): such a field is hop-by-hop too (RFC 9110 7.6.1). Callers ask only when the head
 * has a Connection field, so a head without one costs no scan. */
bool headers_connection_lists(const char *buf, const struct header *hdr, unsigned n,
			      const char *name, size_t len);

/* Names longer than this cannot be an alias of a field fngate treats specially. */
#define HEADERS_ALIAS_MAX 64

/* A name with '_' in it: what CGI-style runtimes (CGI, WSGI, PHP-FPM, serverless adapters)
 * make of it, '-' and '_' being one variable to them. Writes the name with every '_' read as
 * '-' into out (HEADERS_ALIAS_MAX bytes) and returns true; false when the name has no '_' or is
 * too long to alias anything (out is then untouched). */
bool headers_underscore_alias(const char *name, size_t len, char out[HEADERS_ALIAS_MAX]);

#endif
