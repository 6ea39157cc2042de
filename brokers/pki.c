/* pki.c: certificates and keys for one run, generated with mbedTLS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "pki.h"
#include "server.h"

#define PEM_MAX 8192
#define CA_NAME "CN=dormant run CA,O=dormant"

static enum dormant_err tls_fail(char *err, size_t errlen, const char *what, int ret)
{
	char buf[128];
	mbedtls_strerror(ret, buf, sizeof(buf));
	snprintf(err, errlen, "pki: %s: %s (-0x%04x)", what, buf, (unsigned)-ret);
	return ERR_INTERNAL;
}

static int write_file(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	fchmod(fd, mode);
	ssize_t n = write(fd, data, len);
	int e = close(fd);
	return n == (ssize_t)len && e == 0 ? 0 : -1;
}

int pki_random(void *p, unsigned char *out, size_t len)
{
	struct pki *k = p;
	return mbedtls_ctr_drbg_random(&k->drbg, out, len);
}

static int gen_key(struct pki *p, mbedtls_pk_context *pk, int rsa)
{
	int ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(rsa ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECKEY));
	if (ret)
		return ret;
	if (rsa)
		return mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random, &p->drbg, 2048, 65537);
	return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &p->drbg);
}

/* subjectAltName = dNSName DNS [, iPAddress 127.0.0.1 when DNS is that address] */
static size_t san_der(const char *dns, unsigned char *out)
{
	size_t n = strlen(dns), o = 2;
	out[o++] = 0x82;
	out[o++] = (unsigned char)n;
	memcpy(out + o, dns, n);
	o += n;
	if (!strcmp(dns, "127.0.0.1")) {
		static const unsigned char ip[] = { 0x87, 0x04, 127, 0, 0, 1 };
		memcpy(out + o, ip, sizeof(ip));
		o += sizeof(ip);
	}
	out[0] = 0x30;
	out[1] = (unsigned char)(o - 2);
	return o;
}

/* Signs a certificate for SUBJECT_KEY with the CA (or itself when ISSUER_KEY == SUBJECT_KEY). */
static int make_cert(struct pki *p, mbedtls_pk_context *subject_key, const char *subject, mbedtls_pk_context *issuer_key,
                     const char *issuer, int is_ca, const char *san, unsigned serial, unsigned char *pem)
{
	mbedtls_x509write_cert c;
	mbedtls_mpi sn;
	mbedtls_x509write_crt_init(&c);
	mbedtls_mpi_init(&sn);
	int ret = mbedtls_mpi_lset(&sn, (mbedtls_mpi_sint)serial);
	mbedtls_x509write_crt_set_version(&c, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&c, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&c, subject_key);
	mbedtls_x509write_crt_set_issuer_key(&c, issuer_key);
	if (!ret)
		ret = mbedtls_x509write_crt_set_serial(&c, &sn);
	if (!ret)
		ret = mbedtls_x509write_crt_set_subject_name(&c, subject);
	if (!ret)
		ret = mbedtls_x509write_crt_set_issuer_name(&c, issuer);
	if (!ret)
		ret = mbedtls_x509write_crt_set_validity(&c, "20250101000000", "20451231235959");
	if (!ret)
		ret = mbedtls_x509write_crt_set_basic_constraints(&c, is_ca, is_ca ? 0 : -1);
	if (!ret)
		ret = mbedtls_x509write_crt_set_key_usage(&c, is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
		                                                     : (MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
		                                                        MBEDTLS_X509_KU_KEY_ENCIPHERMENT));
	if (!ret && san) {
		unsigned char der[128];
		size_t n = san_der(san, der);
		ret = mbedtls_x509write_crt_set_extension(&c, MBEDTLS_OID_SUBJECT_ALT_NAME,
		                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, der, n);
	}
	if (!ret)
		ret = mbedtls_x509write_crt_pem(&c, pem, PEM_MAX, mbedtls_ctr_drbg_random, &p->drbg);
	mbedtls_x509write_crt_free(&c);
	mbedtls_mpi_free(&sn);
	return ret;
}

static int write_key(const mbedtls_pk_context *k, const char *path)
{
	unsigned char pem[PEM_MAX];
	int ret = mbedtls_pk_write_key_pem((mbedtls_pk_context *)k, pem, sizeof(pem));
	if (ret)
		return ret;
	return write_file(path, pem, strlen((char *)pem), 0600) ? MBEDTLS_ERR_PK_FILE_IO_ERROR : 0;
}

