/* signkeys.c - namespace signing keys: the key files fngate generates in state_dir/keys/<ns>/
 * (<kid>.pem private 0600, <kid>.pub.pem, "current"), shared by the daemon, the CLI's keygen and
 * fleet mode (which moves generated keys through the store); and the set of signing keys loaded
 * for minting, one per token-issuing namespace, which the daemon builds at start and at every
 * reload (signkeys_load) and the admin API mints with (signkeys_find). */
#include "signkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf.h"
#include "journal.h"
#include "log.h"
#include "util.h"

/* The signing key of one namespace, loaded. */
struct signer {
	char        *ns_id;
	EVP_PKEY    *pkey;
	enum key_alg alg;
	char         kid[32];
};

struct signkeys {
	struct signer *v;
	size_t         n;
};

static void signers_free(struct signer *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].ns_id);
		EVP_PKEY_free(v[i].pkey);
	}
	free(v);
}

struct signkeys *signkeys_new(void)
{
	return calloc(1, sizeof(struct signkeys));
}

void signkeys_free(struct signkeys *set)
{
	if (set == NULL)
		return;
	signers_free(set->v, set->n);
	free(set);
}


int signkeys_kid(EVP_PKEY *pkey, char *out, size_t outlen)
{
	unsigned char *der = NULL;
	unsigned char md[32];
	char hex[65];
	unsigned int mdlen = 0;
	int dl;

	dl = i2d_PUBKEY(pkey, &der);
	if (dl <= 0 || outlen < 18)
		return -1;
	if (EVP_Digest(der, (size_t)dl, md, &mdlen, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	util_hex(md, 8, hex);
	if (outlen < 18)
		return -1;
	out[0] = 'k';
	memcpy(out + 1, hex, 17);     /* 16 hex digits and the NUL */
	return 0;
}

/* A namespace id is used as a directory name: keep it tame. */
static bool ns_id_pathsafe(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 128 || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int bio_to_file(BIO *b, const char *path, int mode)
{
	char *data = NULL;
	long len = BIO_get_mem_data(b, &data);

	if (len <= 0)
		return -1;
	return journal_write_atomic(path, data, (size_t)len, mode);
}

int signkeys_current_kid(const char *state_dir, const char *ns_id, char *kid_out, size_t kidlen)
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	if (!ns_id_pathsafe(ns_id))
		return -1;
	snprintf(path, sizeof(path), "%s/keys/%s/current", state_dir, ns_id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || !ns_id_pathsafe(buf) || strlen(buf) >= kidlen)
		return -1;
	snprintf(kid_out, kidlen, "%s", buf);
	return 0;
}

static enum key_alg alg_of(EVP_PKEY *pk)
{
	if (EVP_PKEY_is_a(pk, "RSA"))
		return KEY_ALG_RS256;
	if (EVP_PKEY_is_a(pk, "EC"))
		return KEY_ALG_ES256;
	return KEY_ALG_NONE;
}

/* Write pk as ns_id's current generated key in state_dir: keys/<ns>/<kid>.pem (0600),
 * <kid>.pub.pem, then "current" (atomically, last: a crash leaves the previous key current).
 * kid_out gets the kid. 0, or -1 with err. */
static int key_write(const char *state_dir, const char *ns_id, EVP_PKEY *pk, char *kid_out,
		     size_t kidlen, char *err, size_t errlen)
{
	BIO *priv = NULL, *pub = NULL;
	char path[PATH_MAX], kid[32], line[40];
	int rc = -1;

	if (!ns_id_pathsafe(ns_id)) {
		util_seterr(err, errlen, "namespace id %s cannot name a key directory "
		       "(letters, digits, '-', '_', '.')", ns_id);
		return -1;
	}
	if (signkeys_kid(pk, kid, sizeof(kid)) != 0) {
		util_seterr(err, errlen, "key id computation failed");
		return -1;
	}
	snprintf(path, sizeof(path), "%s", state_dir);
	if (util_mkdir_private(path) == -1)
		goto syserr;
	snprintf(path, sizeof(path), "%s/keys", state_dir);
	if (util_mkdir_private(path) == -1)
		goto syserr;
	snprintf(path, sizeof(path), "%s/keys/%s", state_dir, ns_id);
	if (util_mkdir_private(path) == -1)
		goto syserr;
	priv = BIO_new(BIO_s_mem());
	pub = BIO_new(BIO_s_mem());
	if (priv == NULL || pub == NULL ||
	    PEM_write_bio_PrivateKey(priv, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_PUBKEY(pub, pk) != 1) {
		util_seterr(err, errlen, "PEM encoding failed");
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/keys/%s/%s.pem", state_dir, ns_id, kid);
	if (bio_to_file(priv, path, 0600) == -1)
		goto syserr;
	snprintf(path, sizeof(path), "%s/keys/%s/%s.pub.pem", state_dir, ns_id, kid);
	if (bio_to_file(pub, path, 0644) == -1)
		goto syserr;
	snprintf(path, sizeof(path), "%s/keys/%s/current", state_dir, ns_id);
	snprintf(line, sizeof(line), "%s\n", kid);
	if (journal_write_atomic(path, line, strlen(line), 0600) == -1)
		goto syserr;
	snprintf(kid_out, kidlen, "%s", kid);
	rc = 0;
	goto cleanup;
syserr:
	util_seterr(err, errlen, "%s: %s", path, strerror(errno));
cleanup:
	if (priv != NULL) {
		char *data = NULL;
		long l = BIO_get_mem_data(priv, &data);

		util_wipe(data, l > 0 ? (size_t)l : 0);
	}
	BIO_free(priv);
	BIO_free(pub);
	return rc;
}

int signkeys_generate(const char *state_dir, const char *ns_id, enum key_alg alg, int bits,
		    char *kid_out, size_t kidlen, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	int rc;

	if (alg == KEY_ALG_RS256) {
		if (bits != 2048 && bits != 3072 && bits != 4096) {
			util_seterr(err, errlen, "RSA bits must be 2048, 3072 or 4096");
			return -1;
		}
		pk = EVP_RSA_gen((unsigned)bits);
	} else if (alg == KEY_ALG_ES256) {
		pk = EVP_EC_gen("P-256");
	} else {
		util_seterr(err, errlen, "algorithm must be RS256 or ES256");
		return -1;
	}
	if (pk == NULL) {
		util_seterr(err, errlen, "key generation failed");
		return -1;
	}
	rc = key_write(state_dir, ns_id, pk, kid_out, kidlen, err, errlen);
	EVP_PKEY_free(pk);
	return rc;
}

int signkeys_generated(const char *state_dir, const char *ns_id, char *kid, size_t kidlen,
			   char **pem, size_t *pemlen, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	*pem = NULL;
	if (signkeys_current_kid(state_dir, ns_id, kid, kidlen) != 0 &&
	    signkeys_generate(state_dir, ns_id, KEY_ALG_RS256, 2048, kid, kidlen, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/keys/%s/%s.pem", state_dir, ns_id, kid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || st.st_size <= 0 || st.st_size > 65536 ||
	    (*pem = malloc((size_t)st.st_size + 1)) == NULL) {
		util_seterr(err, errlen, "%s: %s", path, fd == -1 ? strerror(errno) :
			    "unreadable, empty or too large");
		if (fd != -1)
			close(fd);
		return -1;
	}
	n = read(fd, *pem, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		util_seterr(err, errlen, "%s: short read", path);
		util_wipe(*pem, (size_t)st.st_size);
		free(*pem);
		*pem = NULL;
		return -1;
	}
	(*pem)[n] = '\0';
	*pemlen = (size_t)n;
	return 0;
}

int signkeys_adopt(const char *state_dir, const char *ns_id, const char *pem, size_t len,
		       char *kid, size_t kidlen, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	int rc = -1;

	BIO_free(b);
	if (pk == NULL || alg_of(pk) == KEY_ALG_NONE)
		util_seterr(err, errlen, "not an RSA or EC private key in PEM");
	else
		rc = key_write(state_dir, ns_id, pk, kid, kidlen, err, errlen);
	EVP_PKEY_free(pk);
	return rc;
}

static EVP_PKEY *load_private_any(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *pk = keys_load_private(path, KEY_ALG_RS256, err, errlen);

	if (pk == NULL)
		pk = keys_load_private(path, KEY_ALG_ES256, err, errlen);
	return pk;
}

/* A public-only copy of pk, so the configuration never holds private material. */
static EVP_PKEY *public_copy(EVP_PKEY *pk)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub;
	int dl = i2d_PUBKEY(pk, &der);

	if (dl <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, dl);
	OPENSSL_free(der);
	return pub;
}

/* Append (kid, alg, path, public key) to ns->keys. The strings and key are malloc'd and owned by
 * the configuration from then on (conf_unref frees each key's kid, path and pkey, and the array). */
static int ns_add_key(struct conf_namespace *ns, const char *kid, enum key_alg alg,
		      const char *path, EVP_PKEY *pk)
{
	struct conf_key *nk;
	struct conf_key k;

	memset(&k, 0, sizeof(k));
	k.kid = strdup(kid);
	k.path = strdup(path);
	k.alg = alg;
	k.pkey = public_copy(pk);
	if (k.kid == NULL || k.path == NULL || k.pkey == NULL)
		goto fail;
	nk = realloc(ns->keys, (ns->nkeys + 1) * sizeof(*nk));
	if (nk == NULL)
		goto fail;
	ns->keys = nk;
	ns->keys[ns->nkeys++] = k;
	return 0;
fail:
	free(k.kid);
	free(k.path);
	EVP_PKEY_free(k.pkey);
	return -1;
}

int signkeys_load(struct signkeys *set, const char *state_dir, struct conf *c, char *err,
		  size_t errlen)
{
	struct signer *sv = NULL;
	size_t ns_n = 0;
	int rc = -1;

	sv = calloc(c->nnamespaces ? c->nnamespaces : 1, sizeof(*sv));
	if (sv == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->nnamespaces; i++) {
		struct conf_namespace *ns = &c->namespaces[i];
		struct signer *s = &sv[ns_n];
		char kid[32], path[PATH_MAX], kerr[256];
		bool known = false;

		if (!ns->issue_tokens)
			continue;
		if (ns->signing_key != NULL) {
			snprintf(path, sizeof(path), "%s", ns->signing_key);
		} else {
			if (signkeys_current_kid(state_dir, ns->id, kid, sizeof(kid)) != 0) {
				if (signkeys_generate(state_dir, ns->id, KEY_ALG_RS256, 2048, kid,
						    sizeof(kid), kerr, sizeof(kerr)) != 0) {
					util_seterr(err, errlen, "namespace %s: generating a signing key: %s",
					       ns->id, kerr);
					goto cleanup;
				}
				log_msg(LOG_LVL_INFO, "signing keys: namespace %s: generated "
					"%s in %s/keys/%s", ns->id, kid, state_dir, ns->id);
			}
			snprintf(path, sizeof(path), "%s/keys/%s/%s.pem", state_dir, ns->id, kid);
		}
		s->pkey = load_private_any(path, kerr, sizeof(kerr));
		if (s->pkey == NULL) {
			util_seterr(err, errlen, "namespace %s: signing key %s: %s", ns->id, path, kerr);
			goto cleanup;
		}
		s->alg = alg_of(s->pkey);
		s->ns_id = strdup(ns->id);
		ns_n++;
		if (s->ns_id == NULL || signkeys_kid(s->pkey, s->kid, sizeof(s->kid)) != 0) {
			util_seterr(err, errlen, "out of memory");
			goto cleanup;
		}
		for (size_t k = 0; k < ns->nkeys; k++) {
			if (strcmp(ns->keys[k].kid, s->kid) == 0)
				known = true;
		}
		if (!known) {
			if (ns->signing_key == NULL)
				snprintf(path, sizeof(path), "%s/keys/%s/%s.pub.pem", state_dir, ns->id,
					 s->kid);
			if (ns_add_key(ns, s->kid, s->alg, path, s->pkey) != 0) {
				util_seterr(err, errlen, "out of memory");
				goto cleanup;
			}
		}
	}
	signers_free(set->v, set->n);
	set->v = sv;
	set->n = ns_n;
	sv = NULL;
	rc = 0;
cleanup:
	if (sv != NULL)
		signers_free(sv, c->nnamespaces);   /* calloc'd: the entries not reached are empty */
	return rc;
}

int signkeys_find(const struct signkeys *set, const char *ns_id, EVP_PKEY **pkey,
		  enum key_alg *alg, const char **kid)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->v[i].ns_id, ns_id) == 0) {
			*pkey = set->v[i].pkey;
			*alg = set->v[i].alg;
			*kid = set->v[i].kid;
			return 0;
		}
	}
	return -1;
}
