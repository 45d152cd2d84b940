/* test_tls.c - tls.c driven in memory: certificate checks, SNI choice, ALPN, minimum version,
 * session tickets across rotations and reloads, upstream verification and client certificates.
 *
 * Every certificate is made here at start (EC P-256, signed by a test CA made here too), so
 * validity dates can be set in the past or future. A handshake is two SSL objects joined by a
 * BIO pair and pumped until both finish or one fails. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "testutil.h"
#include "tls.h"
#include "util.h"

static char dir[256];
static long serial_next = 1;

static const char *path_of(const char *name)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void write_key(const char *name, EVP_PKEY *k, bool encrypted)
{
	FILE *f = fopen(path_of(name), "w");

	ck_assert_ptr_nonnull(f);
	if (encrypted)
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(), NULL, 0, NULL,
						      (void *)"secret"), 1);
	else
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void write_cert(const char *name, X509 *x)
{
	FILE *f = fopen(path_of(name), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, x), 1);
	fclose(f);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for `key` named cn (and san when not NULL), valid from now+nb to now+na
 * seconds, signed by issuer/ikey (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *ikey,
		       long nb, long na, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *n;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial_next++);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	if (san != NULL)
		add_ext(x, issuer != NULL ? issuer : x, NID_subject_alt_name, san);
	if (ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	ck_assert_int_gt(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()), 0);
	return x;
}

/* name.crt / name.key signed by the test CA. */
static void make_pair(X509 *ca, EVP_PKEY *cakey, const char *name, const char *cn, const char *san,
		      long nb, long na)
{
	char crt[64], key[64];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x;

	ck_assert_ptr_nonnull(k);
	x = make_cert(k, cn, san, ca, cakey, nb, na, false);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(key, sizeof(key), "%s.key", name);
	write_cert(crt, x);
	write_key(key, k, false);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void write_text(const char *name, const char *text)
{
	FILE *f = fopen(path_of(name), "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Run once, before the forked tests: the whole PKI of this file. */
static void pki_setup(void)
{
	EVP_PKEY *cakey = EVP_EC_gen("P-256"), *okey = EVP_EC_gen("P-256"), *ak;
	X509 *ca, *other;
	const char *t = tu_tempdir();

	ck_assert_ptr_nonnull(t);
	snprintf(dir, sizeof(dir), "%s", t);
	ca = make_cert(cakey, "fngate test CA", NULL, NULL, NULL, -86400, 10 * 86400, true);
	write_cert("ca.crt", ca);
	make_pair(ca, cakey, "a", "a.test", "DNS:a.test,DNS:localhost,IP:127.0.0.1", -3600, 86400);
	make_pair(ca, cakey, "b", "b.test", "DNS:b.test,DNS:*.wild.test", -3600, 86400);
	make_pair(ca, cakey, "cn", "cn.test", NULL, -3600, 86400);
	make_pair(ca, cakey, "expired", "old.test", "DNS:old.test", -2 * 86400, -86400);
	make_pair(ca, cakey, "future", "new.test", "DNS:new.test", 86400, 2 * 86400);
	make_pair(ca, cakey, "client", "client-1", NULL, -3600, 86400);
	/* Another CA's certificate for the same names as a: fails verification against ca.crt. */
	other = make_cert(okey, "a.test", "DNS:a.test,DNS:localhost,IP:127.0.0.1", NULL, NULL, -3600,
			  86400, false);
	write_cert("other.crt", other);
	write_key("other.key", okey, false);
	/* a's key, encrypted */
	ak = EVP_PKEY_new();
	{
		FILE *f = fopen(path_of("a.key"), "r");

		ck_assert_ptr_nonnull(f);
		EVP_PKEY_free(ak);
		ak = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		ck_assert_ptr_nonnull(ak);
	}
	write_key("enc.key", ak, true);
	{
		EVP_PKEY *rsa = EVP_RSA_gen(2048);
		FILE *f = fopen(path_of("ns.pub"), "w");

		ck_assert_ptr_nonnull(rsa);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(PEM_write_PUBKEY(f, rsa), 1);
		fclose(f);
		EVP_PKEY_free(rsa);
	}
	write_text("garbage.pem", "this is not PEM\n");
	write_text("empty.pem", "");
	ck_assert_int_eq(mkdir(path_of("adir"), 0700), 0);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(okey);
	X509_free(ca);
	X509_free(other);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void pki_teardown(void)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- handshakes in memory ---- */

/* Pump a handshake; 0 when both sides completed, -1 when one failed. */
static int pump(SSL *cli, SSL *srv)
{
	bool cdone = false, sdone = false;

	for (int i = 0; i < 64 && !(cdone && sdone); i++) {
		SSL *v[2] = {cli, srv};
		bool *done[2] = {&cdone, &sdone};

		for (int k = 0; k < 2; k++) {
			int r, e;

			if (*done[k])
				continue;
			r = SSL_do_handshake(v[k]);
			if (r == 1) {
				*done[k] = true;
				continue;
			}
			e = SSL_get_error(v[k], r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return -1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

static void join(SSL *cli, SSL *srv)
{
	BIO *b1, *b2;

	ck_assert_int_eq(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
	SSL_set_bio(cli, b1, b1);
	SSL_set_bio(srv, b2, b2);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
}

/* After the handshake: a byte each way, so the client reads the TLS 1.3 tickets. */
static void exchange(SSL *cli, SSL *srv)
{
	char c = 0;

	ck_assert_int_eq(SSL_write(srv, "s", 1), 1);
	ck_assert_int_eq(SSL_read(cli, &c, 1), 1);
	ck_assert_int_eq(c, 's');
	ck_assert_int_eq(SSL_write(cli, "c", 1), 1);
	ck_assert_int_eq(SSL_read(srv, &c, 1), 1);
	ck_assert_int_eq(c, 'c');
}

/* A bare client: no verification (the tests look at what the server chose), optional SNI and
 * ALPN list, version bounds (0: library default). */
static SSL *raw_client(SSL_CTX **ctxp, const char *sni, const unsigned char *alpn, size_t alpnlen,
		       int minv, int maxv)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	ck_assert_ptr_nonnull(ctx);
	if (minv != 0) {
		/* old versions need the old ciphers and security level 0 */
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
		ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, minv), 1);
	}
	if (maxv != 0)
		ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, maxv), 1);
	if (alpn != NULL)
		ck_assert_int_eq(SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alpnlen), 0);
	ssl = SSL_new(ctx);
	ck_assert_ptr_nonnull(ssl);
	if (sni != NULL)
		ck_assert_int_eq(SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
					  (void *)(uintptr_t)sni), 1);
	*ctxp = ctx;
	return ssl;
}

/* The server of most tests: a (default) and b (SNI), optionally cn. */
static struct tls_server *server_ab(int minv, bool with_cn)
{
	char err[512] = "";
	enum tls_file which;
	struct tls_server *s = tls_server_new(minv, err, sizeof(err));

	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_msg(tls_server_add(s, path_of("a.crt"), path_of("a.key"), err, sizeof(err), &which) == 0,
		      "%s", err);
	ck_assert_msg(tls_server_add(s, path_of("b.crt"), path_of("b.key"), err, sizeof(err), &which) == 0,
		      "%s", err);
	if (with_cn)
		ck_assert_msg(tls_server_add(s, path_of("cn.crt"), path_of("cn.key"), err, sizeof(err),
					     &which) == 0, "%s", err);
	return s;
}

static void peer_cn(SSL *ssl, char *out, size_t len)
{
	X509 *x = SSL_get1_peer_certificate(ssl);

	ck_assert_ptr_nonnull(x);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
						   (int)len), 0);
	X509_free(x);
}

