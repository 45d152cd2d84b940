/* b64url.h - strict base64url without padding (RFC 7515 section 2, RFC 4648 section 5). */
#ifndef FNGATE_B64URL_H
#define FNGATE_B64URL_H

#include <stddef.h>

/* Bytes needed to decode `len` characters (an upper bound). */
#define B64URL_DECODED_MAX(len) (((len) / 4) * 3 + 3)
/* Characters produced by encoding `len` bytes (no padding), without the NUL. */
#define B64URL_ENCODED_LEN(len) (((len) * 4 + 2) / 3)

/* Decode `len` characters of strict base64url: alphabet A-Z a-z 0-9 - _ only, no '=' padding,
 * no whitespace, a length of 1 mod 4 refused, non-zero trailing bits refused (canonical form only).
 * Writes at most outcap bytes. Returns the number of bytes written, or -1 on any violation. */
long b64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/* Encode `len` bytes without padding into out (capacity outcap, NUL-terminated).
 * Returns the number of characters (excluding NUL), or -1 if out is too small. */
long b64url_encode(const unsigned char *in, size_t len, char *out, size_t outcap);

#endif