enum dormant_err pki_create(struct pki *p, const char *dir, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	char devdir[4300];
	snprintf(devdir, sizeof(devdir), "%s/devices", dir);
	if (server_mkdirs(devdir) < 0) {
		snprintf(err, errlen, "pki: cannot create %s: %s", devdir, strerror(errno));
		return ERR_IO;
	}
	mbedtls_entropy_init(&p->entropy);
	mbedtls_ctr_drbg_init(&p->drbg);
	mbedtls_pk_init(&p->ca_key);
	p->ready = 1;
	int ret = mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy, (const unsigned char *)"dormant", 7);
	if (ret)
		return tls_fail(err, errlen, "seed", ret);
	if ((ret = mbedtls_ctr_drbg_random(&p->drbg, p->psk_secret, sizeof(p->psk_secret))))
		return tls_fail(err, errlen, "psk secret", ret);

	unsigned char pem[PEM_MAX];
	char path[4300];
	if ((ret = gen_key(p, &p->ca_key, 0)) ||
	    (ret = make_cert(p, &p->ca_key, CA_NAME, &p->ca_key, CA_NAME, 1, NULL, 1, pem)))
		return tls_fail(err, errlen, "CA", ret);
	snprintf(p->ca_crt, sizeof(p->ca_crt), "%s/ca.crt", dir);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (write_file(p->ca_crt, pem, strlen((char *)pem), 0644) || (ret = write_key(&p->ca_key, path))) {
		snprintf(err, errlen, "pki: cannot write %s: %s", dir, strerror(errno));
		return ERR_IO;
	}

	/* A second CA that signed nothing: a device that trusts only it must refuse the server. */
	mbedtls_pk_context other;
	mbedtls_pk_init(&other);
	ret = gen_key(p, &other, 0);
	if (!ret)
		ret = make_cert(p, &other, "CN=some other CA,O=elsewhere", &other, "CN=some other CA,O=elsewhere", 1, NULL, 1, pem);
	mbedtls_pk_free(&other);
	if (ret)
		return tls_fail(err, errlen, "other CA", ret);
	snprintf(p->other_ca_crt, sizeof(p->other_ca_crt), "%s/other-ca.crt", dir);
	if (write_file(p->other_ca_crt, pem, strlen((char *)pem), 0644)) {
		snprintf(err, errlen, "pki: cannot write %s: %s", p->other_ca_crt, strerror(errno));
		return ERR_IO;
	}
	return ERR_OK;
}

void pki_destroy(struct pki *p)
{
	if (!p->ready)
		return;
	mbedtls_pk_free(&p->ca_key);
	mbedtls_ctr_drbg_free(&p->drbg);
	mbedtls_entropy_free(&p->entropy);
	memset(p->psk_secret, 0, sizeof(p->psk_secret));
	p->ready = 0;
}

enum dormant_err pki_server(struct pki *p, enum tls_mode mode, int wrong_name, char *crt, char *key, size_t len,
                            char *err, size_t errlen)
{
	const char *kind = mode == TLS_RSA ? "rsa" : "ecdsa";
	snprintf(crt, len, "%s/server-%s%s.crt", p->dir, wrong_name ? "wrongname-" : "", kind);
	snprintf(key, len, "%s/server-%s%s.key", p->dir, wrong_name ? "wrongname-" : "", kind);
	if (access(crt, R_OK) == 0 && access(key, R_OK) == 0)
		return ERR_OK;
	const char *name = wrong_name ? "wrong.invalid" : PKI_SERVER_NAME;
	char subject[128];
	snprintf(subject, sizeof(subject), "CN=%s,O=dormant", name);
	mbedtls_pk_context k;
	mbedtls_pk_init(&k);
	unsigned char pem[PEM_MAX];
	int ret = gen_key(p, &k, mode == TLS_RSA);
	if (!ret)
		ret = make_cert(p, &k, subject, &p->ca_key, CA_NAME, 0, name, 2 + (unsigned)mode * 2 + (unsigned)wrong_name, pem);
	if (!ret && (write_file(crt, pem, strlen((char *)pem), 0644) || write_key(&k, key)))
		ret = MBEDTLS_ERR_PK_FILE_IO_ERROR;
	mbedtls_pk_free(&k);
	return ret ? tls_fail(err, errlen, crt, ret) : ERR_OK;
}

enum dormant_err pki_client(struct pki *p, uint32_t device, mbedtls_x509_crt *crt, mbedtls_pk_context *key,
                            char *err, size_t errlen)
{
	char subject[64], path[4300];
	snprintf(subject, sizeof(subject), "CN=dev%u,O=dormant devices", device);
	unsigned char pem[PEM_MAX];
	int ret = gen_key(p, key, 0);
	if (!ret)
		ret = make_cert(p, key, subject, &p->ca_key, CA_NAME, 0, NULL, 1000 + device, pem);
	if (!ret)
		ret = mbedtls_x509_crt_parse(crt, pem, strlen((char *)pem) + 1);
	if (ret)
		return tls_fail(err, errlen, "client certificate", ret);
	snprintf(path, sizeof(path), "%s/devices/dev%u.crt", p->dir, device);
	write_file(path, pem, strlen((char *)pem), 0644);
	snprintf(path, sizeof(path), "%s/devices/dev%u.key", p->dir, device);
	write_key(key, path);
	return ERR_OK;
}

void pki_psk(const struct pki *p, uint32_t device, unsigned char key[PKI_PSK_LEN])
{
	unsigned char in[sizeof(p->psk_secret) + 4], out[32];
	memcpy(in, p->psk_secret, sizeof(p->psk_secret));
	memcpy(in + sizeof(p->psk_secret), &device, 4);
	mbedtls_sha256_ret(in, sizeof(in), out, 0);
	memcpy(key, out, PKI_PSK_LEN);
}

enum dormant_err pki_write_psk_file(struct pki *p, uint32_t n, char *err, size_t errlen)
{
	snprintf(p->psk_file, sizeof(p->psk_file), "%s/psk.txt", p->dir);
	int fd = open(p->psk_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, errlen, "pki: cannot write %s: %s", p->psk_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ERR_IO;
	}
	for (uint32_t d = 0; d < n; d++) {
		unsigned char k[PKI_PSK_LEN];
		pki_psk(p, d, k);
		fprintf(f, "dev%u:", d);
		for (int i = 0; i < PKI_PSK_LEN; i++)
			fprintf(f, "%02x", k[i]);
		fputc('\n', f);
	}
	return fclose(f) ? ERR_IO : ERR_OK;
}
