/* fuzz_h2.c - libFuzzer target: the HTTP/2 front end (h2.c). The input is what a client sends
 * after the h2c preface (which this target writes first), in separate writes where
 * "\n--MARK--\n" stands: frames of any kind and order, through nghttp2, the streams' exchanges,
 * routing, the gate, forwarding to an in-process upstream and the responses, as in the server. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct fuzz_session *s;
	const uint8_t *p = data, *end = data + size;

	fuzz_net_init();
	s = fuzz_session_new(FUZZ_UP_CANNED, true);
	fuzz_session_write(s, (const uint8_t *)preface, sizeof(preface) - 1);
	while (p < end) {
		const uint8_t *m = memmem(p, (size_t)(end - p), FUZZ_MARK, FUZZ_MARK_LEN);
		const uint8_t *stop = m != NULL ? m : end;

		if (stop > p)
			fuzz_session_write(s, p, (size_t)(stop - p));
		p = m != NULL ? m + FUZZ_MARK_LEN : end;
	}
	fuzz_session_client_eof(s);
	fuzz_session_end(s);
	return 0;
}
