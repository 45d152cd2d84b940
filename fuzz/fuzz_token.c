/* fuzz_token.c - libFuzzer target: the token verifier. token_verify (structure, pinned alg,
 * signature, claims), then the time and scope checks, then the whole gate (cache included), against
 * the keys of the vectors: a Scaleway namespace key, RFC 7515 A.2/A.3, Wycheproof's JWS keys and
 * the demo key. Input: one selector byte (namespace, function, clock), then the token. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "gate.h"
#include "log.h"
#include "revoke.h"
#include "tcache.h"
#include "token.h"

#ifndef FNGATE_FUZZ_SOURCE_DIR
#define FNGATE_FUZZ_SOURCE_DIR "."
#endif
#ifndef FNGATE_FUZZ_VECTORS
#define FNGATE_FUZZ_VECTORS "../shared/vectors"
#endif

#define FUNCS_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *conf;
static struct tcache *cache;
static char tmpdir[] = "/tmp/fngate-fuzz-token-XXXXXX";
static char pem_paths[3][512];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_token: %s\n", what);
	abort();
}

static void cleanup(void)
{
	for (size_t i = 0; i < 3; i++)
		if (pem_paths[i][0] != '\0')
			unlink(pem_paths[i]);
	rmdir(tmpdir);
}

static void write_pem(size_t i, const char *name, const char *pem)
{
	FILE *f;

	snprintf(pem_paths[i], sizeof(pem_paths[i]), "%s/%s", tmpdir, name);
	f = fopen(pem_paths[i], "w");
	if (f == NULL || fputs(pem, f) == EOF || fclose(f) != 0)
		die("cannot write a PEM");
}

/* Keys and ids from the vectors, as PEM files in a temporary directory. */
static void init(void)
{
	const char *vec = getenv("FNGATE_VECTORS"), *src = getenv("FNGATE_SOURCE_DIR");
	char path[1024], *text = NULL, funcs[FUNCS_MAX * 160] = "";
	json_t *sw, *rfc, *toks, *t;
	const char *key0, *ns0;
	size_t i, nf = 0, off = 0;
	struct conf_errors errs = {0};
	int n;

	if (vec == NULL || *vec == '\0')
		vec = FNGATE_FUZZ_VECTORS;
	if (src == NULL || *src == '\0')
		src = FNGATE_FUZZ_SOURCE_DIR;
	log_set_level(LOG_LVL_ERROR);
	if (revoke_init() != 0 || (cache = tcache_new(16)) == NULL)
		die("init");
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/scaleway-tokens.json", vec);
	sw = json_load_file(path, 0, NULL);
	snprintf(path, sizeof(path), "%s/rfc7515/rfc7515_A2_A3.json", vec);
	rfc = json_load_file(path, 0, NULL);
	if (sw == NULL || rfc == NULL)
		die("vectors not found: set FNGATE_VECTORS");
	toks = json_object_get(sw, "tokens");
	key0 = json_string_value(json_object_get(json_array_get(toks, 0), "public_key_pem"));
	ns0 = json_string_value(json_object_get(json_array_get(toks, 0), "namespace_id"));
	if (key0 == NULL || ns0 == NULL)
		die("scaleway-tokens.json: unexpected layout");
	write_pem(0, "scw.pem", key0);
	write_pem(1, "a2.pem", json_string_value(json_object_get(
	    json_array_get(json_object_get(rfc, "vectors"), 0), "public_pem")));
	write_pem(2, "a3.pem", json_string_value(json_object_get(
	    json_array_get(json_object_get(rfc, "vectors"), 1), "public_pem")));
	/* The functions of the Scaleway namespace: every function/container token of its key. */
	json_array_foreach(toks, i, t) {
		const char *id = json_string_value(json_object_get(t, "function_id"));

		if (id == NULL)
			id = json_string_value(json_object_get(t, "container_id"));
		if (id == NULL || nf == FUNCS_MAX ||
		    strcmp(json_string_value(json_object_get(t, "public_key_pem")), key0) != 0)
			continue;
		off += (size_t)snprintf(funcs + off, sizeof(funcs) - off,
		    "%s{\"id\": \"%s\", \"name\": \"f%zu\", \"path_prefix\": \"/scw%zu\","
		    " \"upstreams\": [\"http://127.0.0.1:1\"]}", nf ? ", " : "", id, nf, nf);
		nf++;
	}
	if (nf == 0)
		off += (size_t)snprintf(funcs, sizeof(funcs), "{\"name\": \"f0\", \"path_prefix\":"
		    " \"/scw\", \"upstreams\": [\"http://127.0.0.1:1\"]}");
	n = asprintf(&text,
	    "{\"listen\": [\"127.0.0.1:1\"], \"state_dir\": \"/nonexistent-fngate-fuzz\",\n"
	    " \"admin\": {\"listen\": null}, \"tokens\": {\"leeway_s\": 60},\n"
	    " \"namespaces\": [\n"
	    "  {\"id\": \"%s\", \"name\": \"scw\", \"issuer\": \"SCALEWAY\",\n"
	    "   \"keys\": [{\"alg\": \"RS256\", \"public_key\": \"%s\"}], \"functions\": [%s]},\n"
	    "  {\"id\": \"rfc\", \"name\": \"rfc\",\n"
	    "   \"keys\": [{\"kid\": \"a2\", \"alg\": \"RS256\", \"public_key\": \"%s\"},\n"
	    "            {\"kid\": \"a3\", \"alg\": \"ES256\", \"public_key\": \"%s\"}],\n"
	    "   \"functions\": [{\"name\": \"r\", \"path_prefix\": \"/rfc\", \"upstreams\": [\"http://127.0.0.1:1\"]}]},\n"
	    "  {\"id\": \"wyc\", \"name\": \"wyc\", \"require_registered_tokens\": true,\n"
	    "   \"keys\": [{\"kid\": \"kid-ec-sign\", \"alg\": \"ES256\", \"public_key\": \"%s/wycheproof/derived-pem/kid-ec-sign.pub.pem\"},\n"
	    "            {\"kid\": \"kid-rsa-sign\", \"alg\": \"RS256\", \"public_key\": \"%s/wycheproof/derived-pem/kid-rsa-sign.pub.pem\"},\n"
	    "            {\"kid\": \"RS256_2048\", \"alg\": \"RS256\", \"public_key\": \"%s/wycheproof/derived-pem/RS256_2048.pub.pem\"},\n"
	    "            {\"kid\": \"bilbo.baggins@hobbiton.example\", \"alg\": \"RS256\", \"public_key\": \"%s/wycheproof/derived-pem/bilbo.baggins@hobbiton.example.pub.pem\"}],\n"
	    "   \"functions\": [{\"name\": \"w\", \"path_prefix\": \"/wyc\", \"upstreams\": [\"http://127.0.0.1:1\"]}]},\n"
	    "  {\"id\": \"demo\", \"name\": \"demo\",\n"
	    "   \"keys\": [{\"kid\": \"k1\", \"alg\": \"RS256\", \"public_key\": \"%s/fuzz/keys/demo.pub.pem\"}],\n"
	    "   \"functions\": [{\"name\": \"d\", \"path_prefix\": \"/demo\", \"upstreams\": [\"http://127.0.0.1:1\"]}]}\n"
	    " ]}\n",
	    ns0, pem_paths[0], funcs, pem_paths[1], pem_paths[2], vec, vec, vec, vec, src);
	json_decref(sw);
	json_decref(rfc);
	if (n < 0)
		die("asprintf");
	conf = conf_load_string(text, (size_t)n, "fuzz-token.json", &errs);
	free(text);
	if (conf == NULL) {
		conf_errors_print(&errs, stderr);
		die("configuration");
	}
}

