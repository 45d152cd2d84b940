/* tls.c - TLS with OpenSSL 3: listener certificate sets (SNI, ALPN, rotating ticket keys) and
 * verifying client contexts for https upstreams. No event loop: see tls.h. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "util.h"

#define TLS_FILE_MAX        (1024 * 1024)   /* a PEM certificate chain or key is never larger */
#define TLS_NAME_MAX        253
#define TLS_MAX_NAMES       1024            /* SAN entries kept per certificate */

/* One certificate of a listener, with its own SSL_CTX (SNI switches the SSL to it). */
struct tls_cert {
	SSL_CTX *ctx;
	char   **names;         /* lowercase DNS names, "*.example.com" wildcards as written */
	size_t   nnames;
};

struct tls_server {
	_Atomic long     refs;
	int              min_version;
	struct tls_cert *certs;     /* [0] is the default */
	size_t           ncerts;
};

struct tls_client {
	_Atomic long refs;
	SSL_CTX     *ctx;
	char        *id;
};

/* Session-ticket keys, process-wide so every worker (and every reload) decrypts the tickets the
 * others issued. [0] encrypts and decrypts; [1] is the previous key, decryption only. */
struct tls_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	int64_t       created;
	bool          valid;
};

static pthread_rwlock_t tls_tk_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tls_ticket_key tls_tk[2];
static _Atomic int64_t tls_tk_created;     /* of tls_tk[0]: the fast "rotation due?" check */
static char tls_mac_digest[] = "SHA256";

static int tls_ssl_index = -1;             /* SSL ex_data slot: the tls_server reference */
static int tls_h2_index = -1;              /* SSL ex_data slot: non-NULL when h2 may be chosen */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static _Atomic uint64_t tls_n_handshakes, tls_n_resumed, tls_n_failures, tls_n_up_failures;

/* ALPN: h2 first where the listener speaks HTTP/2 (tls_server_ssl_new), then HTTP/1.x,
 * http/1.1 preferred. */
static const char *const tls_alpn_ours[] = {"h2", "http/1.1", "http/1.0"};
static const unsigned char tls_alpn_client[] = "\x08http/1.1";

/* ---- helpers ---- */

static void tls_ssl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		tls_server_unref(ptr);
}

static void tls_init_once(void)
{
	tls_ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_ssl_free_cb);
	tls_h2_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int tls_init(void)
{
	pthread_once(&tls_once, tls_init_once);
	return tls_ssl_index >= 0 && tls_h2_index >= 0 ? 0 : -1;
}

/* Never prompt for a pass phrase on the terminal: an encrypted key is a configuration error. */
static int tls_no_passwd_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* The last OpenSSL error as text (and the queue cleared). */
static void tls_ossl_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* The file exists, is a readable regular file of sane size: a clear message otherwise (OpenSSL's
 * own errors do not say "permission denied"). 0 / -1. */
static int tls_file_check(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the %s %s is not a regular file", what, path);
		goto cleanup;
	}
	if (st.st_size == 0 || st.st_size > TLS_FILE_MAX) {
		snprintf(err, errlen, "the %s %s is %s", what, path,
			 st.st_size == 0 ? "empty" : "too large (over 1 MiB)");
		goto cleanup;
	}
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static void tls_time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(buf, len, "(unreadable date)");
		return;
	}
	util_rfc3339((int64_t)timegm(&tm), buf, len);
}

/* Certificate chain and key into ctx, with the checks `fngate check` promises. 0 / -1. */
static int tls_load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen,
			 enum tls_file *which)
{
	char oerr[256], when[32];
	X509 *x;
	time_t now = (time_t)util_now();

	*which = TLS_FILE_CERT;
	if (tls_file_check(cert, "certificate", err, errlen) != 0)
		return -1;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_ossl_error(oerr, sizeof(oerr));
		snprintf(err, errlen, "the certificate %s is not a PEM certificate chain (%s)", cert, oerr);
		return -1;
	}
	x = SSL_CTX_get0_certificate(ctx);
	if (x == NULL) {
		snprintf(err, errlen, "the certificate %s holds no certificate", cert);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(x), &now) <= 0) {
		tls_time_text(X509_get0_notAfter(x), when, sizeof(when));
		snprintf(err, errlen, "the certificate %s expired on %s", cert, when);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		tls_time_text(X509_get0_notBefore(x), when, sizeof(when));
		snprintf(err, errlen, "the certificate %s is not valid before %s", cert, when);
		return -1;
	}
	*which = TLS_FILE_KEY;
	if (tls_file_check(key, "private key", err, errlen) != 0)
		return -1;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_ossl_error(oerr, sizeof(oerr));
		snprintf(err, errlen, "the private key %s cannot be loaded: not an unencrypted PEM key, "
			 "or it does not match the certificate %s (%s)", key, cert, oerr);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the private key %s does not match the certificate %s", key, cert);
		return -1;
	}
	*which = TLS_FILE_NONE;
	return 0;
}

