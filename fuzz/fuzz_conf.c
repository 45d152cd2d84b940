/* fuzz_conf.c - libFuzzer target: the configuration loader. The input is a configuration text
 * given to conf_load_string (anchored in fuzz/, so "keys/demo.pub.pem" names the fuzz key pair of fuzz/keys/); a valid
 * one is then routed against and released, an invalid one has its errors printed (jsonpos).
 * Upstream names are resolved numerically only: a fuzzer must not send DNS queries. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "route.h"

#ifndef FNGATE_FUZZ_SOURCE_DIR
#define FNGATE_FUZZ_SOURCE_DIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res);

/* Interposed on the C library's: numeric hosts only (and "localhost" from /etc/hosts would be
 * as good as a DNS query for the loader's logic, so it is not special-cased). */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h;

	if (real == NULL) {
		*(void **)(&real) = dlsym(RTLD_NEXT, "getaddrinfo");
		if (real == NULL)
			abort();
	}
	if (hints != NULL)
		h = *hints;
	else
		memset(&h, 0, sizeof(h));
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

static FILE *devnull;
static char anchor[1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = {0};
	struct conf *c;

	if (devnull == NULL) {
		const char *src = getenv("FNGATE_SOURCE_DIR");

		if (src == NULL || *src == '\0')
			src = FNGATE_FUZZ_SOURCE_DIR;
		snprintf(anchor, sizeof(anchor), "%s/fuzz/fuzz.json", src);
		log_set_level(LOG_LVL_ERROR);
		devnull = fopen("/dev/null", "w");
		if (devnull == NULL)
			abort();
	}
	c = conf_load_string((const char *)data, size, anchor, &errs);
	if (c == NULL) {
		if (errs.n == 0)
			abort();    /* the contract: NULL only with at least one error */
		conf_errors_print(&errs, devnull);
		conf_errors_free(&errs);
		return 0;
	}
	if (errs.n != 0)
		abort();
	(void)route_match(c->routes, "example.com", 11, "/a/b", 4);
	(void)route_match(c->routes, NULL, 0, "/", 1);
	for (size_t i = 0; i < c->nfunctions; i++) {
		const struct conf_function *fn = c->functions[i];

		if (fn->path_prefix != NULL)
			(void)route_match(c->routes, fn->nhosts ? fn->hosts[0] : NULL,
					  fn->nhosts ? strlen(fn->hosts[0]) : 0, fn->path_prefix,
					  fn->path_prefix_len);
	}
	conf_unref(c);
	return 0;
}
