/* pki.h: the PKI made for one run, with mbedTLS, in RUN_DIR/pki/.
 *
 *   ca.crt ca.key                 the run's CA (ECDSA P-256)
 *   other-ca.crt                  a CA nobody uses (tls_fault: wrong-ca)
 *   server-ecdsa.crt/.key         P-256 server certificate for 127.0.0.1
 *   server-rsa.crt/.key           RSA-2048 server certificate for 127.0.0.1
 *   server-wrongname-*.crt/.key   the same for "wrong.invalid" (tls_fault: wrong-name)
 *   psk.txt                       identity:hexkey per device (mosquitto psk_file)
 *   devices/dev<N>.crt/.key       client certificates (mutual TLS)
 * Server certificates name 127.0.0.1 as both a dNSName (what mbedTLS 2.28
 * matches) and an iPAddress (what OpenSSL clients match). Keys are 0600.
 * Nothing here is ever committed: results/ is ignored.
 *
 * Ownership: pki_create fills a caller-owned struct; pki_destroy releases
 * it. Files are generated on first use, so a run without RSA makes no RSA key.
 */
#ifndef DORMANT_PKI_H
#define DORMANT_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "scenario.h"

#define PKI_PSK_LEN 16
#define PKI_SERVER_NAME "127.0.0.1"

struct pki {
	char dir[4096];
	char ca_crt[4200], other_ca_crt[4200], psk_file[4200];
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context ca_key;
	unsigned char psk_secret[32];
	int ready;
};

enum dormant_err pki_create(struct pki *p, const char *dir, char *err, size_t errlen);
void pki_destroy(struct pki *p);
/* Paths of the server certificate and key for MODE (ecdsa or rsa), made on first use. */
enum dormant_err pki_server(struct pki *p, enum tls_mode mode, int wrong_name, char *crt, char *key, size_t len,
                            char *err, size_t errlen);
/* A client certificate for DEVICE, signed by the run CA (CN=dev<N>), parsed into CRT/KEY and written to devices/. */
enum dormant_err pki_client(struct pki *p, uint32_t device, mbedtls_x509_crt *crt, mbedtls_pk_context *key,
                            char *err, size_t errlen);
/* DEVICE's pre-shared key (derived from the run's secret) and identity "dev<N>". */
void pki_psk(const struct pki *p, uint32_t device, unsigned char key[PKI_PSK_LEN]);
/* Writes psk.txt for devices 0..N-1. */
enum dormant_err pki_write_psk_file(struct pki *p, uint32_t n, char *err, size_t errlen);
/* mbedtls_ctr_drbg_random with the run's DRBG, for TLS contexts. */
int pki_random(void *p, unsigned char *out, size_t len);

#endif