static bool tls_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* ---- names and SNI ---- */

/* A name from a certificate, lowercased; NULL when it holds a NUL or is not a plausible name. */
static char *tls_name_dup(const unsigned char *p, int n)
{
	char *s;

	if (n <= 0 || n > TLS_NAME_MAX || memchr(p, '\0', (size_t)n) != NULL)
		return NULL;
	s = util_strndup((const char *)p, (size_t)n);
	if (s == NULL)
		return NULL;
	for (char *q = s; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	return s;
}

static int tls_names_add(struct tls_cert *tc, char *name)
{
	char **v;

	if (name == NULL || tc->nnames >= TLS_MAX_NAMES) {
		free(name);
		return 0;
	}
	v = realloc(tc->names, (tc->nnames + 1) * sizeof(*v));
	if (v == NULL) {
		free(name);
		return -1;
	}
	tc->names = v;
	tc->names[tc->nnames++] = name;
	return 0;
}

/* The DNS names of the subject alternative names, else the subject CN (RFC 6125). */
static int tls_names_collect(struct tls_cert *tc, X509 *x)
{
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int rc = 0;

	if (san != NULL) {
		for (int i = 0; i < sk_GENERAL_NAME_num(san) && rc == 0; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

			if (g->type != GEN_DNS)
				continue;
			rc = tls_names_add(tc, tls_name_dup(ASN1_STRING_get0_data(g->d.dNSName),
							    ASN1_STRING_length(g->d.dNSName)));
		}
		GENERAL_NAMES_free(san);
	}
	if (rc == 0 && tc->nnames == 0) {
		const X509_NAME *subj = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

		if (i >= 0) {
			const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

			rc = tls_names_add(tc, tls_name_dup(ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn)));
		}
	}
	return rc;
}

/* Does certificate name `pat` cover `host`? "*.example.com" covers exactly one more label. */
static bool tls_name_match(const char *pat, const char *host, size_t hlen, bool wild)
{
	if (!wild)
		return strlen(pat) == hlen && strncasecmp(pat, host, hlen) == 0;
	if (pat[0] != '*' || pat[1] != '.') {
		return false;
	} else {
		const char *dot = memchr(host, '.', hlen);
		size_t slen = strlen(pat + 1);

		/* the label the wildcard stands for is not empty, and the rest is the suffix */
		return dot != NULL && dot != host && (size_t)(host + hlen - dot) == slen &&
		       strncasecmp(dot, pat + 1, slen) == 0;
	}
}

/* The certificate for an SNI name: an exact name first (any certificate), then a wildcard;
 * 0 (the default) when none covers it. */
static size_t tls_server_pick(const struct tls_server *s, const char *host)
{
	size_t hlen = strlen(host);

	if (hlen == 0 || hlen > TLS_NAME_MAX)
		return 0;
	for (int wild = 0; wild < 2; wild++)
		for (size_t i = 0; i < s->ncerts; i++)
			for (size_t j = 0; j < s->certs[i].nnames; j++)
				if (tls_name_match(s->certs[i].names[j], host, hlen, wild != 0))
					return i;
	return 0;
}