/* ---- tests ---- */

START_TEST(test_version_names)
{
	static const struct {
		const char *name;
		int want;
	} t[] = {
		{"TLS1.2", TLS1_2_VERSION}, {"TLS1.3", TLS1_3_VERSION}, {"TLS1.1", 0}, {"TLS1.0", 0},
		{"SSL3", 0}, {"tls1.2", 0}, {"TLS1.2 ", 0}, {"", 0}, {NULL, 0},
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		ck_assert_msg(tls_version_from_name(t[i].name) == t[i].want, "%s", t[i].name ? t[i].name : "NULL");
	ck_assert_ptr_null(tls_server_new(TLS1_1_VERSION, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "TLS1.2"));
}
END_TEST

/* What `fngate check` refuses, with the file at fault and a message saying why. */
START_TEST(test_pair_refusals)
{
	static const struct {
		const char *cert, *key;
		enum tls_file which;
		const char *msg;
	} t[] = {
		{"a.crt", "a.key", TLS_FILE_NONE, NULL},
		{"missing.crt", "a.key", TLS_FILE_CERT, "No such file or directory"},
		{"a.crt", "missing.key", TLS_FILE_KEY, "No such file or directory"},
		{"a.crt", "b.key", TLS_FILE_KEY, "does not match the certificate"},
		{"expired.crt", "expired.key", TLS_FILE_CERT, "expired on"},
		{"future.crt", "future.key", TLS_FILE_CERT, "not valid before"},
		{"garbage.pem", "a.key", TLS_FILE_CERT, "not a PEM certificate"},
		{"empty.pem", "a.key", TLS_FILE_CERT, "is empty"},
		{"adir", "a.key", TLS_FILE_CERT, "not a regular file"},
		{"a.crt", "garbage.pem", TLS_FILE_KEY, "cannot be loaded"},
		{"a.crt", "enc.key", TLS_FILE_KEY, "unencrypted"},
		{"a.key", "a.key", TLS_FILE_CERT, "not a PEM certificate"},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		char err[768] = "";
		enum tls_file which = TLS_FILE_CA;
		struct tls_server *s = tls_server_new(TLS1_2_VERSION, err, sizeof(err));
		int rc;

		ck_assert_ptr_nonnull(s);
		rc = tls_server_add(s, path_of(t[i].cert), path_of(t[i].key), err, sizeof(err), &which);
		ck_assert_msg(rc == (t[i].msg == NULL ? 0 : -1), "case %zu: rc %d (%s)", i, rc, err);
		ck_assert_msg(which == t[i].which, "case %zu: which %d, want %d (%s)", i, which, t[i].which, err);
		if (t[i].msg != NULL) {
			ck_assert_msg(strstr(err, t[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, t[i].msg);
			/* the message names the file at fault */
			ck_assert_msg(strstr(err, which == TLS_FILE_KEY ? t[i].key : t[i].cert) != NULL,
				      "case %zu: %s", i, err);
		}
		ck_assert_uint_eq(tls_server_count(s), t[i].msg == NULL ? 1 : 0);
		tls_server_unref(s);
	}
}
END_TEST

START_TEST(test_names)
{
	struct tls_server *s = server_ab(TLS1_2_VERSION, true);
	const char *const *v;
	size_t n;

	v = tls_server_names(s, 0, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0], "a.test");
	ck_assert_str_eq(v[1], "localhost");     /* IP SANs are not SNI names */
	v = tls_server_names(s, 1, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[1], "*.wild.test");
	v = tls_server_names(s, 2, &n);        /* no SAN: the subject CN */
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0], "cn.test");
	ck_assert_ptr_null(tls_server_names(s, 3, &n));
	tls_server_unref(s);
}
END_TEST

