/* fuzz_response.c - libFuzzer target: the upstream-response reader (response.c). A client sends
 * one well-formed request through the real connection code; the in-process upstream answers with
 * the input bytes. The first input byte chooses the request (GET or HEAD, HTTP/1.1 or 1.0,
 * keep-alive or a second pipelined request) and whether the upstream closes after answering; the
 * rest, split at "\n--MARK--\n", is written in separate pieces. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_net.h"

#define CHUNKS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const requests[8] = {
	"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /x HTTP/1.0\r\n\r\n",
	"HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /keep/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_session *s;
	const uint8_t *chunks[CHUNKS_MAX];
	size_t lens[CHUNKS_MAX], n = 0;
	const uint8_t *p, *end;
	const char *req;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	p = data + 1;
	end = data + size;
	while (p < end && n < CHUNKS_MAX) {
		const uint8_t *m = memmem(p, (size_t)(end - p), FUZZ_MARK, FUZZ_MARK_LEN);
		const uint8_t *stop = m != NULL && n + 1 < CHUNKS_MAX ? m : end;

		chunks[n] = p;
		lens[n] = (size_t)(stop - p);
		n++;
		p = stop == end ? end : stop + FUZZ_MARK_LEN;
	}
	fuzz_net_init();
	s = fuzz_session_new(FUZZ_UP_SCRIPT, false);
	fuzz_session_script(s, chunks, lens, n, (sel & 0x08) != 0);
	req = requests[sel & 0x07];
	fuzz_session_write(s, (const uint8_t *)req, strlen(req));
	if (sel & 0x10)
		fuzz_session_client_eof(s);
	fuzz_session_end(s);
	return 0;
}