static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *s = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i;

	(void)alert;
	if (host == NULL || s == NULL)
		return SSL_TLSEXT_ERR_OK;
	i = tls_server_pick(s, host);
	if (i != 0 && SSL_set_SSL_CTX(ssl, s->certs[i].ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: the client's list must hold a protocol of ours (h2 only on a listener with HTTP/2);
 * anything else is refused with no_application_protocol (RFC 7301 section 3.2) rather than
 * misunderstood. Our order wins over the client's. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)arg;
	for (size_t k = SSL_get_ex_data(ssl, tls_h2_index) != NULL ? 0 : 1;
	     k < ARRAY_LEN(tls_alpn_ours); k++) {
		size_t want = strlen(tls_alpn_ours[k]);

		for (unsigned int i = 0; i < inlen;) {
			unsigned int n = in[i];

			if (i + 1 + n > inlen)
				break;
			if (n == want && memcmp(in + i + 1, tls_alpn_ours[k], n) == 0) {
				*out = in + i + 1;
				*outlen = (unsigned char)n;
				return SSL_TLSEXT_ERR_OK;
			}
			i += 1 + n;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- session tickets ---- */

static int tls_ticket_new_key(struct tls_ticket_key *k, int64_t now)
{
	if (util_random(k->name, sizeof(k->name)) != 0 || util_random(k->aes, sizeof(k->aes)) != 0 ||
	    util_random(k->hmac, sizeof(k->hmac)) != 0)
		return -1;
	k->created = now;
	k->valid = true;
	return 0;
}

static int tls_tickets_rotate_at(int64_t now, bool force)
{
	int64_t created = atomic_load(&tls_tk_created);
	struct tls_ticket_key k;
	int rc = 0;

	if (!force && created != 0 && now >= created && now - created < TLS_TICKET_ROTATE_S)
		return 0;
	if (tls_ticket_new_key(&k, now) != 0) {
		util_wipe(&k, sizeof(k));
		return -1;
	}
	pthread_rwlock_wrlock(&tls_tk_lock);
	/* another thread may have rotated while we made the key */
	if (force || !tls_tk[0].valid || now < tls_tk[0].created ||
	    now - tls_tk[0].created >= TLS_TICKET_ROTATE_S) {
		tls_tk[1] = tls_tk[0];
		tls_tk[0] = k;
		atomic_store(&tls_tk_created, now);
		rc = 1;
	}
	pthread_rwlock_unlock(&tls_tk_lock);
	util_wipe(&k, sizeof(k));
	return rc;
}

int tls_tickets_rotate(int64_t now)
{
	return tls_tickets_rotate_at(now, false);
}

int tls_tickets_rotate_now(void)
{
	return tls_tickets_rotate_at(util_now(), true) < 0 ? -1 : 0;
}

static int tls_ticket_mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, tls_mac_digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback. enc: fill the key name and IV and set up encryption with the current
 * key. !enc: find the key by name; 0 = unknown (full handshake), 1 = ok, 2 = ok and issue a
 * new ticket (it was made under the previous key). Key material is copied out of the lock and
 * wiped after use. */
static int tls_ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ticket_key k;
	int rc = -1, slot = -1;

	(void)ssl;
	if (enc) {
		if (tls_tickets_rotate(util_now()) < 0)
			return -1;
		pthread_rwlock_rdlock(&tls_tk_lock);
		k = tls_tk[0];
		pthread_rwlock_unlock(&tls_tk_lock);
		if (!k.valid || RAND_bytes(iv, 16) != 1)
			goto cleanup;
		memcpy(key_name, k.name, sizeof(k.name));
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
		    tls_ticket_mac_init(hctx, k.hmac) != 0)
			goto cleanup;
		rc = 1;
		goto cleanup;
	}
	pthread_rwlock_rdlock(&tls_tk_lock);
	for (int i = 0; i < 2; i++) {
		if (tls_tk[i].valid && util_ct_equal(tls_tk[i].name, key_name, sizeof(tls_tk[i].name))) {
			k = tls_tk[i];
			slot = i;
			break;
		}
	}
	pthread_rwlock_unlock(&tls_tk_lock);
	if (slot < 0)
		return 0;
	if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
	    tls_ticket_mac_init(hctx, k.hmac) != 0)
		goto cleanup;
	rc = slot == 0 ? 1 : 2;
cleanup:
	util_wipe(&k, sizeof(k));
	return rc;
}

void tls_shutdown(void)
{
	pthread_rwlock_wrlock(&tls_tk_lock);
	util_wipe(tls_tk, sizeof(tls_tk));
	atomic_store(&tls_tk_created, 0);
	pthread_rwlock_unlock(&tls_tk_lock);
}

/* ---- server ---- */

int tls_version_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "TLS1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLS1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

static SSL_CTX *tls_server_ctx_new(struct tls_server *s)
{
	static const unsigned char sid_ctx[] = "fngate";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, s->min_version) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* No renegotiation (a CPU-exhaustion lever for clients); server cipher order. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	/* Idle keep-alive connections give their record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumption is by tickets only: the keys are shared by every worker, whereas a session
	 * cache would be one more locked structure for the same result. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, 2 * TLS_TICKET_ROTATE_S);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, s);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passwd_cb);
	return ctx;
}

struct tls_server *tls_server_new(int min_version, char *err, size_t errlen)
{
	struct tls_server *s;

	if (min_version != TLS1_2_VERSION && min_version != TLS1_3_VERSION) {
		snprintf(err, errlen, "the minimum TLS version must be TLS1.2 or TLS1.3");
		return NULL;
	}
	if (tls_init() != 0 || tls_tickets_rotate(util_now()) < 0) {
		snprintf(err, errlen, "TLS initialisation failed");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->min_version = min_version;
	return s;
}

int tls_server_add(struct tls_server *s, const char *cert, const char *key, char *err,
		   size_t errlen, enum tls_file *which)
{
	struct tls_cert tc = {0}, *v;

	*which = TLS_FILE_NONE;
	if (s->ncerts >= TLS_MAX_CERTIFICATES) {
		snprintf(err, errlen, "at most %d certificates per listener", TLS_MAX_CERTIFICATES);
		return -1;
	}
	tc.ctx = tls_server_ctx_new(s);
	if (tc.ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		goto fail;
	}
	if (tls_load_pair(tc.ctx, cert, key, err, errlen, which) != 0)
		goto fail;
	if (tls_names_collect(&tc, SSL_CTX_get0_certificate(tc.ctx)) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	v = realloc(s->certs, (s->ncerts + 1) * sizeof(*v));
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->certs = v;
	s->certs[s->ncerts++] = tc;
	return 0;
fail:
	for (size_t i = 0; i < tc.nnames; i++)
		free(tc.names[i]);
	free(tc.names);
	SSL_CTX_free(tc.ctx);
	return -1;
}

const char *const *tls_server_names(const struct tls_server *s, size_t i, size_t *n)
{
	if (i >= s->ncerts) {
		*n = 0;
		return NULL;
	}
	*n = s->certs[i].nnames;
	return (const char *const *)s->certs[i].names;
}

size_t tls_server_count(const struct tls_server *s)
{
	return s->ncerts;
}

/* Take a reference (tls_server_unref drops it). */
static struct tls_server *tls_server_ref(struct tls_server *s)
{
	if (s != NULL)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void tls_server_unref(struct tls_server *s)
{
	if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < s->ncerts; i++) {
		for (size_t j = 0; j < s->certs[i].nnames; j++)
			free(s->certs[i].names[j]);
		free(s->certs[i].names);
		SSL_CTX_free(s->certs[i].ctx);
	}
	free(s->certs);
	free(s);
}

bool tls_alpn_h2(const SSL *ssl)
{
	const unsigned char *p;
	unsigned int n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

SSL *tls_server_ssl_new(struct tls_server *s, bool h2)
{
	SSL *ssl;

	if (s == NULL || s->ncerts == 0)
		return NULL;
	ssl = SSL_new(s->certs[0].ctx);
	if (ssl == NULL)
		return NULL;
	/* The SNI callback reads s: the SSL keeps it alive (released by tls_ssl_free_cb). */
	if (SSL_set_ex_data(ssl, tls_ssl_index, tls_server_ref(s)) != 1) {
		tls_server_unref(s);
		SSL_free(ssl);
		return NULL;
	}
	if (h2 && SSL_set_ex_data(ssl, tls_h2_index, ssl) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* ---- client ---- */

/* "system", or 16 hex digits of SHA-256 over the file names: short enough for a metrics label,
 * and different for every distinct trust store / client identity. 0 / -1. */
static int tls_client_make_id(struct tls_client *c, const char *ca, const char *cert, const char *key)
{
	unsigned char md[32];
	EVP_MD_CTX *h;
	int rc = -1;

	if (ca == NULL && cert == NULL) {
		c->id = strdup("system");
		return c->id != NULL ? 0 : -1;
	}
	h = EVP_MD_CTX_new();
	if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(h, ca ? ca : "", strlen(ca ? ca : "") + 1) != 1 ||
	    EVP_DigestUpdate(h, cert ? cert : "", strlen(cert ? cert : "") + 1) != 1 ||
	    EVP_DigestUpdate(h, key ? key : "", strlen(key ? key : "") + 1) != 1 ||
	    EVP_DigestFinal_ex(h, md, NULL) != 1)
		goto cleanup;
	c->id = malloc(17);
	if (c->id == NULL)
		goto cleanup;
	util_hex(md, 8, c->id);
	rc = 0;
cleanup:
	EVP_MD_CTX_free(h);
	return rc;
}

struct tls_client *tls_client_new(const char *ca, const char *cert, const char *key, char *err,
				  size_t errlen, enum tls_file *which)
{
	struct tls_client *c = NULL;
	char oerr[256];

	*which = TLS_FILE_NONE;
	if (tls_init() != 0) {
		snprintf(err, errlen, "TLS initialisation failed");
		return NULL;
	}
	if ((cert == NULL) != (key == NULL)) {
		*which = cert == NULL ? TLS_FILE_CERT : TLS_FILE_KEY;    /* the one missing */
		snprintf(err, errlen, "a client certificate needs both \"cert\" and \"key\"");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	atomic_init(&c->refs, 1);
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL)
		goto nomem;
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_passwd_cb(c->ctx, tls_no_passwd_cb);
	if (SSL_CTX_set_alpn_protos(c->ctx, tls_alpn_client, sizeof(tls_alpn_client) - 1) != 0)
		goto nomem;
	ERR_clear_error();
	if (ca != NULL) {
		*which = TLS_FILE_CA;
		if (tls_file_check(ca, "CA bundle", err, errlen) != 0)
			goto fail;
		if (SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
			tls_ossl_error(oerr, sizeof(oerr));
			snprintf(err, errlen, "the CA bundle %s holds no PEM certificate (%s)", ca, oerr);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		tls_ossl_error(oerr, sizeof(oerr));
		snprintf(err, errlen, "cannot use the system CA store (%s)", oerr);
		goto fail;
	}
	if (cert != NULL && tls_load_pair(c->ctx, cert, key, err, errlen, which) != 0)
		goto fail;
	*which = TLS_FILE_NONE;
	if (tls_client_make_id(c, ca, cert, key) != 0)
		goto nomem;
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	tls_client_unref(c);
	return NULL;
}

struct tls_client *tls_client_ref(struct tls_client *c)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void tls_client_unref(struct tls_client *c)
{
	if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(c->ctx);
	free(c->id);
	free(c);
}

const char *tls_client_id(const struct tls_client *c)
{
	return c->id;
}

SSL *tls_client_ssl_new(struct tls_client *c, const char *host, bool h2)
{
	static const unsigned char alpn_h2[] = "\x02h2";
	SSL *ssl = SSL_new(c->ctx);

	if (ssl == NULL)
		return NULL;
	/* 0 is success for this one. */
	if (h2 && SSL_set_alpn_protos(ssl, alpn_h2, sizeof(alpn_h2) - 1) != 0) {
		SSL_free(ssl);
		return NULL;
	}
	/* SNI carries DNS names only (RFC 6066 section 3); SSL_set1_host checks an IP literal
	 * against the certificate's IP addresses and a name against its DNS names. */
	/* SSL_set_tlsext_host_name() casts away const inside a macro (-Wcast-qual): the same
	 * call with the cast made through uintptr_t. OpenSSL copies the name. */
	if ((!tls_ip_literal(host) &&
	     SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
		      (void *)(uintptr_t)host) != 1) ||
	    SSL_set1_host(ssl, host) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_failure_reason(SSL *ssl, unsigned long e, char *buf, size_t len)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (v != X509_V_OK) {
		snprintf(buf, len, "certificate verification failed: %s", X509_verify_cert_error_string(v));
		return;
	}
	if (e != 0) {
		char tmp[256];

		ERR_error_string_n(e, tmp, sizeof(tmp));
		snprintf(buf, len, "%s", tmp);
		return;
	}
	snprintf(buf, len, "the connection closed during the handshake");
}

/* ---- counters ---- */

void tls_note_handshake(SSL *ssl, bool ok)
{
	if (!ok) {
		atomic_fetch_add_explicit(&tls_n_failures, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&tls_n_handshakes, 1, memory_order_relaxed);
	if (ssl != NULL && SSL_session_reused(ssl))
		atomic_fetch_add_explicit(&tls_n_resumed, 1, memory_order_relaxed);
}

void tls_note_upstream_failure(void)
{
	atomic_fetch_add_explicit(&tls_n_up_failures, 1, memory_order_relaxed);
}

void tls_stats_get(struct tls_stats *out)
{
	out->handshakes = atomic_load(&tls_n_handshakes);
	out->resumed = atomic_load(&tls_n_resumed);
	out->failures = atomic_load(&tls_n_failures);
	out->upstream_failures = atomic_load(&tls_n_up_failures);
}