START_TEST(test_sni)
{
	static const struct {
		const char *sni;
		const char *cn;
	} t[] = {
		{"a.test", "a.test"}, {"b.test", "b.test"}, {"B.Test", "b.test"}, {"cn.test", "cn.test"},
		{"x.wild.test", "b.test"}, {"wild.test", "a.test"}, {"y.x.wild.test", "a.test"},
		{"unknown.test", "a.test"}, {NULL, "a.test"}, {"localhost", "a.test"},
	};
	struct tls_server *s = server_ab(TLS1_2_VERSION, true);

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		SSL_CTX *cctx;
		SSL *cli = raw_client(&cctx, t[i].sni, NULL, 0, 0, 0);
		SSL *srv = tls_server_ssl_new(s, false);
		char cn[128];

		ck_assert_ptr_nonnull(srv);
		join(cli, srv);
		ck_assert_msg(pump(cli, srv) == 0, "case %zu: handshake failed", i);
		peer_cn(cli, cn, sizeof(cn));
		ck_assert_msg(strcmp(cn, t[i].cn) == 0, "SNI %s: served %s, want %s",
			      t[i].sni ? t[i].sni : "(none)", cn, t[i].cn);
		SSL_free(cli);
		SSL_free(srv);
		SSL_CTX_free(cctx);
	}
	tls_server_unref(s);
}
END_TEST

