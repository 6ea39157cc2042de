/* ingest_token.c: device tokens and names of the HTTP ingest (see ingest_token.h). */
#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "ingest_token.h"

void ingest_token(const unsigned char *secret, size_t secret_len, uint32_t device, char out[INGEST_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char name[16];
	unsigned char mac[32];
	int n = snprintf(name, sizeof(name), "dev%u", (unsigned)device);
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	out[0] = 0;
	if (!md || mbedtls_md_hmac(md, secret, secret_len, (const unsigned char *)name, (size_t)n, mac) != 0)
		return;
	for (size_t i = 0; i < INGEST_TOKEN_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[INGEST_TOKEN_LEN] = 0;
	mbedtls_platform_zeroize(mac, sizeof(mac)); /* the other half is never revealed */
}

int ingest_device_id(const char *s, size_t n, uint32_t *device)
{
	/* "dev" and 1 to 10 digits: UINT32_MAX has 10. */
	if (n < 4 || n > 13 || memcmp(s, "dev", 3) != 0)
		return -1;
	s += 3;
	n -= 3;
	if (s[0] == '0' && n > 1)
		return -1; /* one spelling per device, or the topic and the token would disagree */
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*device = (uint32_t)v;
	return 0;
}
