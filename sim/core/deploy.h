/* deploy.h: a deployment, as read from a deployment file: what a fleet in
 * the field needs, for `dormant simulate` and `dormant recommend` to cost
 * candidates against. The shipped ones are in scenarios/deployments/.
 *
 * The file is one flat YAML mapping, read like a link profile (ykeys.h):
 * unknown keys are refused, a bad value gives one line
 *   FILE:LINE:COL: KEY: expected ..., got "..."
 * Keys (required unless a default is given):
 *
 *   name               [A-Za-z0-9_.-]+
 *   devices            fleet size, 1 .. 100,000,000
 *   wake_every         the wake period, a duration (1s .. 7d)
 *   jitter             each wake's random offset, up to +-jitter (default 0s)
 *   payload            one message's encoded size (1B .. 1MiB)
 *   encoding           how the payload is encoded: binary, cbor, json, text
 *                      (default binary; the size is what counts)
 *   messages_per_wake  1 .. 1000 (default 1)
 *   commands_per_day   commands sent to each device a day (default 0)
 *   command_deadline   how soon a command must reach its device, a
 *                      duration (default 0s: no deadline)
 *   link               a link profile: NAME is links/NAME.yaml beside the
 *                      file, else ../links/NAME.yaml (the shipped layout)
 *   battery_wh         the device's battery, Wh
 *   sleep_uw           its sleep floor, uW (default: the link profile's)
 *   ram_budget         RAM the device has for the protocol stack, TLS
 *                      included (default 0B: no budget)
 *   flash_budget       the same for code (default 0B: no budget)
 *   encryption         required or optional (default required)
 *   client_auth        how the device proves who it is: token, certificate,
 *                      psk or any (default any)
 *   ports              the server ports the site can reach: a port or a
 *                      list of up to 8 (default: any port)
 *   inbound            the device accepts inbound connections: true/false
 *                      (default false; no protocol here needs them)
 *   price_per_mb       the data price per MB (10^6 bytes) on the link, in
 *                      any currency (default 0: unknown)
 *
 * Ownership: plain data; deploy_load() allocates nothing that outlives it.
 */
#ifndef DORMANT_DEPLOY_H
#define DORMANT_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "link.h"

#define DEPLOY_NAME_MAX 48
#define DEPLOY_PORTS_MAX 8
#define DEPLOY_FILE_MAX (64u << 10)

enum deploy_encoding { ENC_BINARY, ENC_CBOR, ENC_JSON, ENC_TEXT };
enum deploy_encryption { ENCRYPT_REQUIRED, ENCRYPT_OPTIONAL };
enum deploy_auth { AUTH_ANY, AUTH_TOKEN, AUTH_CERTIFICATE, AUTH_PSK };

struct deployment {
	char name[DEPLOY_NAME_MAX];
	char path[LINK_PATH_MAX];
	uint64_t devices;
	uint64_t wake_every_us, jitter_us;
	uint64_t payload_bytes;
	int encoding;              /* enum deploy_encoding */
	int messages_per_wake;
	double commands_per_day;
	uint64_t command_deadline_us; /* 0: none */
	char link_name[LINK_NAME_MAX];
	struct link_profile link;  /* loaded */
	double battery_wh, sleep_uw; /* sleep_uw: the link's when the file gives none */
	int sleep_given;           /* the file gave sleep_uw */
	uint64_t ram_budget, flash_budget; /* bytes; 0: none */
	int encryption;            /* enum deploy_encryption */
	int client_auth;           /* enum deploy_auth */
	int ports[DEPLOY_PORTS_MAX], nports; /* nports 0: any port */
	int inbound;
	double price_per_mb;       /* 0: unknown */
};

/* Reads the deployment at PATH (and its link profile) into *out. ERR_OK,
 * or ERR_SCENARIO / ERR_NOMEM with the one-line message in err. */
enum dormant_err deploy_load(const char *path, struct deployment *out, char *err, size_t errlen);
/* The same from a buffer; PATH names it in messages and locates its link. */
enum dormant_err deploy_load_buffer(const char *path, const char *text, size_t len, struct deployment *out,
                                    char *err, size_t errlen);
/* 1 when PORT is one the site can reach. */
int deploy_port_ok(const struct deployment *d, int port);
/* The profile of link NAME as this deployment's file would find it, into
 * BUF: 0, or -1 when there is none. */
int deploy_link_path(const struct deployment *d, const char *name, char *buf, size_t n);
const char *deploy_encoding_name(int e);
const char *deploy_auth_name(int a);

#endif