START_TEST(test_alpn)
{
	static const struct {
		const char *offer;
		size_t len;
		bool h2;                /* the listener speaks HTTP/2 */
		bool ok;
		const char *chosen;
	} t[] = {
		{"\x08http/1.1", 9, false, true, "http/1.1"},
		{"\x02h2\x08http/1.1", 12, false, true, "http/1.1"},
		{"\x08http/1.0", 9, false, true, "http/1.0"},
		{"\x08http/1.0\x08http/1.1", 18, false, true, "http/1.1"},   /* ours first */
		{"\x02h2", 3, false, false, NULL},
		{NULL, 0, false, true, ""},                    /* no ALPN at all: fine */
		{"\x08http/1.1\x02h2", 12, true, true, "h2"},   /* ours first: h2 */
		{"\x02h2", 3, true, true, "h2"},
		{"\x08http/1.1", 9, true, true, "http/1.1"},
		{"\x05spdy3", 6, true, false, NULL},
	};
	struct tls_server *s = server_ab(TLS1_2_VERSION, false);

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		SSL_CTX *cctx;
		SSL *cli = raw_client(&cctx, NULL, (const unsigned char *)t[i].offer, t[i].len, 0, 0);
		SSL *srv = tls_server_ssl_new(s, t[i].h2);
		const unsigned char *p;
		unsigned int n;
		int rc;

		join(cli, srv);
		rc = pump(cli, srv);
		ck_assert_msg((rc == 0) == t[i].ok, "case %zu: rc %d", i, rc);
		if (t[i].ok) {
			SSL_get0_alpn_selected(cli, &p, &n);
			ck_assert_msg(n == strlen(t[i].chosen) && (n == 0 || memcmp(p, t[i].chosen, n) == 0),
				      "case %zu: chose %.*s", i, (int)n, p ? (const char *)p : "");
			ck_assert(tls_alpn_h2(srv) == (strcmp(t[i].chosen, "h2") == 0));
		}
		SSL_free(cli);
		SSL_free(srv);
		SSL_CTX_free(cctx);
	}
	tls_server_unref(s);
}
END_TEST

START_TEST(test_min_version)
{
	static const struct {
		int server_min;
		int client_min, client_max;
		bool ok;
	} t[] = {
		{TLS1_2_VERSION, TLS1_VERSION, TLS1_VERSION, false},
		{TLS1_2_VERSION, TLS1_1_VERSION, TLS1_1_VERSION, false},
		{TLS1_2_VERSION, TLS1_2_VERSION, TLS1_2_VERSION, true},
		{TLS1_2_VERSION, TLS1_3_VERSION, TLS1_3_VERSION, true},
		{TLS1_3_VERSION, TLS1_2_VERSION, TLS1_2_VERSION, false},
		{TLS1_3_VERSION, TLS1_2_VERSION, TLS1_3_VERSION, true},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		struct tls_server *s = server_ab(t[i].server_min, false);
		SSL_CTX *cctx;
		SSL *cli = raw_client(&cctx, NULL, NULL, 0, t[i].client_min, t[i].client_max);
		SSL *srv = tls_server_ssl_new(s, false);
		int rc;

		join(cli, srv);
		rc = pump(cli, srv);
		ck_assert_msg((rc == 0) == t[i].ok, "case %zu: rc %d", i, rc);
		SSL_free(cli);
		SSL_free(srv);
		SSL_CTX_free(cctx);
		tls_server_unref(s);
	}
}
END_TEST

/* The control of test_min_version: this client can speak TLS 1.0/1.1 to a server that allows
 * them, so its failure against tls.c's servers is theirs. */
START_TEST(test_old_client_control)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx;
	SSL *cli, *srv;

	ck_assert_ptr_nonnull(sctx);
	SSL_CTX_set_security_level(sctx, 0);
	SSL_CTX_set_cipher_list(sctx, "DEFAULT@SECLEVEL=0");
	ck_assert_int_eq(SSL_CTX_set_min_proto_version(sctx, TLS1_VERSION), 1);
	ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, path_of("a.crt")), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, path_of("a.key"), SSL_FILETYPE_PEM), 1);
	cli = raw_client(&cctx, NULL, NULL, 0, TLS1_1_VERSION, TLS1_1_VERSION);
	srv = SSL_new(sctx);
	join(cli, srv);
	ck_assert_int_eq(pump(cli, srv), 0);
	ck_assert_int_eq(SSL_version(cli), TLS1_1_VERSION);
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}
END_TEST

/* One client connection to s, resuming `sess` when given; returns the new session and whether
 * it was resumed. */
static SSL_SESSION *connect_once(struct tls_server *s, SSL_SESSION *sess, int maxv, bool *reused)
{
	SSL_CTX *cctx;
	SSL *cli = raw_client(&cctx, "b.test", NULL, 0, 0, maxv);
	SSL *srv = tls_server_ssl_new(s, false);
	SSL_SESSION *out;

	if (sess != NULL)
		ck_assert_int_eq(SSL_set_session(cli, sess), 1);
	join(cli, srv);
	ck_assert_int_eq(pump(cli, srv), 0);
	exchange(cli, srv);
	*reused = SSL_session_reused(cli) == 1;
	ck_assert_int_eq(SSL_session_reused(srv), *reused);
	out = SSL_get1_session(cli);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(SSL_SESSION_is_resumable(out), 1);
	/* A TLS 1.2 session freed without close_notify is marked not resumable by OpenSSL. */
	SSL_shutdown(cli);
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	return out;
}

