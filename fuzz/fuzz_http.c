/* fuzz_http.c - libFuzzer target: the HTTP/1.1 request front end. The input is what a client
 * sends, in separate writes where the h2o corpus puts "\n--MARK--\n"; it goes through
 * conn_accept, request framing, routing, the gate, forwarding and the response path exactly as
 * in the server, with an in-process upstream answering every request head. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_session *s;
	const uint8_t *p = data, *end = data + size;

	fuzz_net_init();
	s = fuzz_session_new(FUZZ_UP_CANNED, false);
	while (p < end) {
		const uint8_t *m = memmem(p, (size_t)(end - p), FUZZ_MARK, FUZZ_MARK_LEN);
		const uint8_t *stop = m != NULL ? m : end;

		if (stop > p)
			fuzz_session_write(s, p, (size_t)(stop - p));
		p = m != NULL ? m + FUZZ_MARK_LEN : end;
	}
	/* Responses to whatever was complete have been read; now the client goes away. */
	fuzz_session_client_eof(s);
	fuzz_session_end(s);
	return 0;
}
