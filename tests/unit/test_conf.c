/* test_conf.c - the configuration loader: every error kind at its exact line:column, a full valid
 * file field by field, the shipped examples, JSON positions, refcounted snapshots. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf.h"
#include "jsonpos.h"
#include "route.h"
#include "testutil.h"
#include "util.h"

/* A temporary directory holding a fresh RSA-2048 key (rsa.pem, SPKI) and a P-256 key (ec.pem),
 * generated once in main(); "conf.json" there is the anchor of relative paths. */
static char tmpdir[256];
static char anchor[300];

static void write_pubkey(EVP_PKEY *pk, const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || PEM_write_PUBKEY(f, pk) != 1) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(2);
	}
	fclose(f);
}

static void make_keys(void)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char sub[512];

	if (rsa == NULL || ec == NULL) {
		fprintf(stderr, "key generation failed\n");
		exit(2);
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", tu_tempdir());
	snprintf(anchor, sizeof(anchor), "%s/conf.json", tmpdir);
	write_pubkey(rsa, tmpdir, "rsa.pem");
	write_pubkey(ec, tmpdir, "ec.pem");
	/* the layout of the shipped examples: keys/ next to the file */
	snprintf(sub, sizeof(sub), "%s/keys", tmpdir);
	mkdir(sub, 0700);
	write_pubkey(rsa, sub, "demo.pub.pem");
	write_pubkey(rsa, sub, "shop.pub.pem");
	write_pubkey(ec, sub, "shop-2026.pub.pem");
	write_pubkey(rsa, sub, "internal.pub.pem");
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

static struct conf *load(const char *text, struct conf_errors *errs)
{
	return conf_load_string(text, strlen(text), anchor, errs);
}

/* ---- every error kind, with the position it must report ---- */

/* The smallest valid file is "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": []}"; each
 * case below is small and written line by line so its expected position can be read off. */
#define NS_HEAD "{\"listen\": [\"127.0.0.1:8080\"],\n \"namespaces\": [{\"name\": \"ns\",\n"
#define UP "\"upstreams\": [\"http://127.0.0.1:9000\"]"

static const struct err_case {
	const char *name;
	const char *text;
	int         line, column;
	const char *message;    /* a substring of the message, which starts with the JSON path */
} err_cases[] = {
	{ "syntax", "{\"listen\": [}", 1, 13, "unexpected token" },
	{ "duplicate key", "{\"listen\": [\"127.0.0.1:1\"],\n \"listen\": [\"127.0.0.1:2\"]}", 2, 9,
	  "duplicate object key" },
	{ "not an object", "[1]", 1, 1, "must be a JSON object" },
	{ "unknown top key", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n  \"wrokers\": 2}", 2, 3,
	  "wrokers: unknown key (did you mean \"workers\"?)" },
	{ "unknown key far from any", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [], \"zzzzzzzz\": 1}", 1, 47,
	  "zzzzzzzz: unknown key" },
	{ "missing listen", "{\"namespaces\": []}", 1, 1, "listen: missing (required)" },
	{ "missing namespaces", "{\"listen\": [\"127.0.0.1:1\"]}", 1, 1, "namespaces: missing (required)" },
	{ "listen not array", "{\"listen\": \"127.0.0.1:1\", \"namespaces\": []}", 1, 12,
	  "listen: must be an array, not a string" },
	{ "listen empty", "{\"listen\": [], \"namespaces\": []}", 1, 12, "listen: must not be empty" },
	{ "listen bad", "{\"listen\": [\"127.0.0.1:1\",\n  \"localhost:80\"], \"namespaces\": []}", 2, 3,
	  "listen[1]: must be \"ip:port\"" },
	{ "listen port 0", "{\"listen\": [\"127.0.0.1:0\"], \"namespaces\": []}", 1, 13, "listen[0]: must be" },
	{ "listen http2 string", "{\"listen\": [{\"address\": \"127.0.0.1:1\", \"http2\": \"no\"}], \"namespaces\": []}",
	  1, 49, "listen[0].http2: must be true, false or an object" },
	{ "listen http2 window", "{\"listen\": [{\"address\": \"127.0.0.1:1\",\n \"http2\": {\"initial_window_bytes\": 100}}],"
	  " \"namespaces\": []}", 2, 36, "listen[0].http2.initial_window_bytes: 100 is out of range" },
	{ "http2 unknown key", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"http2\": {\"max_streams\": 5}}", 2, 12,
	  "http2.max_streams: unknown key" },
	{ "listen port 65536", "{\"listen\": [\"[::1]:65536\"], \"namespaces\": []}", 1, 13, "listen[0]: must be" },
	{ "listen twice", "{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:1\"], \"namespaces\": []}", 1, 28,
	  "listen[1]: \"127.0.0.1:1\" is listed twice" },
	{ "public_url scheme", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"ftp://fn.example.com\"}", 2, 16,
	  "public_url: must start with \"http://\" or \"https://\"" },
	{ "public_url no scheme", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"fn.example.com\"}", 2, 16,
	  "public_url: must start with" },
	{ "public_url query", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn.example.com/gw?x=1\"}", 2, 16,
	  "public_url: must not have a query" },
	{ "public_url fragment", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn.example.com/#top\"}", 2, 16,
	  "public_url: must not have a fragment" },
	{ "public_url userinfo", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://user:pw@fn.example.com\"}", 2, 16,
	  "public_url: must not hold user information" },
	{ "public_url host", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn_example.com\"}", 2, 16,
	  "public_url: the host must be a DNS name" },
	{ "public_url empty host", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https:///gw\"}", 2, 16,
	  "public_url: the host must be a DNS name" },
	{ "public_url v6", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"http://[fe80::zz]:80\"}", 2, 16,
	  "public_url: the host must be a DNS name" },
	{ "public_url port", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn.example.com:0\"}", 2, 16,
	  "public_url: the port must be 1..65535" },
	{ "public_url port empty", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn.example.com:/gw\"}", 2, 16,
	  "public_url: the port must be 1..65535" },
	{ "public_url path", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": \"https://fn.example.com/a/../b\"}", 2, 16,
	  "public_url: the path must not contain \"..\"" },
	{ "namespace public_url", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [{\"name\": \"ns\",\n \"public_url\": \"https://a.example.com?\"}]}", 2, 16,
	  "namespaces[0].public_url: must not have a query" },
	{ "public_url type", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"public_url\": 1}", 2, 16,
	  "public_url: must be a string" },
	{ "workers type", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"workers\": \"2\"}", 2, 13,
	  "workers: must be an integer, not a string" },
	{ "workers real", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [], \"workers\": 2.5}", 1, 58,
	  "workers: must be an integer, not a number with a fraction" },
	{ "workers 0", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [], \"workers\": 0}", 1, 58,
	  "workers: 0 is out of range (1..256)" },
	{ "workers 257", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [], \"workers\": 257}", 1, 58,
	  "workers: 257 is out of range (1..256)" },
	{ "workers negative", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [], \"workers\": -1}", 1, 58,
	  "workers: -1 is out of range" },
	{ "leeway 3601", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"tokens\": {\"leeway_s\": 3601}}",
	  2, 25, "tokens.leeway_s: 3601 is out of range (0..3600)" },
	{ "tokens unknown", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"tokens\": {\"forward\": true}}",
	  2, 13, "tokens.forward: unknown key" },
	{ "forward_token type", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"tokens\": {\"forward_token\": 1}}",
	  2, 30, "tokens.forward_token: must be true or false, not an integer" },
	{ "limit 0", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"limits\": {\"max_body_bytes\": 0}}",
	  2, 31, "limits.max_body_bytes: 0 is out of range" },
	{ "limit too large", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"limits\": {\"max_header_bytes\": 99999999}}",
	  2, 33, "limits.max_header_bytes: 99999999 is out of range (1024..1048576)" },
	{ "limits unknown", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"limits\": {\"max_headers\": 1}}",
	  2, 13, "limits.max_headers: unknown key (did you mean \"max_header_bytes\"?)" },
	{ "limits type", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"limits\": []}",
	  2, 12, "limits: must be an object, not an array" },
	{ "timeout 0", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"timeouts\": {\"client_idle_ms\": 0}}",
	  2, 33, "timeouts.client_idle_ms: 0 is out of range (1..86400000)" },
	{ "shutdown 0", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"shutdown_timeout_ms\": 0}",
	  2, 25, "shutdown_timeout_ms: 0 is out of range" },
	{ "log_format", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"log_format\": \"xml\"}",
	  2, 16, "log_format: must be \"json\" or \"combined\"" },
	{ "state_dir empty", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"state_dir\": \"\"}",
	  2, 15, "state_dir: must not be empty" },

	/* namespaces */
	{ "ns not object", "{\"listen\": [\"127.0.0.1:1\"],\n \"namespaces\": [\"demo\"]}", 2, 17,
	  "namespaces[0]: must be an object, not a string" },
	{ "ns missing name", "{\"listen\": [\"127.0.0.1:1\"],\n \"namespaces\": [{\"id\": \"x\"}]}", 2, 17,
	  "namespaces[0].name: missing (required)" },
	{ "ns unknown key", NS_HEAD "  \"isuer\": null}]}", 3, 3,
	  "namespaces[0].isuer: unknown key (did you mean \"issuer\"?)" },
	{ "ns id charset", NS_HEAD "  \"id\": \"a b\"}]}", 3, 9,
	  "namespaces[0].id: must be 1..128 characters of A-Z a-z 0-9 . _ -" },
	{ "ns id too long", NS_HEAD "  \"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}",
	  3, 9, "namespaces[0].id: is too long (129 bytes, at most 128)" },
	{ "issuer type", NS_HEAD "  \"issuer\": 5}]}", 3, 13, "namespaces[0].issuer: must be a string or null, not an integer" },
	{ "issue_tokens type", NS_HEAD "  \"issue_tokens\": \"yes\"}]}", 3, 19,
	  "namespaces[0].issue_tokens: must be true or false, not a string" },
	{ "duplicate ns id",
	  "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [\n {\"name\": \"a\", \"id\": \"same\"},\n {\"name\": \"b\", \"id\": \"same\"}]}",
	  3, 22, "namespaces[1].id: namespace id \"same\" is already the id of namespaces[0]" },
	{ "duplicate ns id by name",
	  "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [\n {\"name\": \"a\"},\n {\"name\": \"a\"}]}",
	  3, 11, "namespaces[1].name: namespace id \"a\" is already the id of namespaces[0]" },

	/* keys */
	{ "alg HS256", NS_HEAD "  \"keys\": [{\"alg\": \"HS256\", \"public_key\": \"rsa.pem\"}]}]}", 3, 20,
	  "namespaces[0].keys[0].alg: \"HS256\" is not accepted: \"RS256\" or \"ES256\"" },
	{ "alg none", NS_HEAD "  \"keys\": [{\"alg\": \"none\", \"public_key\": \"rsa.pem\"}]}]}", 3, 20,
	  "\"none\" is not accepted" },
	{ "alg missing", NS_HEAD "  \"keys\": [{\"public_key\": \"rsa.pem\"}]}]}", 3, 12,
	  "namespaces[0].keys[0].alg: missing (required)" },
	{ "public_key missing", NS_HEAD "  \"keys\": [{\"alg\": \"RS256\"}]}]}", 3, 12,
	  "namespaces[0].keys[0].public_key: missing (required)" },
	{ "key file absent", NS_HEAD "  \"keys\": [{\"alg\": \"RS256\",\n   \"public_key\": \"nope.pem\"}]}]}", 4, 18,
	  "namespaces[0].keys[0].public_key: " },
	{ "key alg mismatch", NS_HEAD "  \"keys\": [{\"alg\": \"RS256\", \"public_key\": \"ec.pem\"}]}]}", 3, 43,
	  "namespaces[0].keys[0].public_key: " },
	{ "key alg mismatch ec", NS_HEAD "  \"keys\": [{\"alg\": \"ES256\", \"public_key\": \"rsa.pem\"}]}]}", 3, 43,
	  "namespaces[0].keys[0].public_key: " },
	{ "kid duplicate", NS_HEAD "  \"keys\": [{\"kid\": \"a\", \"alg\": \"RS256\", \"public_key\": \"rsa.pem\"},\n"
	  "           {\"kid\": \"a\", \"alg\": \"ES256\", \"public_key\": \"ec.pem\"}]}]}", 4, 20,
	  "namespaces[0].keys[1].kid: \"a\" is already the kid of keys[0]" },
	{ "key not object", NS_HEAD "  \"keys\": [\"rsa.pem\"]}]}", 3, 12, "namespaces[0].keys[0]: must be an object" },
	{ "key unknown", NS_HEAD "  \"keys\": [{\"alg\": \"RS256\", \"public_key\": \"rsa.pem\", \"pem\": 1}]}]}", 3, 54,
	  "namespaces[0].keys[0].pem: unknown key" },

	/* functions */
	{ "privacy typo", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"privcy\": \"public\"}]}]}", 4, 4,
	  "namespaces[0].functions[0].privcy: unknown key (did you mean \"privacy\"?)" },
	{ "privacy value", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"privacy\": \"Public\"}]}]}", 4, 15,
	  "namespaces[0].functions[0].privacy: must be \"public\" or \"private\"" },
	{ "privacy type", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"privacy\": false}]}]}", 4, 15,
	  "namespaces[0].functions[0].privacy: must be a string, not false" },
	{ "function missing upstreams", NS_HEAD "  \"functions\": [\n   {\"name\": \"f\"}]}]}", 4, 4,
	  "namespaces[0].functions[0].upstreams: missing (required)" },
	{ "upstreams empty", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": []}]}]}", 4, 17,
	  "namespaces[0].functions[0].upstreams: must not be empty" },
	{ "upstream https userinfo", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"https://u@127.0.0.1:9000\"]}]}]}", 4, 18,
	  "namespaces[0].functions[0].upstreams[0]: must be http(s)://host:port[/base] (no user, query or fragment)" },
	{ "upstream scheme", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://127.0.0.1:9000\", \"ftp://x\"]}]}]}", 4, 43,
	  "namespaces[0].functions[0].upstreams[1]: must be http(s)://host:port[/base]" },
	{ "upstream port", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://127.0.0.1:99999\"]}]}]}", 4, 18,
	  "upstreams[0]: the port must be 1..65535" },
	{ "upstream host", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://bad_host:80\"]}]}]}", 4, 18,
	  "upstreams[0]: the host must be" },
	{ "upstream unresolvable", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://nowhere.invalid:80/base\", \"http://127.0.0.1:1\"]}]}]}", 4, 18,
	  "upstreams[0]: cannot resolve \"nowhere.invalid\"" },
	{ "upstream userinfo", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://u@127.0.0.1:80\"]}]}]}", 4, 18,
	  "upstreams[0]: must be http(s)://host:port[/base] (no user, query or fragment)" },
	{ "upstream base dots", NS_HEAD "  \"functions\": [{\"name\": \"f\",\n   \"upstreams\": [\"http://127.0.0.1:80/a/../b\"]}]}]}", 4, 18,
	  "upstreams[0]: the base path must not contain \"..\"" },
	{ "prefix no slash", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"path_prefix\": \"api\"}]}]}", 4, 19,
	  "namespaces[0].functions[0].path_prefix: must start with '/'" },
	{ "bad prefix next to a catch-all", NS_HEAD "  \"functions\": [{\"name\": \"c\", " UP "},\n"
	  "                {\"name\": \"f\", " UP ", \"path_prefix\": \"x\"}]}]}", 4, 86,
	  "namespaces[0].functions[1].path_prefix: must start with '/'" },
	{ "prefix dots", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"path_prefix\": \"/a/../b\"}]}]}", 4, 19,
	  "path_prefix: must not contain \"..\"" },
	{ "prefix percent", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"path_prefix\": \"/a%2f\"}]}]}", 4, 19,
	  "path_prefix: must not contain '%', '?' or '#'" },
	{ "prefix query", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"path_prefix\": \"/a?b\"}]}]}", 4, 19,
	  "path_prefix: must not contain '%', '?' or '#'" },
	{ "prefix space", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"path_prefix\": \"/a b\"}]}]}", 4, 19,
	  "path_prefix: must contain visible ASCII characters only" },
	{ "host invalid", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"hosts\": [\"ok.example\", \"bad_host\"]}]}]}", 4, 28,
	  "namespaces[0].functions[0].hosts[1]: must be a DNS name" },
	{ "host dash", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"hosts\": [\"-a.example\"]}]}]}", 4, 14,
	  "hosts[0]: must be a DNS name" },
	{ "host bare wildcard", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"hosts\": [\"*\"]}]}]}", 4, 14,
	  "hosts[0]: must be a DNS name" },
	{ "host twice", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"hosts\": [\"a.example\", \"A.Example\"]}]}]}", 4, 27,
	  "hosts[1]: \"a.example\" is listed twice" },
	{ "hosts empty", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"hosts\": []}]}]}", 4, 13,
	  "hosts: must not be empty" },
	{ "strip_prefix type", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"strip_prefix\": \"no\"}]}]}", 4, 20,
	  "strip_prefix: must be true or false" },
	{ "upstream_protocol value", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"upstream_protocol\": \"h3\"}]}]}", 4, 25,
	  "namespaces[0].functions[0].upstream_protocol: must be \"http1\", \"h2\" or \"h2c\"" },
	{ "upstream_protocol h2c over https", NS_HEAD "  \"functions\": [{\"name\": \"f\", \"upstreams\": [\"https://127.0.0.1:9443\"],\n   \"upstream_protocol\": \"h2c\"}]}]}", 4, 25,
	  "upstream_protocol: \"h2c\" needs http:// upstreams (\"h2\" for https://)" },
	{ "function limits", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"limits\": {\"max_token_bytes\": 0}}]}]}", 4, 34,
	  "namespaces[0].functions[0].limits.max_token_bytes: 0 is out of range (64..65536)" },
	{ "function timeouts unknown", NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ",\n   \"timeouts\": {\"connect_ms\": 1}}]}]}", 4, 17,
	  "namespaces[0].functions[0].timeouts.connect_ms: unknown key" },
	{ "duplicate function id",
	  "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [\n"
	  " {\"name\": \"a\", \"functions\": [{\"name\": \"f\", \"id\": \"x\", " UP ", \"path_prefix\": \"/a\"}]},\n"
	  " {\"name\": \"b\", \"functions\": [{\"name\": \"g\", \"id\": \"x\", " UP ", \"path_prefix\": \"/b\"}]}]}",
	  3, 50, "namespaces[1].functions[0].id: function id \"x\" is already the id of namespaces[0].functions[0]" },
	{ "duplicate function name",
	  NS_HEAD "  \"functions\": [{\"name\": \"f\", \"id\": \"1\", " UP ", \"path_prefix\": \"/a\"},\n"
	  "                {\"name\": \"f\", \"id\": \"2\", " UP ", \"path_prefix\": \"/b\"}]}]}",
	  4, 26, "namespaces[0].functions[1].name: function name \"f\" is already used by namespaces[0].functions[0]" },
	{ "route claimed twice",
	  NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ", \"path_prefix\": \"/a/\"},\n"
	  "                {\"name\": \"g\", " UP ", \"path_prefix\": \"/a\"}]}]}",
	  4, 71, "namespaces[0].functions[1].path_prefix: the route host \"(any)\" path_prefix \"/a\" is already claimed by namespaces[0].functions[0] (\"f\")" },
	{ "route host claimed twice",
	  NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP ", \"hosts\": [\"x.example\", \"y.example\"]},\n"
	  "                {\"name\": \"g\", " UP ", \"hosts\": [\"Y.example\"]}]}]}",
	  4, 71, "namespaces[0].functions[1].hosts: the route host \"y.example\" path_prefix \"/\" is already claimed by namespaces[0].functions[0] (\"f\")" },
	{ "two catch-alls",
	  NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP "},\n"
	  "                {\"name\": \"g\", " UP "}]}]}",
	  4, 17, "namespaces[0].functions[1]: a second catch-all function (neither hosts nor path_prefix)" },
	{ "catch-all and slash",
	  NS_HEAD "  \"functions\": [{\"name\": \"f\", " UP "},\n"
	  "                {\"name\": \"g\", " UP ", \"path_prefix\": \"/\"}]}]}",
	  4, 71, "namespaces[0].functions[1].path_prefix: the route host \"(any)\" path_prefix \"/\" is already claimed" },

	/* admin */
	{ "admin unknown", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"lisen\": null}}", 2, 12,
	  "admin.lisen: unknown key (did you mean \"listen\"?)" },
	{ "admin listen", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"listen\": \"9090\"}}", 2, 22,
	  "admin.listen: must be \"ip:port\"" },
	{ "admin listen clash", "{\"listen\": [\"127.0.0.1:9090\"], \"namespaces\": []}", 1, 13,
	  "listen[0]: \"127.0.0.1:9090\" is also the admin API's default address" },
	{ "admin listen clash explicit", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"listen\": \"127.0.0.1:1\"}}",
	  2, 22, "admin.listen: \"127.0.0.1:1\" is also listen[0]: the admin API needs its own address" },
	{ "admin sha256", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [{\"name\": \"a\", \"role\": \"owner\",\n  \"sha256\": \"abc\"}]}}",
	  3, 13, "admin.keys[0].sha256: must be 64 hexadecimal characters" },
	{ "admin role", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [{\"name\": \"a\", \"role\": \"admin\",\n"
	  "  \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}}",
	  2, 43, "admin.keys[0].role: must be \"owner\"" },
	{ "admin permission", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [{\"name\": \"a\",\n"
	  "  \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
	  "  \"permissions\": [\"tokens:read\", \"tokens:delete\"]}]}}",
	  4, 34, "admin.keys[0].permissions[1]: must be \"tokens:read\", \"tokens:write\" or \"functions:write\"" },
	{ "admin no permissions", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [{\"name\": \"a\",\n"
	  "  \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}}",
	  2, 21, "admin.keys[0].permissions: missing (required)" },
	{ "admin namespace unknown", NS_HEAD "  \"id\": \"n1\"}],\n \"admin\": {\"keys\": [{\"name\": \"a\",\n"
	  "  \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
	  "  \"permissions\": [\"tokens:read\"], \"namespaces\": [\"n1\", \"n2\"]}]}}",
	  6, 56, "admin.keys[0].namespaces[1]: no namespace has the id \"n2\"" },
	{ "admin role with permissions", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [{\"name\": \"a\", \"role\": \"owner\",\n"
	  "  \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\", \"permissions\": []}]}}",
	  3, 81, "admin.keys[0].permissions: a key with a \"role\" takes no \"permissions\"" },
	{ "admin same key twice", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [\n"
	  "  {\"name\": \"a\", \"role\": \"owner\", \"sha256\": \"00000000000000000000000000000000000000000000000000000000000000ff\"},\n"
	  "  {\"name\": \"b\", \"role\": \"owner\", \"sha256\": \"00000000000000000000000000000000000000000000000000000000000000FF\"}]}}",
	  4, 44, "admin.keys[1].sha256: the same key as admin.keys[0]" },
	{ "admin same name twice", "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": [],\n \"admin\": {\"keys\": [\n"
	  "  {\"name\": \"a\", \"role\": \"owner\", \"sha256\": \"00000000000000000000000000000000000000000000000000000000000000ff\"},\n"
	  "  {\"name\": \"a\", \"role\": \"owner\", \"sha256\": \"00000000000000000000000000000000000000000000000000000000000000ee\"}]}}",
	  4, 12, "admin.keys[1].name: \"a\" is already the name of admin.keys[0]" },
};

static bool has_error(const struct conf_errors *errs, int line, int column, const char *msg)
{
	size_t i;

	for (i = 0; i < errs->n; i++) {
		if (errs->v[i].line == line && errs->v[i].column == column &&
		    strstr(errs->v[i].message, msg) != NULL && strcmp(errs->v[i].file, anchor) == 0)
			return true;
	}
	return false;
}

START_TEST(test_error_cases)
{
	const struct err_case *tc = &err_cases[_i];
	struct conf_errors errs = { 0 };
	struct conf *c = load(tc->text, &errs);

	if (c != NULL || !has_error(&errs, tc->line, tc->column, tc->message)) {
		fprintf(stderr, "case \"%s\": expected %d:%d: %s\n", tc->name, tc->line, tc->column, tc->message);
		conf_errors_print(&errs, stderr);
	}
	ck_assert_msg(c == NULL, "case \"%s\" loaded", tc->name);
	ck_assert_msg(has_error(&errs, tc->line, tc->column, tc->message), "case \"%s\"", tc->name);
	/* one mistake, one error: nothing else is reported by a cascade */
	ck_assert_msg(errs.n == 1, "case \"%s\": %zu errors", tc->name, errs.n);
	conf_errors_free(&errs);
}
END_TEST

/* All errors of a file in one pass, in file order, printed as file:line:column: message. */
START_TEST(test_all_errors_one_pass)
{
	static const char text[] =
		"{\"listen\": [\"127.0.0.1:8080\"],\n"
		" \"workers\": 0,\n"
		" \"namespaces\": [{\"name\": \"ns\",\n"
		"   \"functions\": [{\"name\": \"f\", \"privcy\": \"public\",\n"
		"     \"upstreams\": [\"ftp://127.0.0.1\"]}]}],\n"
		" \"log_format\": \"xml\"}\n";
	struct conf_errors errs = { 0 };
	char *out = NULL;
	size_t outlen = 0, i;
	FILE *f;

	ck_assert_ptr_null(load(text, &errs));
	ck_assert_uint_eq(errs.n, 4);
	ck_assert_int_eq(errs.v[0].line, 2);
	ck_assert_int_eq(errs.v[1].line, 4);
	ck_assert_int_eq(errs.v[1].column, 32);
	ck_assert_int_eq(errs.v[2].line, 5);
	ck_assert_int_eq(errs.v[3].line, 6);
	for (i = 1; i < errs.n; i++)
		ck_assert_int_ge(errs.v[i].line, errs.v[i - 1].line);

	f = open_memstream(&out, &outlen);
	conf_errors_print(&errs, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "/conf.json:2:13: workers: 0 is out of range (1..256)\n"));
	ck_assert_ptr_nonnull(strstr(out, "/conf.json:4:32: namespaces[0].functions[0].privcy: unknown key"));
	free(out);
	conf_errors_free(&errs);
}
END_TEST

/* A hopeless file: the list is bounded and says it was cut. */
START_TEST(test_too_many_errors)
{
	struct conf_errors errs = { 0 };
	size_t cap = 64 * 1024, o = 0, i;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	o += (size_t)snprintf(text + o, cap - o, "{\"listen\": [\"127.0.0.1:1\"], \"namespaces\": []");
	for (i = 0; i < 500; i++)
		o += (size_t)snprintf(text + o, cap - o, ",\n\"bad%zu\": 1", i);
	o += (size_t)snprintf(text + o, cap - o, "}");
	ck_assert_ptr_null(conf_load_string(text, o, anchor, &errs));
	ck_assert_uint_eq(errs.n, 200);
	ck_assert_int_eq(errs.v[0].line, 0);
	ck_assert_ptr_nonnull(strstr(errs.v[0].message, "too many errors"));
	ck_assert_int_eq(errs.v[1].line, 2);
	ck_assert_int_eq(errs.v[199].line, 200);
	conf_errors_free(&errs);
	free(text);
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf_errors errs = { 0 };
	char path[512];

	snprintf(path, sizeof(path), "%s/absent.json", tmpdir);
	ck_assert_ptr_null(conf_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.v[0].file, path);
	ck_assert_int_eq(errs.v[0].line, 0);
	ck_assert_ptr_nonnull(strstr(errs.v[0].message, "cannot open"));
	conf_errors_free(&errs);
}
END_TEST

/* ---- a full valid file: every field ---- */

static const char full_text[] =
	"{\n"
	"  \"listen\": [\"127.0.0.1:8080\", \"[::1]:8081\", \"*:8082\"],\n"
	"  \"workers\": 3,\n"
	"  \"state_dir\": \"state\",\n"
	"  \"shutdown_timeout_ms\": 5000,\n"
	"  \"limits\": {\"max_header_bytes\": 8192, \"max_body_bytes\": 1000, \"max_token_bytes\": 4096,\n"
	"             \"max_connections\": 50, \"upstream_keepalive\": 7},\n"
	"  \"timeouts\": {\"client_header_ms\": 1, \"client_idle_ms\": 2, \"upstream_connect_ms\": 3,\n"
	"               \"upstream_response_ms\": 4},\n"
	"  \"tokens\": {\"leeway_s\": 0, \"forward_token\": true, \"cache_entries\": 0},\n"
	"  \"access_log\": \"access.log\",\n"
	"  \"log_format\": \"combined\",\n"
	"  \"admin\": {\"listen\": \"[::1]:9091\", \"keys\": [\n"
	"    {\"name\": \"root\", \"role\": \"owner\",\n"
	"     \"sha256\": \"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\"},\n"
	"    {\"name\": \"ci\", \"permissions\": [\"tokens:read\", \"functions:write\"], \"namespaces\": [\"n-1\"],\n"
	"     \"sha256\": \"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"}]},\n"
	"  \"namespaces\": [\n"
	"    {\"id\": \"n-1\", \"name\": \"one\", \"issuer\": \"SCALEWAY\",\n"
	"     \"issue_tokens\": true, \"signing_key\": \"/etc/fngate/one.key\",\n"
	"     \"keys\": [{\"kid\": \"r\", \"alg\": \"RS256\", \"public_key\": \"rsa.pem\"},\n"
	"              {\"alg\": \"ES256\", \"public_key\": \"ec.pem\"}],\n"
	"     \"functions\": [\n"
	"       {\"id\": \"f-1\", \"name\": \"hello\", \"privacy\": \"public\",\n"
	"        \"hosts\": [\"Hello.Example.COM\", \"*.apps.example.com\"], \"path_prefix\": \"/hello/\",\n"
	"        \"strip_prefix\": false,\n"
	"        \"upstreams\": [\"http://127.0.0.1:9000/base/\", \"http://[::1]:9001\", \"http://localhost\"],\n"
	"        \"limits\": {\"max_body_bytes\": 77, \"upstream_keepalive\": 0},\n"
	"        \"timeouts\": {\"upstream_response_ms\": 99}},\n"
	"       {\"name\": \"bye\", \"upstreams\": [\"http://127.0.0.1:9002\"], \"upstream_protocol\": \"h2c\"}]},\n"
	"    {\"name\": \"two\", \"require_registered_tokens\": true,\n"
	"     \"functions\": [{\"name\": \"bye\", \"id\": \"two-bye\", \"path_prefix\": \"/two\", \"privacy\": \"private\",\n"
	"                    \"upstreams\": [\"https://127.0.0.1:9003\"], \"upstream_protocol\": \"h2\"}]}]\n"
	"}\n";

START_TEST(test_full_valid)
{
	struct conf_errors errs = { 0 };
	struct conf *c = load(full_text, &errs);
	const struct conf_namespace *ns;
	const struct conf_function *f;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	char expect[512];
	uint64_t gen;

	conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_int_eq(atomic_load(&c->refs), 1);
	ck_assert_str_eq(c->path, anchor);
	ck_assert_str_eq(c->dir, tmpdir);
	gen = c->generation;
	ck_assert_uint_gt(gen, 0);

	ck_assert_uint_eq(c->nlisten, 3);
	ck_assert_str_eq(c->listen[0].address, "127.0.0.1:8080");
	s4 = (const struct sockaddr_in *)&c->listen[0].addr;
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(s4->sin_port), 8080);
	ck_assert_uint_eq(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	s6 = (const struct sockaddr_in6 *)&c->listen[1].addr;
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(s6->sin6_port), 8081);
	ck_assert_int_eq(c->listen[1].addrlen, sizeof(struct sockaddr_in6));
	s4 = (const struct sockaddr_in *)&c->listen[2].addr;
	ck_assert_uint_eq(s4->sin_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_int_eq(ntohs(s4->sin_port), 8082);

	ck_assert_int_eq(c->workers, 3);
	snprintf(expect, sizeof(expect), "%s/state", tmpdir);
	ck_assert_str_eq(c->state_dir, expect);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 5000);
	ck_assert_uint_eq(c->limits.max_header_bytes, 8192);
	ck_assert_uint_eq(c->limits.max_body_bytes, 1000);
	ck_assert_uint_eq(c->limits.max_token_bytes, 4096);
	ck_assert_uint_eq(c->limits.max_connections, 50);
	ck_assert_uint_eq(c->limits.upstream_keepalive, 7);
	ck_assert_uint_eq(c->timeouts.client_header_ms, 1);
	ck_assert_uint_eq(c->timeouts.client_idle_ms, 2);
	ck_assert_uint_eq(c->timeouts.upstream_connect_ms, 3);
	ck_assert_uint_eq(c->timeouts.upstream_response_ms, 4);
	ck_assert_int_eq(c->leeway_s, 0);
	ck_assert(c->forward_token);
	ck_assert_uint_eq(c->cache_entries, 0);
	snprintf(expect, sizeof(expect), "%s/access.log", tmpdir);
	ck_assert_str_eq(c->access_log, expect);
	ck_assert_str_eq(c->log_format, "combined");

	ck_assert_str_eq(c->admin.listen, "[::1]:9091");
	ck_assert_int_eq(((const struct sockaddr_in6 *)&c->admin.addr)->sin6_port, htons(9091));
	ck_assert_uint_eq(c->admin.nkeys, 2);
	ck_assert_str_eq(c->admin.keys[0].name, "root");
	ck_assert_uint_eq(c->admin.keys[0].perms, ADMIN_PERM_ALL);
	ck_assert_uint_eq(c->admin.keys[0].nnamespaces, 0);
	ck_assert_uint_eq(c->admin.keys[0].sha256[0], 0x00);
	ck_assert_uint_eq(c->admin.keys[0].sha256[10], 0xaa);
	ck_assert_uint_eq(c->admin.keys[0].sha256[31], 0xff);
	ck_assert_str_eq(c->admin.keys[1].name, "ci");
	ck_assert_uint_eq(c->admin.keys[1].perms, ADMIN_PERM_TOKENS_READ | ADMIN_PERM_FUNCTIONS_WRITE);
	ck_assert_uint_eq(c->admin.keys[1].nnamespaces, 1);
	ck_assert_str_eq(c->admin.keys[1].namespaces[0], "n-1");

	ck_assert_uint_eq(c->nnamespaces, 2);
	ns = &c->namespaces[0];
	ck_assert_str_eq(ns->id, "n-1");
	ck_assert_str_eq(ns->name, "one");
	ck_assert_str_eq(ns->issuer, "SCALEWAY");
	ck_assert(ns->issue_tokens);
	ck_assert(ns->require_registered_tokens);     /* defaults to issue_tokens */
	ck_assert_str_eq(ns->signing_key, "/etc/fngate/one.key");
	ck_assert_uint_eq(ns->nkeys, 2);
	ck_assert_str_eq(ns->keys[0].kid, "r");
	ck_assert_int_eq(ns->keys[0].alg, KEY_ALG_RS256);
	snprintf(expect, sizeof(expect), "%s/rsa.pem", tmpdir);
	ck_assert_str_eq(ns->keys[0].path, expect);
	ck_assert_ptr_nonnull(ns->keys[0].pkey);
	ck_assert_int_eq(EVP_PKEY_get_base_id(ns->keys[0].pkey), EVP_PKEY_RSA);
	ck_assert_str_eq(ns->keys[1].kid, "k2");
	ck_assert_int_eq(ns->keys[1].alg, KEY_ALG_ES256);
	ck_assert_int_eq(EVP_PKEY_get_base_id(ns->keys[1].pkey), EVP_PKEY_EC);
	ck_assert_ptr_eq(conf_find_key(ns, "r", 1), &ns->keys[0]);
	ck_assert_ptr_eq(conf_find_key(ns, "k2xyz", 2), &ns->keys[1]);
	ck_assert_ptr_null(conf_find_key(ns, "k", 1));
	ck_assert_uint_eq(ns->nfunctions, 2);

	f = &ns->functions[0];
	ck_assert_str_eq(f->id, "f-1");
	ck_assert_str_eq(f->name, "hello");
	ck_assert_ptr_eq(f->ns, ns);
	ck_assert_uint_eq(f->index, 0);
	ck_assert_int_eq(atomic_load(&f->privacy), PRIVACY_PUBLIC);
	ck_assert_int_eq(f->privacy_configured, PRIVACY_PUBLIC);
	ck_assert_uint_eq(f->nhosts, 2);
	ck_assert_str_eq(f->hosts[0], "hello.example.com");
	ck_assert_str_eq(f->hosts[1], "*.apps.example.com");
	ck_assert_str_eq(f->path_prefix, "/hello");
	ck_assert_uint_eq(f->path_prefix_len, 6);
	ck_assert(!f->strip_prefix);
	ck_assert(!f->upstream_h2);
	ck_assert(ns->functions[1].upstream_h2);
	/* a function's own keep-alive cap (0: never keep one), the others the global one */
	ck_assert_uint_eq(f->limits.upstream_keepalive, 0);
	ck_assert_uint_eq(ns->functions[1].limits.upstream_keepalive, 7);
	/* localhost is one server per address /etc/hosts gives it (127.0.0.1, and ::1 on Debian) */
	ck_assert_uint_ge(f->nupstreams, 3);
	ck_assert_uint_le(f->nupstreams, 4);
	ck_assert_str_eq(f->upstreams[0].url, "http://127.0.0.1:9000/base/");
	ck_assert_str_eq(f->upstreams[0].host, "127.0.0.1");
	ck_assert_uint_eq(f->upstreams[0].port, 9000);
	ck_assert_str_eq(f->upstreams[0].hostport, "127.0.0.1:9000");
	ck_assert_str_eq(f->upstreams[0].base_path, "/base");
	ck_assert_int_eq(f->upstreams[0].addr.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(((const struct sockaddr_in *)&f->upstreams[0].addr)->sin_port), 9000);
	ck_assert_str_eq(f->upstreams[1].host, "::1");
	ck_assert_str_eq(f->upstreams[1].hostport, "[::1]:9001");
	ck_assert_str_eq(f->upstreams[1].base_path, "");
	ck_assert_int_eq(f->upstreams[1].addr.ss_family, AF_INET6);
	for (size_t k = 2; k < f->nupstreams; k++) {
		ck_assert_str_eq(f->upstreams[k].host, "localhost");
		ck_assert_uint_eq(f->upstreams[k].port, 80);
		ck_assert_str_eq(f->upstreams[k].hostport, "localhost:80");
		ck_assert_uint_gt(f->upstreams[k].addrlen, 0);
		ck_assert_msg(strcmp(f->upstreams[k].addr_text, "127.0.0.1:80") == 0 ||
			      strcmp(f->upstreams[k].addr_text, "[::1]:80") == 0, "%s",
			      f->upstreams[k].addr_text);
		ck_assert_ptr_nonnull(strstr(f->upstreams[k].pool_key, f->upstreams[k].addr_text));
	}
	/* per-function overrides only what is present */
	ck_assert_uint_eq(f->limits.max_body_bytes, 77);
	ck_assert_uint_eq(f->limits.max_header_bytes, 8192);
	ck_assert_uint_eq(f->timeouts.upstream_response_ms, 99);
	ck_assert_uint_eq(f->timeouts.upstream_connect_ms, 3);

	f = &ns->functions[1];
	ck_assert_str_eq(f->id, "bye");      /* defaults to name */
	ck_assert_int_eq(f->privacy_configured, PRIVACY_PRIVATE);       /* deny by default */
	ck_assert_int_eq(atomic_load(&f->privacy), PRIVACY_PRIVATE);
	ck_assert_uint_eq(f->nhosts, 0);
	ck_assert_ptr_null(f->path_prefix);
	ck_assert(f->strip_prefix);
	ck_assert_uint_eq(f->limits.max_body_bytes, 1000);
	ck_assert_uint_eq(f->index, 1);

	ns = &c->namespaces[1];
	ck_assert_str_eq(ns->id, "two");
	ck_assert_ptr_null(ns->issuer);
	ck_assert(!ns->issue_tokens);
	ck_assert(ns->require_registered_tokens);
	ck_assert_ptr_null(ns->signing_key);
	ck_assert_uint_eq(ns->nkeys, 0);
	ck_assert_str_eq(ns->functions[0].id, "two-bye");
	ck_assert_str_eq(ns->functions[0].name, "bye");     /* names are unique per namespace only */
	ck_assert_str_eq(ns->functions[0].path_prefix, "/two");
	/* "h2": HTTP/2 over TLS to an https:// endpoint ("h2c" refuses it) */
	ck_assert(ns->functions[0].upstream_h2);
	ck_assert(ns->functions[0].upstreams[0].tls);

	ck_assert_uint_eq(c->nfunctions, 3);
	ck_assert_ptr_eq(c->functions[2], &c->namespaces[1].functions[0]);
	ck_assert_uint_eq(c->functions[2]->index, 2);
	ck_assert_ptr_eq(conf_find_namespace(c, "n-1"), &c->namespaces[0]);
	ck_assert_ptr_eq(conf_find_namespace(c, "two"), &c->namespaces[1]);
	ck_assert_ptr_null(conf_find_namespace(c, "one"));      /* by id, not by name */
	ck_assert_ptr_eq(conf_find_function(c, "f-1"), c->functions[0]);
	ck_assert_ptr_null(conf_find_function(c, "nope"));

	ck_assert_ptr_nonnull(c->routes);
	ck_assert_ptr_eq(route_match(c->routes, "hello.example.com", 17, "/hello/x", 8), c->functions[0]);
	ck_assert_ptr_eq(route_match(c->routes, "a.apps.example.com", 18, "/hello", 6), c->functions[0]);
	ck_assert_ptr_eq(route_match(c->routes, "other", 5, "/two/x", 6), c->functions[2]);
	ck_assert_ptr_eq(route_match(c->routes, "other", 5, "/x", 2), c->functions[1]);

	conf_unref(c);

	/* generation: a process-wide counter, one step per successful load */
	c = load(full_text, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->generation, gen + 1);
	conf_unref(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf_errors errs = { 0 };
	struct conf *c = load("{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": []}", &errs);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->workers, ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu);
	ck_assert_str_eq(c->state_dir, "/var/lib/fngate");
	ck_assert_uint_eq(c->limits.max_header_bytes, 16384);
	ck_assert_uint_eq(c->limits.max_body_bytes, 6291456);
	ck_assert_uint_eq(c->limits.max_token_bytes, 8192);
	ck_assert_uint_eq(c->limits.max_connections, 10000);
	ck_assert_uint_eq(c->limits.upstream_keepalive, 64);
	ck_assert_uint_eq(c->timeouts.client_header_ms, 10000);
	ck_assert_uint_eq(c->timeouts.client_idle_ms, 60000);
	ck_assert_uint_eq(c->timeouts.upstream_connect_ms, 2000);
	ck_assert_uint_eq(c->timeouts.upstream_response_ms, 30000);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 10000);
	ck_assert_int_eq(c->leeway_s, 60);
	ck_assert(!c->forward_token);
	ck_assert_uint_eq(c->cache_entries, 10000);
	ck_assert_ptr_null(c->access_log);
	ck_assert_str_eq(c->log_format, "json");
	ck_assert_str_eq(c->admin.listen, "127.0.0.1:9090");
	ck_assert_int_eq(((const struct sockaddr_in *)&c->admin.addr)->sin_port, htons(9090));
	ck_assert_uint_eq(c->admin.nkeys, 0);
	ck_assert_uint_eq(c->nnamespaces, 0);
	ck_assert_uint_eq(c->nfunctions, 0);
	ck_assert_ptr_null(route_match(c->routes, "a", 1, "/", 1));
	/* HTTP/2: on, with the safe defaults */
	ck_assert(c->listen[0].http2);
	ck_assert_uint_eq(c->http2.max_concurrent_streams, 100);
	ck_assert_uint_eq(c->http2.initial_window_bytes, 65535);
	ck_assert_uint_eq(c->http2.header_table_bytes, 4096);
	ck_assert_uint_eq(c->http2.max_resets_per_s, 100);
	ck_assert_uint_eq(c->listen[0].h2.max_concurrent_streams, 100);
	conf_unref(c);

	/* a listener's own HTTP/2 limits over the top-level ones; another turns HTTP/2 off */
	c = load("{\"listen\": [\"127.0.0.1:8080\", {\"address\": \"127.0.0.1:8081\", \"http2\": false},"
		 " {\"address\": \"127.0.0.1:8082\", \"http2\": {\"max_concurrent_streams\": 10}}],"
		 " \"http2\": {\"max_resets_per_s\": 7, \"max_concurrent_streams\": 50}, \"namespaces\": []}",
		 &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert(c->listen[0].http2 && !c->listen[1].http2 && c->listen[2].http2);
	ck_assert_uint_eq(c->listen[0].h2.max_concurrent_streams, 50);
	ck_assert_uint_eq(c->listen[2].h2.max_concurrent_streams, 10);
	ck_assert_uint_eq(c->listen[2].h2.max_resets_per_s, 7);
	conf_unref(c);

	/* admin disabled; "-" is stderr */
	c = load("{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [], \"admin\": {\"listen\": null},"
		 " \"access_log\": \"-\"}", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->admin.listen);
	ck_assert_str_eq(c->access_log, "-");
	conf_unref(c);
	ck_assert_uint_eq(errs.n, 0);
}
END_TEST

/* A key from the shared vectors by absolute path; relative ones are tested above. */
START_TEST(test_vector_key)
{
	struct conf_errors errs = { 0 };
	char text[2048];
	struct conf *c;

	snprintf(text, sizeof(text),
		 "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [{\"name\": \"w\", \"keys\": ["
		 "{\"alg\": \"RS256\", \"public_key\": \"%s\"}]}]}",
		 tu_vector_path("wycheproof/derived-pem/RS256_2048.pub.pem"));
	c = load(text, &errs);
	conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(c->namespaces[0].keys[0].pkey);
	ck_assert_str_eq(c->namespaces[0].keys[0].kid, "k1");
	conf_unref(c);
}
END_TEST

/* The shipped examples load (with keys generated where the demo script puts them). */
static void load_example(const char *rel)
{
	struct conf_errors errs = { 0 };
	char path[512], *text;
	size_t len;
	struct conf *c;
	FILE *f;

	text = tu_read_file(tu_source_path(rel), &len);
	ck_assert_msg(text != NULL, "%s", rel);
	snprintf(path, sizeof(path), "%s/example.json", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	free(text);
	c = conf_load(path, &errs);
	conf_errors_print(&errs, stderr);
	ck_assert_msg(c != NULL, "%s does not load", rel);
	conf_unref(c);
}

START_TEST(test_demo_json)
{
	struct conf_errors errs = { 0 };
	char path[512];
	const struct conf_function *f;
	struct conf *c;

	load_example("conf/demo.json");
	snprintf(path, sizeof(path), "%s/example.json", tmpdir);
	c = conf_load(path, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->nnamespaces, 1);
	ck_assert_str_eq(c->namespaces[0].id, "3a8b2c4e-0000-4000-8000-000000000001");
	ck_assert_str_eq(c->namespaces[0].name, "demo");
	ck_assert(c->namespaces[0].issue_tokens);
	ck_assert_int_eq(c->workers, 2);
	ck_assert_str_eq(c->listen[0].address, "127.0.0.1:8080");
	ck_assert_str_eq(c->admin.listen, "127.0.0.1:9090");
	f = route_match(c->routes, "localhost", 9, "/demo/hello", 11);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, "hello");
	ck_assert_int_eq(f->privacy_configured, PRIVACY_PRIVATE);
	f = route_match(c->routes, "localhost", 9, "/demo/public/x", 14);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, "public-echo");
	ck_assert_int_eq(f->privacy_configured, PRIVACY_PUBLIC);
	f = route_match(c->routes, "localhost", 9, "/demo/goodbye", 13);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, "goodbye");
	ck_assert_int_eq(f->privacy_configured, PRIVACY_PRIVATE);
	ck_assert_str_eq(f->upstreams[0].hostport, "127.0.0.1:9000");
	conf_unref(c);
}
END_TEST

START_TEST(test_fngate_json)
{
	load_example("conf/fngate.json");
}
END_TEST

/* ---- jsonpos ---- */

static const struct pos_case {
	const char *path;
	enum jsonpos_part part;
	int line, column;   /* 0: absent */
} pos_cases[] = {
	{ "", JSONPOS_VALUE, 2, 1 },
	{ "a", JSONPOS_KEY, 2, 3 },
	{ "a", JSONPOS_VALUE, 2, 8 },
	{ "a[0]", JSONPOS_VALUE, 2, 9 },
	{ "a[1]", JSONPOS_KEY, 3, 3 },         /* an index always gives the value */
	{ "a[1].b", JSONPOS_KEY, 3, 4 },
	{ "a[1].b", JSONPOS_VALUE, 3, 9 },
	{ "a[1].b[1]", JSONPOS_VALUE, 3, 16 },
	{ "a[2]", JSONPOS_VALUE, 0, 0 },
	{ "a[1].c", JSONPOS_KEY, 0, 0 },
	{ "privacy", JSONPOS_KEY, 4, 3 },      /* written with an escape */
	{ "privacy", JSONPOS_VALUE, 4, 19 },
	{ "\xc3\xa9t\xc3\xa9", JSONPOS_KEY, 5, 3 },
	{ "z", JSONPOS_VALUE, 5, 18 },         /* columns count characters, not bytes */
	{ "s", JSONPOS_VALUE, 6, 8 },
	{ "x", JSONPOS_KEY, 0, 0 },
	{ "a.b", JSONPOS_KEY, 0, 0 },          /* a is an array */
	{ "a[", JSONPOS_KEY, 0, 0 },           /* malformed path */
};

static const char pos_text[] =
	"\n"
	"{ \"a\": [1,\n"
	"  {\"b\": [true, {\"x\": \"]}\\\"\"}], \"n\": null}],\n"
	"  \"priv\\u0061cy\": \"public\",\n"
	"  \"\xc3\xa9t\xc3\xa9\": 1, \"z\": 2,\n"
	"  \"s\": \"a,b}\"}\n";

START_TEST(test_jsonpos)
{
	const struct pos_case *tc = &pos_cases[_i];
	int line = -1, column = -1;
	int rc = jsonpos_find(pos_text, strlen(pos_text), tc->path, tc->part, &line, &column);

	if (tc->line == 0) {
		ck_assert_msg(rc == -1, "path \"%s\" found at %d:%d", tc->path, line, column);
	} else {
		ck_assert_msg(rc == 0, "path \"%s\" not found", tc->path);
		ck_assert_msg(line == tc->line && column == tc->column, "path \"%s\": %d:%d, expected %d:%d",
			      tc->path, line, column, tc->line, tc->column);
	}
}
END_TEST

/* ---- snapshots ---- */

START_TEST(test_refcount_publish)
{
	struct conf_errors errs = { 0 };
	const char *text = "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": []}";
	struct conf *a, *b, *r;

	a = load(text, &errs);
	b = load(text, &errs);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_gt(b->generation, a->generation);
	ck_assert_ptr_null(conf_acquire());

	conf_publish(a);                        /* takes over our reference */
	ck_assert_int_eq(atomic_load(&a->refs), 1);
	r = conf_acquire();
	ck_assert_ptr_eq(r, a);
	ck_assert_int_eq(atomic_load(&a->refs), 2);
	ck_assert_ptr_eq(conf_ref(a), a);
	ck_assert_int_eq(atomic_load(&a->refs), 3);
	conf_unref(a);

	conf_publish(b);                        /* a survives: the request still holds it */
	ck_assert_int_eq(atomic_load(&a->refs), 1);
	ck_assert_uint_eq(a->nlisten, 1);
	r = conf_acquire();
	ck_assert_ptr_eq(r, b);
	conf_unref(r);
	conf_unref(a);                          /* the last reference frees it (valgrind/ASan) */

	conf_publish(NULL);                     /* drops b */
	ck_assert_ptr_null(conf_acquire());
	conf_unref(NULL);
}
END_TEST

static _Atomic int stop_readers;
static _Atomic unsigned long reads;

static void *reader(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!atomic_load(&stop_readers)) {
		struct conf *c = conf_acquire();

		/* the snapshot is whole and alive for as long as we hold it */
		if (c == NULL || c->nlisten != 1 || c->listen[0].address == NULL || atomic_load(&c->refs) < 1)
			abort();
		conf_unref(c);
		n++;
		atomic_fetch_add(&reads, 1);
	}
	return (void *)n;
}

START_TEST(test_publish_race)
{
	struct conf_errors errs = { 0 };
	const char *text = "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": []}";
	pthread_t th[4];
	unsigned long total = 0;
	void *ret;
	size_t i;

	conf_publish(load(text, &errs));
	atomic_store(&stop_readers, 0);
	for (i = 0; i < ARRAY_LEN(th); i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
	/* publish while the readers acquire: at least 300 publishes and 100000 acquisitions */
	for (i = 0; i < 300 || atomic_load(&reads) < 100000; i++) {
		struct conf *c = load(text, &errs);

		ck_assert_ptr_nonnull(c);
		conf_publish(c);
		ck_assert_uint_lt(i, 10000000);
	}
	atomic_store(&stop_readers, 1);
	for (i = 0; i < ARRAY_LEN(th); i++) {
		ck_assert_int_eq(pthread_join(th[i], &ret), 0);
		total += (unsigned long)ret;
	}
	ck_assert_uint_ge(total, 100000);
	conf_publish(NULL);
}
END_TEST

/* ---- the "store" block (fleet mode): every error at its position, and the values ---- */

#define ST_HEAD "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [],\n \"store\": "
#define ST_PG "\"type\": \"postgresql\", \"conninfo\": \"host=db\", "

static const struct err_case store_cases[] = {
	{ "store type", ST_HEAD "{\"type\": \"mysql\"}}", 2, 20,
	  "store.type: must be \"local\" or \"postgresql\"" },
	{ "store not object", ST_HEAD "\"postgresql\"}", 2, 11, "store: must be an object" },
	{ "store unknown key", ST_HEAD "{\"typ\": \"local\"}}", 2, 12, "store.typ: unknown key" },
	{ "store policy", ST_HEAD "{" ST_PG "\"key_file\": \"fleet.key\",\n \"stale_policy\": \"ignore\"}}",
	  3, 18, "store.stale_policy: must be \"refuse\" or \"serve\"" },
	{ "store staleness range", ST_HEAD "{" ST_PG "\"key_file\": \"fleet.key\",\n \"max_staleness_s\": 86401}}",
	  3, 21, "store.max_staleness_s: 86401 is out of range" },
	{ "store staleness type", ST_HEAD "{" ST_PG "\"key_file\": \"fleet.key\",\n \"max_staleness_s\": \"5\"}}",
	  3, 21, "store.max_staleness_s: must be an integer" },
	{ "store no conninfo", ST_HEAD "{\"type\": \"postgresql\", \"key_file\": \"fleet.key\"}}", 2, 2,
	  "store: \"postgresql\" needs \"conninfo\"" },
	{ "store no key_file", ST_HEAD "{" ST_PG "\n \"stale_policy\": \"serve\"}}", 2, 2,
	  "store: \"postgresql\" needs \"key_file\"" },
	{ "store conninfo empty", ST_HEAD "{\"type\": \"postgresql\", \"key_file\": \"fleet.key\",\n \"conninfo\": \"\"}}",
	  3, 14, "store.conninfo: must not be empty" },
	{ "store local with conninfo", ST_HEAD "{\"type\": \"local\",\n \"conninfo\": \"host=db\"}}", 3, 2,
	  "store.conninfo: applies to \"type\": \"postgresql\" only" },
	{ "store key loose mode", ST_HEAD "{" ST_PG "\n \"key_file\": \"loose.key\"}}", 3, 14,
	  "mode 0644 is too open" },
	{ "store key short", ST_HEAD "{" ST_PG "\n \"key_file\": \"short.key\"}}", 3, 14,
	  "must hold exactly 32 bytes" },
	{ "store key missing", ST_HEAD "{" ST_PG "\n \"key_file\": \"none.key\"}}", 3, 14,
	  "No such file or directory" },
};

/* Key files next to the anchor: fleet.key (good), loose.key (0644), short.key (31 bytes). */
static void store_key_files(void)
{
	static const struct { const char *name; size_t len; mode_t mode; } files[] = {
		{"fleet.key", 32, 0600}, {"loose.key", 32, 0644}, {"short.key", 31, 0600},
	};
	char path[4096];

	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i].name);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		for (size_t j = 0; j < files[i].len; j++)
			fputc('k', f);
		fclose(f);
		ck_assert_int_eq(chmod(path, files[i].mode), 0);
	}
}

START_TEST(test_store_errors)
{
	const struct err_case *tc = &store_cases[_i];
	struct conf_errors errs = { 0 };
	struct conf *c;

	store_key_files();
	c = load(tc->text, &errs);
	if (c != NULL || !has_error(&errs, tc->line, tc->column, tc->message)) {
		fprintf(stderr, "case \"%s\": expected %d:%d: %s\n", tc->name, tc->line, tc->column, tc->message);
		conf_errors_print(&errs, stderr);
	}
	ck_assert_msg(c == NULL, "case \"%s\" loaded", tc->name);
	ck_assert_msg(has_error(&errs, tc->line, tc->column, tc->message), "case \"%s\"", tc->name);
	ck_assert_msg(errs.n == 1, "case \"%s\": %zu errors", tc->name, errs.n);
	conf_errors_free(&errs);
}
END_TEST

START_TEST(test_store_values)
{
	static const char pg[] = ST_HEAD "{" ST_PG "\"key_file\": \"fleet.key\",\n"
		" \"max_staleness_s\": 30, \"stale_policy\": \"serve\"}}";
	static const char none[] = "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": []}";
	struct conf_errors errs = { 0 };
	char want[4200];
	struct conf *c;

	store_key_files();
	c = load(pg, &errs);
	conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->store.type, CONF_STORE_POSTGRESQL);
	ck_assert_str_eq(c->store.conninfo, "host=db");
	snprintf(want, sizeof(want), "%s/fleet.key", tmpdir);
	ck_assert_str_eq(c->store.key_file, want);
	ck_assert_uint_eq(c->store.max_staleness_s, 30);
	ck_assert_int_eq(c->store.stale_policy, CONF_STALE_SERVE);
	conf_unref(c);
	/* No block: the local journal, refusing when stale (a policy that never applies to it). */
	c = load(none, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->store.type, CONF_STORE_LOCAL);
	ck_assert_ptr_null(c->store.conninfo);
	ck_assert_uint_eq(c->store.max_staleness_s, 0);
	ck_assert_int_eq(c->store.stale_policy, CONF_STALE_REFUSE);
	conf_unref(c);
	conf_errors_free(&errs);
}
END_TEST

/* The identifier rule shared with the admin API (conf_id_ok). Each row: an id, accepted. */
START_TEST(test_id_rule_table)
{
	static char longest[CONF_ID_MAX + 1], too_long[CONF_ID_MAX + 2];
	static const struct {
		const char *id;
		bool ok;
	} rows[] = {
		{"ns", true}, {"fn-1_a.b", true}, {"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"A", true}, {".", true},
		{"", false}, {"a:b", false}, {"urn:uuid:x", false}, {"a b", false}, {"a/b", false},
		{"a\"b", false}, {"caf\xc3\xa9", false}, {"a\tb", false}, {"%2e", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(conf_id_ok(rows[i].id) == rows[i].ok, "row %zu: %s", i, rows[i].id);
	memset(longest, 'a', CONF_ID_MAX);
	ck_assert(conf_id_ok(longest));
	memset(too_long, 'a', CONF_ID_MAX + 1);
	ck_assert(!conf_id_ok(too_long));
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_error_cases, 0, ARRAY_LEN(err_cases));
	tcase_add_test(tc, test_all_errors_one_pass);
	tcase_add_test(tc, test_too_many_errors);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_full_valid);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_vector_key);
	tcase_add_test(tc, test_demo_json);
	tcase_add_test(tc, test_fngate_json);
	tcase_add_loop_test(tc, test_jsonpos, 0, ARRAY_LEN(pos_cases));
	tcase_add_test(tc, test_refcount_publish);
	tcase_add_test(tc, test_publish_race);
	tcase_add_loop_test(tc, test_store_errors, 0, ARRAY_LEN(store_cases));
	tcase_add_test(tc, test_store_values);
	tcase_add_test(tc, test_id_rule_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{

	make_keys();
	return tu_run(conf_suite());
}