START_TEST(test_resumption)
{
	static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

	for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
		struct tls_server *s = server_ab(TLS1_2_VERSION, false), *s2;
		SSL_SESSION *first, *next;
		bool reused;

		first = connect_once(s, NULL, versions[i], &reused);
		ck_assert(!reused);
		/* same keys */
		next = connect_once(s, first, versions[i], &reused);
		ck_assert_msg(reused, "version %x: not resumed", versions[i]);
		SSL_SESSION_free(next);
		/* a reload: new contexts, same process-wide ticket keys */
		s2 = server_ab(TLS1_2_VERSION, false);
		next = connect_once(s2, first, versions[i], &reused);
		ck_assert_msg(reused, "version %x: not resumed after a reload", versions[i]);
		SSL_SESSION_free(next);
		/* one rotation: the previous key still decrypts */
		ck_assert_int_eq(tls_tickets_rotate_now(), 0);
		next = connect_once(s2, first, versions[i], &reused);
		ck_assert_msg(reused, "version %x: not resumed after one rotation", versions[i]);
		SSL_SESSION_free(next);
		/* two rotations: the key is gone, a full handshake */
		ck_assert_int_eq(tls_tickets_rotate_now(), 0);
		next = connect_once(s2, first, versions[i], &reused);
		ck_assert_msg(!reused, "version %x: resumed with a retired key", versions[i]);
		SSL_SESSION_free(next);
		SSL_SESSION_free(first);
		tls_server_unref(s);
		tls_server_unref(s2);
	}
}
END_TEST

START_TEST(test_rotation_schedule)
{
	int64_t t0 = 1800000000;

	ck_assert_int_eq(tls_tickets_rotate(t0), 1);        /* no key yet */
	ck_assert_int_eq(tls_tickets_rotate(t0 + 1), 0);
	ck_assert_int_eq(tls_tickets_rotate(t0 + TLS_TICKET_ROTATE_S - 1), 0);
	ck_assert_int_eq(tls_tickets_rotate(t0 + TLS_TICKET_ROTATE_S), 1);
	ck_assert_int_eq(tls_tickets_rotate(t0 + TLS_TICKET_ROTATE_S + 10), 0);
	ck_assert_int_eq(tls_tickets_rotate(t0), 1);        /* the clock went back: a new key */
}
END_TEST

/* An SSL keeps its certificates after the configuration that made them is gone (a reload). */
START_TEST(test_ssl_outlives_server)
{
	struct tls_server *s = server_ab(TLS1_2_VERSION, false);
	SSL_CTX *cctx;
	SSL *cli = raw_client(&cctx, "b.test", NULL, 0, 0, 0);
	SSL *srv = tls_server_ssl_new(s, false);
	char cn[64];

	tls_server_unref(s);        /* the snapshot's reference: srv holds the last one */
	join(cli, srv);
	ck_assert_int_eq(pump(cli, srv), 0);    /* the SNI callback reads s */
	peer_cn(cli, cn, sizeof(cn));
	ck_assert_str_eq(cn, "b.test");
	exchange(cli, srv);
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
}
END_TEST