static void check_id(const char *s)
{
	if (memchr(s, '\0', TOKEN_ID_MAX + 1) == NULL)
		die("a claim string is not terminated within TOKEN_ID_MAX");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t clocks[4] = {0, 1666000000, 1900000000, INT64_MAX};
	const struct conf_namespace *ns;
	const struct conf_function *fn;
	struct token_claims cl;
	struct gate_result gr;
	enum token_status st;
	enum outcome r;
	int64_t now;
	uint8_t sel;

	if (conf == NULL)
		init();
	if (size < 1)
		return 0;
	sel = data[0];
	ns = &conf->namespaces[(sel & 0x03) % conf->nnamespaces];
	fn = &ns->functions[((sel >> 2) & 0x07) % ns->nfunctions];
	now = clocks[(sel >> 5) & 0x03];
	memset(&cl, 0xa5, sizeof(cl));
	st = token_verify(ns, (const char *)data + 1, size - 1, 8192, &cl);
	switch (st) {
	case TOKEN_OK:
		check_id(cl.jti);
		check_id(cl.namespace_id);
		check_id(cl.application_id);
		check_id(cl.iss);
		if ((cl.namespace_id[0] != '\0') == (cl.application_id[0] != '\0'))
			die("TOKEN_OK without exactly one of namespace_id / application_id");
		if (cl.key == NULL || cl.key < ns->keys || cl.key >= ns->keys + ns->nkeys)
			die("TOKEN_OK without the key of this namespace that verified it");
		(void)token_check_time(&cl, now, conf->leeway_s);
		(void)token_check_scope(&cl, ns, fn->id);
		break;
	case TOKEN_MALFORMED:
		if (cl.key != NULL && (cl.key < ns->keys || cl.key >= ns->keys + ns->nkeys))
			die("TOKEN_MALFORMED with a key not of this namespace");
		break;
	case TOKEN_ALG:
	case TOKEN_SIGNATURE:
		if (cl.key != NULL)
			die("a refused signature left out->key set");
		break;
	default:
		die("token_verify returned a status it must not");
	}
	(void)token_status_name(st);
	/* The whole gate, as a request sees it: private function, the token in X-Auth-Token. */
	atomic_store(&((struct conf_function *)(uintptr_t)fn)->privacy, PRIVACY_PRIVATE);
	memset(&gr, 0, sizeof(gr));
	r = gate_check(conf, fn, (const char *)data + 1, size - 1, 1, now, cache, &gr);
	(void)outcome_name(r);
	if (outcome_allowed(r) && (st != TOKEN_OK ||
				token_check_time(&cl, now, conf->leeway_s) != TOKEN_OK ||
				token_check_scope(&cl, ns, fn->id) != TOKEN_OK))
		die("the gate allowed a token the verifier or the claim checks refused");
	return 0;
}
