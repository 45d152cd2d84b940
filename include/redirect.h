/* redirect.h - Location, Content-Location and Refresh fields of an upstream response, rewritten
 * into the public path space of a function whose paths differ upstream (a stripped path_prefix,
 * an upstream base path), as nginx's default proxy_redirect does. */
#ifndef FNGATE_REDIRECT_H
#define FNGATE_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

struct conf_function;
struct conf_upstream;

enum redirect_field {
	REDIRECT_NONE = 0,
	REDIRECT_URL,           /* Location, Content-Location: the whole value is a URL */
	REDIRECT_REFRESH,       /* Refresh: "5; url=..." */
};

/* Which kind of field `name` is (case-insensitive); REDIRECT_NONE for every other field. */
enum redirect_field redirect_field(const char *name, size_t len);

/* Whether a path seen by ep differs from the one the caller used for fn: false when nothing is
 * stripped and ep has no base path, and then no field needs rewriting. */
bool redirect_needed(const struct conf_function *fn, const struct conf_upstream *ep);

/* The longest a rewritten value of vl bytes can be, for fn (out's size for redirect_rewrite). */
size_t redirect_max_len(const struct conf_function *fn, size_t vl);

/* Rewrite the value v (vl bytes) of a field of kind `kind` sent by ep for fn. A URL that starts
 * with ep's own URL (scheme://host:port + base path, as fngate sent them upstream in Host), or a
 * root-relative one ("/...") that starts with ep's base path, has that part replaced by fn's
 * public prefix; the result is root-relative. Relative URLs, other hosts and other paths stay.
 * Writes the new value to out (at least redirect_max_len bytes) and returns its length, or -1
 * when the value stays as it is. */
long redirect_rewrite(const struct conf_function *fn, const struct conf_upstream *ep,
		      enum redirect_field kind, const char *v, size_t vl, char *out);

#endif