/* Upstream side: tls_client against tls_server; verification by CA and by host. */
START_TEST(test_client_verify)
{
	static const struct {
		const char *ca;        /* NULL: system store */
		const char *server;    /* certificate the server presents */
		const char *host;
		bool ok;
		const char *why;
	} t[] = {
		{"ca.crt", "a", "localhost", true, NULL},
		{"ca.crt", "a", "a.test", true, NULL},
		{"ca.crt", "a", "127.0.0.1", true, NULL},           /* IP SAN, no SNI sent */
		{"ca.crt", "b", "x.wild.test", true, NULL},
		{"ca.crt", "a", "b.test", false, "hostname mismatch"},
		{"ca.crt", "a", "127.0.0.2", false, "IP address mismatch"},
		{"ca.crt", "other", "localhost", false, "self-signed certificate"},
		{NULL, "a", "localhost", false, "unable to get local issuer certificate"},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		char err[512] = "", why[256] = "", name[32];
		enum tls_file which;
		struct tls_client *c = tls_client_new(t[i].ca ? path_of(t[i].ca) : NULL, NULL, NULL, err,
						      sizeof(err), &which);
		struct tls_server *s = tls_server_new(TLS1_2_VERSION, err, sizeof(err));
		SSL *cli, *srv;
		char crt[32], key[32];
		int rc;

		ck_assert_msg(c != NULL, "%s", err);
		ck_assert_ptr_nonnull(s);
		snprintf(crt, sizeof(crt), "%s.crt", t[i].server);
		snprintf(key, sizeof(key), "%s.key", t[i].server);
		ck_assert_msg(tls_server_add(s, path_of(crt), path_of(key), err, sizeof(err), &which) == 0,
			      "%s", err);
		cli = tls_client_ssl_new(c, t[i].host, false);
		srv = tls_server_ssl_new(s, false);
		ck_assert_ptr_nonnull(cli);
		join(cli, srv);
		rc = pump(cli, srv);
		ck_assert_msg((rc == 0) == t[i].ok, "case %zu: rc %d", i, rc);
		if (t[i].ok) {
			/* SNI went out for names only, and it chose the server's certificate */
			const char *sn = SSL_get_servername(srv, TLSEXT_NAMETYPE_host_name);

			if (strcmp(t[i].host, "127.0.0.1") == 0)
				ck_assert_ptr_null(sn);
			else
				ck_assert_str_eq(sn, t[i].host);
			peer_cn(cli, name, sizeof(name));
		} else {
			tls_failure_reason(cli, ERR_peek_error(), why, sizeof(why));
			ck_assert_msg(strstr(why, t[i].why) != NULL, "case %zu: \"%s\"", i, why);
		}
		ERR_clear_error();
		if (t[i].ca != NULL)
			ck_assert_uint_eq(strlen(tls_client_id(c)), 16);
		else
			ck_assert_str_eq(tls_client_id(c), "system");
		SSL_free(cli);
		SSL_free(srv);
		tls_server_unref(s);
		tls_client_unref(c);
	}
}
END_TEST

START_TEST(test_client_ids_and_refusals)
{
	char err[512] = "";
	enum tls_file which;
	struct tls_client *sys = tls_client_new(NULL, NULL, NULL, err, sizeof(err), &which);
	struct tls_client *ca = tls_client_new(path_of("ca.crt"), NULL, NULL, err, sizeof(err), &which);
	struct tls_client *mtls = tls_client_new(path_of("ca.crt"), path_of("client.crt"),
						 path_of("client.key"), err, sizeof(err), &which);

	ck_assert_ptr_nonnull(sys);
	ck_assert_ptr_nonnull(ca);
	ck_assert_msg(mtls != NULL, "%s", err);
	ck_assert_str_eq(tls_client_id(sys), "system");
	ck_assert_uint_eq(strlen(tls_client_id(ca)), 16);
	ck_assert_str_ne(tls_client_id(ca), tls_client_id(mtls));
	tls_client_unref(sys);
	tls_client_unref(ca);
	tls_client_unref(mtls);

	ck_assert_ptr_null(tls_client_new(path_of("missing.pem"), NULL, NULL, err, sizeof(err), &which));
	ck_assert_int_eq(which, TLS_FILE_CA);
	ck_assert_ptr_nonnull(strstr(err, "missing.pem"));
	ck_assert_ptr_null(tls_client_new(path_of("garbage.pem"), NULL, NULL, err, sizeof(err), &which));
	ck_assert_int_eq(which, TLS_FILE_CA);
	ck_assert_ptr_null(tls_client_new(NULL, path_of("client.crt"), NULL, err, sizeof(err), &which));
	ck_assert_int_eq(which, TLS_FILE_KEY);
	ck_assert_ptr_null(tls_client_new(NULL, path_of("client.crt"), path_of("a.key"), err, sizeof(err),
					  &which));
	ck_assert_int_eq(which, TLS_FILE_KEY);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
	ck_assert_ptr_null(tls_client_new(NULL, path_of("expired.crt"), path_of("expired.key"), err,
					  sizeof(err), &which));
	ck_assert_int_eq(which, TLS_FILE_CERT);
}
END_TEST

