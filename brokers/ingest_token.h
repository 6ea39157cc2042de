/* ingest_token.h: device credentials of the HTTP ingest, shared by dormant
 * (whose HTTP devices present them) and dormant-ingest (which checks them).
 *
 * A device's bearer token is derived, not stored: the lowercase hex of the
 * first 16 bytes of HMAC-SHA256(secret, "dev<N>"). Both processes hold the
 * same per-run secret, so no token table ever has to be written or shared,
 * and a token is worth nothing in another run.
 */
#ifndef DORMANT_INGEST_TOKEN_H
#define DORMANT_INGEST_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define INGEST_SECRET_LEN 32 /* bytes; 64 hex characters in the secret file */
#define INGEST_TOKEN_LEN 32  /* hex characters, without the NUL */

/* Writes the token of device N ("dev<N>") into OUT, NUL-terminated. If the
 * HMAC cannot be computed (mbedTLS without SHA-256), OUT is "", which matches
 * no presented token. */
void ingest_token(const unsigned char *secret, size_t secret_len, uint32_t device, char out[INGEST_TOKEN_LEN + 1]);

/* Parses the N bytes at S as a device name "dev<N>": decimal, no sign, no
 * leading zeros (except "dev0"), at most UINT32_MAX. S need not be
 * NUL-terminated. Returns 0 and sets *DEVICE, or -1 (and leaves it). */
int ingest_device_id(const char *s, size_t n, uint32_t *device);

#endif