/* mTLS: a server that requires a client certificate from the test CA. */
START_TEST(test_client_certificate)
{
	for (int with = 0; with < 2; with++) {
		char err[512] = "", cn[64];
		enum tls_file which;
		struct tls_client *c = tls_client_new(path_of("ca.crt"), with ? path_of("client.crt") : NULL,
						      with ? path_of("client.key") : NULL, err, sizeof(err),
						      &which);
		SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
		SSL *cli, *srv;
		int rc;

		ck_assert_msg(c != NULL, "%s", err);
		ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, path_of("a.crt")), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, path_of("a.key"), SSL_FILETYPE_PEM), 1);
		ck_assert_int_eq(SSL_CTX_load_verify_locations(sctx, path_of("ca.crt"), NULL), 1);
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		cli = tls_client_ssl_new(c, "localhost", false);
		srv = SSL_new(sctx);
		join(cli, srv);
		rc = pump(cli, srv);
		if (rc == 0) {
			/* TLS 1.3: the server checks the client's certificate after the client finished */
			char ch = 0;

			SSL_write(cli, "c", 1);
			rc = SSL_read(srv, &ch, 1) == 1 ? 0 : -1;
		}
		ck_assert_msg((rc == 0) == (with == 1), "with=%d: rc %d", with, rc);
		if (with) {
			peer_cn(srv, cn, sizeof(cn));
			ck_assert_str_eq(cn, "client-1");
		}
		ERR_clear_error();
		SSL_free(cli);
		SSL_free(srv);
		SSL_CTX_free(sctx);
		tls_client_unref(c);
	}
}
END_TEST

/* ---- the configuration keys (conf.c) ---- */

/* A configuration in dir with `listen` and a function's `extra` members spliced in. */
static struct conf *conf_with(const char *listen, const char *upstreams, const char *extra,
			      struct conf_errors *errs)
{
	char text[4096], file[600];

	snprintf(file, sizeof(file), "%s/fngate.json", dir);
	snprintf(text, sizeof(text),
		 "{\n"
		 "  \"listen\": %s,\n"
		 "  \"admin\": {\"listen\": null},\n"
		 "  \"namespaces\": [{\"name\": \"ns\", \"keys\": [{\"alg\": \"RS256\", \"public_key\": \"ns.pub\"}],\n"
		 "    \"functions\": [{\"name\": \"f\", \"privacy\": \"public\",\n"
		 "      \"upstreams\": %s%s}]}]\n"
		 "}\n", listen, upstreams, extra);
	return conf_load_string(text, strlen(text), file, errs);
}

START_TEST(test_conf_listen_tls)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_with(
	    "[\"127.0.0.1:8080\", {\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\", "
	    "\"key\": \"a.key\", \"min_version\": \"TLS1.3\", \"certificates\": [{\"cert\": \"b.crt\", "
	    "\"key\": \"b.key\"}]}}, {\"address\": \"127.0.0.1:8081\"}]",
	    "[\"https://localhost:9443/base\", \"http://127.0.0.1:9000\"]",
	    ", \"upstream_tls\": {\"ca\": \"ca.crt\"}", &errs);
	size_t n;

	if (c == NULL)
		conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->nlisten, 3);
	ck_assert_ptr_null(c->listen[0].tls);
	ck_assert_ptr_nonnull(c->listen[1].tls);
	ck_assert_ptr_null(c->listen[2].tls);
	ck_assert_str_eq(c->listen[1].address, "127.0.0.1:8443");
	ck_assert_uint_eq(tls_server_count(c->listen[1].tls), 2);
	ck_assert_str_eq(tls_server_names(c->listen[1].tls, 1, &n)[0], "b.test");
	ck_assert(c->functions[0]->upstreams[0].tls);
	ck_assert_ptr_nonnull(c->functions[0]->upstreams[0].tls_client);
	ck_assert_uint_eq(c->functions[0]->upstreams[0].port, 9443);
	ck_assert_str_eq(c->functions[0]->upstreams[0].base_path, "/base");
	ck_assert_str_eq(c->functions[0]->upstreams[0].hostport, "localhost:9443");
	/* A name: one entry per address of localhost (one or two, by /etc/hosts), each keyed by
	 * its address and the TLS identity. */
	ck_assert_uint_ge(c->functions[0]->nupstreams, 2);
	for (n = 0; n + 1 < c->functions[0]->nupstreams; n++) {
		const struct conf_upstream *u = &c->functions[0]->upstreams[n];
		char want[128];

		snprintf(want, sizeof(want), "https://localhost:9443@%s#", u->addr_text);
		ck_assert(u->tls);
		ck_assert_int_eq(strncmp(u->pool_key, want, strlen(want)), 0);
	}
	/* An address literal over http: no key of its own (hostport is the key). */
	ck_assert(!c->functions[0]->upstreams[n].tls);
	ck_assert_ptr_null(c->functions[0]->upstreams[n].pool_key);
	ck_assert_str_eq(c->functions[0]->upstreams[n].addr_text, "127.0.0.1:9000");
	conf_unref(c);
	/* https without upstream_tls: the system store, default port 443 */
	c = conf_with("[\"127.0.0.1:8080\"]", "[\"https://127.0.0.1\"]", "", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->functions[0]->upstreams[0].port, 443);
	ck_assert_str_eq(c->functions[0]->upstreams[0].pool_key, "https://127.0.0.1:443");
	conf_unref(c);
	conf_errors_free(&errs);
}
END_TEST

/* Refusals point at the key at fault: line 2 holds "listen", line 6 the function's upstreams. */
START_TEST(test_conf_tls_refusals)
{
	static const struct {
		const char *listen, *upstreams, *extra;
		int line;
		const char *path, *msg;
	} t[] = {
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\", \"key\": \"b.key\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.key", "does not match"},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"expired.crt\", \"key\": \"expired.key\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.cert", "expired on"},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"nope.crt\", \"key\": \"a.key\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.cert", "No such file"},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\", \"key\": \"a.key\", "
		 "\"certificates\": [{\"cert\": \"b.crt\", \"key\": \"a.key\"}]}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.certificates[0].key", "does not match"},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\", \"key\": \"a.key\", "
		 "\"min_version\": \"TLS1.1\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.min_version", "TLS 1.0 and 1.1 are refused"},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"min_version\": \"TLS1.2\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls", "needs \"cert\" and \"key\""},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.key", "missing"},
		{"[{\"adress\": \"127.0.0.1:8443\"}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].adress", "did you mean \"address\""},
		{"[{\"address\": \"127.0.0.1:8443\", \"tls\": {\"cert\": \"a.crt\", \"key\": \"a.key\", \"ciphers\": \"x\"}}]",
		 "[\"http://127.0.0.1:9000\"]", "", 2, "listen[0].tls.ciphers", "unknown key"},
		{"[\"127.0.0.1:8080\"]", "[\"ftp://127.0.0.1:9000\"]", "", 6, "functions[0].upstreams[0]", "http(s)://"},
		{"[\"127.0.0.1:8080\"]", "[\"http://127.0.0.1:9000\"]", ", \"upstream_tls\": {\"ca\": \"ca.crt\"}",
		 6, "functions[0].upstream_tls", "no upstream is https://"},
		{"[\"127.0.0.1:8080\"]", "[\"https://127.0.0.1:9000\"]", ", \"upstream_tls\": {\"ca\": \"nope.pem\"}",
		 6, "functions[0].upstream_tls.ca", "No such file"},
		{"[\"127.0.0.1:8080\"]", "[\"https://127.0.0.1:9000\"]",
		 ", \"upstream_tls\": {\"cert\": \"client.crt\", \"key\": \"a.key\"}",
		 6, "functions[0].upstream_tls.key", "does not match"},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		struct conf_errors errs = {0};
		struct conf *c = conf_with(t[i].listen, t[i].upstreams, t[i].extra, &errs);
		bool found = false;

		ck_assert_msg(c == NULL, "case %zu accepted", i);
		for (size_t k = 0; k < errs.n; k++) {
			const struct conf_error *e = &errs.v[k];

			if (strstr(e->message, t[i].path) != NULL && strstr(e->message, t[i].msg) != NULL &&
			    e->line == t[i].line && e->column > 0)
				found = true;
		}
		if (!found)
			conf_errors_print(&errs, stderr);
		ck_assert_msg(found, "case %zu: no %d:..: %s: ...%s...", i, t[i].line, t[i].path, t[i].msg);
		conf_errors_free(&errs);
	}
}
END_TEST

START_TEST(test_stats)
{
	struct tls_stats st;

	tls_note_handshake(NULL, true);
	tls_note_handshake(NULL, false);
	tls_note_handshake(NULL, false);
	tls_note_upstream_failure();
	tls_stats_get(&st);
	ck_assert_uint_eq(st.handshakes, 1);
	ck_assert_uint_eq(st.failures, 2);
	ck_assert_uint_eq(st.resumed, 0);
	ck_assert_uint_eq(st.upstream_failures, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_test(tc, test_version_names);
	tcase_add_test(tc, test_pair_refusals);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_sni);
	tcase_add_test(tc, test_alpn);
	tcase_add_test(tc, test_min_version);
	tcase_add_test(tc, test_old_client_control);
	tcase_add_test(tc, test_resumption);
	tcase_add_test(tc, test_rotation_schedule);
	tcase_add_test(tc, test_ssl_outlives_server);
	tcase_add_test(tc, test_client_verify);
	tcase_add_test(tc, test_client_ids_and_refusals);
	tcase_add_test(tc, test_client_certificate);
	tcase_add_test(tc, test_conf_listen_tls);
	tcase_add_test(tc, test_conf_tls_refusals);
	tcase_add_test(tc, test_stats);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
