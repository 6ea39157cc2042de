/* scenario.h: the scenario file, parsed and validated, and the plan it expands to.
 *
 * A scenario is YAML (see scenarios/quickstart.yaml and README "Scenario
 * files"). scenario_load() parses and validates the whole file and either
 * returns a complete struct scenario or one error line of the form
 *   FILE:LINE:COL: KEY: expected ..., got "..."
 * Every key is declared once in the key table in scenario.c with its type,
 * unit, bounds and the level where it may appear; unknown keys are errors.
 *
 * Ownership: scenario_load() allocates *out; the caller always releases it
 * with scenario_free() (which accepts NULL). On error *out is NULL.
 */
#ifndef DORMANT_SCENARIO_H
#define DORMANT_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "link.h"

/* Axis values. The *_COUNT entries are sizes, not values. */
enum protocol { PROTO_MQTT, PROTO_AMQP, PROTO_HTTP, PROTO_COUNT };
enum tls_mode { TLS_NONE, TLS_ECDSA, TLS_RSA, TLS_PSK, TLS_COUNT };
enum resume_mode { RESUME_NONE, RESUME_SESSION_ID, RESUME_TICKET, RESUME_COUNT };
enum broker_kind { BROKER_DEFAULT, BROKER_MOSQUITTO, BROKER_RABBITMQ, BROKER_COUNT };
enum conn_mode { CONN_PER_WAKE, CONN_PERSISTENT, CONN_COUNT };
/* When the broker first holds a downlink device's session (MQTT: its persistent
 * session and QoS 1 subscription): made for each device before the window, as a
 * deployed device has had it for long; or only by the device's first wake, so
 * the commands issued before it are dropped by the broker and counted so. */
enum session_mode { SESSION_BEFORE_WINDOW, SESSION_FIRST_WAKE, SESSION_COUNT };
/* What runs a variant's wakes: the protocol library, or a replay of its recorded bytes. */
enum stack_mode { STACK_REAL, STACK_REPLAY, STACK_COUNT };
/* Fault injection for the device's TLS: what a device with a stale CA, a
 * server with the wrong certificate or a mistyped key sees. */
enum tls_fault { TLS_FAULT_NONE, TLS_FAULT_WRONG_CA, TLS_FAULT_WRONG_NAME, TLS_FAULT_WRONG_PSK, TLS_FAULT_COUNT };
/* A device with a stale credential: the HTTP ingest answers 401. */
enum auth_fault { AUTH_FAULT_NONE, AUTH_FAULT_WRONG_TOKEN, AUTH_FAULT_COUNT };

/* What a variant does with wakes still waiting to start when its window
 * ends (the generator, the devices or the concurrency cap fell behind):
 * start them all (the window runs over), or count them as not started. */
enum overrun { OVERRUN_FINISH, OVERRUN_STOP, OVERRUN_COUNT };

const char *protocol_name(enum protocol p);
const char *tls_mode_name(enum tls_mode t);
const char *resume_mode_name(enum resume_mode r);
const char *broker_kind_name(enum broker_kind b);
const char *conn_mode_name(enum conn_mode c);
const char *session_mode_name(enum session_mode m);
const char *stack_mode_name(enum stack_mode m);
const char *tls_fault_name(enum tls_fault f);
const char *auth_fault_name(enum auth_fault f);
const char *overrun_name(enum overrun o);
/* Whether NAME is a cipher suite the linked mbedTLS knows. */
int scenario_ciphersuite_known(const char *name);

#define SCENARIO_NAME_MAX 64
#define FLEETS_MAX 16
#define AXIS_MAX 8             /* values per matrix axis */
#define VARIANTS_MAX 256       /* product of all axes */
#define LINKS_MAX 16           /* link profiles per scenario; keeps it under 128 KiB */
#define PERSISTENT_DEVICES_MAX 400u /* connection: persistent: a paho handle per device, which breaks at 512 */
#define PAYLOAD_MIN 24         /* the message header every payload carries (sim/core/ledger.h) */

/* What one variant's plan may cost, checked by scenario_load() from the
 * closed-form totals (sched.h): each key is within its own bounds, but
 * 100,000 devices every 100 ms for a week is 6e12 wakes. The run keeps
 * per-wake samples (about 20 doubles a wake, sim/results.c) and a table
 * entry per message and per command (sim/core/ledger.h) in memory. */
#define PLAN_WAKES_MAX 5000000u      /* wakes per variant */
#define PLAN_MESSAGES_MAX 5000000u   /* messages per variant (their table index is 32 bits) */
#define PLAN_COMMANDS_MAX 5000000u   /* commands per variant */
#define PLAN_TABLES_MAX (256u << 20) /* bytes of the message and command tables of a variant */

struct fleet {
	char name[SCENARIO_NAME_MAX];
	uint32_t count;            /* devices in this fleet, 1..100000 */
	uint64_t wake_every_us;    /* wake period, 100ms..1d */
	uint64_t jitter_us;        /* each wake starts uniformly in [nominal, nominal+jitter), < wake_every */
	uint32_t payload_bytes;    /* PAYLOAD_MIN..256KiB */
	uint32_t messages_per_wake;/* 1..1000 */
	int qos;                   /* 0 or 1; overridden by a matrix qos axis */
	enum conn_mode connection; /* per-wake, or persistent (MQTT only; a matrix connection axis overrides) */
	uint64_t keepalive_us;     /* persistent: the keep-alive (MQTT PINGREQ, AMQP empty frame), whole seconds, 1s..65535s, default 60s */
	int downlink;              /* check for a command each wake (HTTP: a GET) */
	uint64_t command_every_us; /* the backend sends each device a command this often; 0: never */
	enum session_mode session; /* downlink: when the broker first holds the device's session */
	uint32_t first_device;     /* global id of this fleet's first device (set by the loader) */
	int link;                  /* index into scenario.links; -1: none (loopback); a matrix link axis overrides */
	double battery_wh;         /* battery capacity for battery life, default the scenario's (5 Wh) */
	double sleep_uw;           /* sleep floor between wakes; < 0: the link profile's */
};

/* One point of the matrix. */
struct variant {
	char name[96];             /* e.g. "mqtt qos=1 tls=none" : axes that vary are named */
	enum protocol protocol;
	enum tls_mode tls;
	enum resume_mode resume;
	int client_cert;           /* mutual TLS: each device presents its own certificate */
	enum broker_kind broker;
	int qos;                   /* -1: take each fleet's qos */
	int link;                  /* index into scenario.links; -1: take each fleet's link */
	int connection;            /* enum conn_mode; -1: take each fleet's connection */
	enum stack_mode stack;     /* replay: the first wake of each fleet records the library's bytes, the rest replay them */
};

struct scenario {
	char path[4096];           /* as given to scenario_load() */
	char name[SCENARIO_NAME_MAX]; /* [A-Za-z0-9_.-]+, used in the results directory name */
	uint64_t seed;
	uint64_t duration_us;      /* measurement window per variant, 1s..7d */
	uint32_t concurrency;      /* max wakes in flight per variant, 1..400 (paho trap: < 512 handles) */
	uint64_t wake_timeout_us;  /* a wake still running after this fails with ERR_TIMEOUT, 1s..10m, default 30s */
	enum overrun overrun;      /* wakes due in the window but not started at its end: finish (default) or stop */
	char endpoint_host[256];   /* empty: dormant starts its own broker */
	uint16_t endpoint_port;
	int tls_verify;            /* verify the server certificate (default 1); 0 is shown in the results */
	char tls_ciphersuite[64];  /* empty: the mode's pinned default (sim/net/tls.c) */
	enum tls_fault tls_fault;
	enum auth_fault auth_fault;
	double battery_wh;         /* default of the fleets' battery_wh: 5 Wh, 3GPP TR 45.820's assumption */
	double sleep_uw;           /* default of the fleets' sleep_uw; < 0: each link profile's */

	/* The link profiles the fleets and the matrix name, each loaded once
	 * (scenarios/links/NAME.yaml beside the scenario file, or a path). */
	size_t nlinks;
	struct link_profile links[LINKS_MAX];

	size_t nfleets;
	struct fleet fleets[FLEETS_MAX];
	uint32_t ndevices;         /* sum of fleet counts */

	size_t nvariants;
	struct variant variants[VARIANTS_MAX];
};

/* Parses and validates PATH. On success returns ERR_OK and *out (caller frees
 * with scenario_free). On failure returns ERR_SCENARIO, *out = NULL and
 * writes the one-line message (no trailing newline) into errbuf. */
enum dormant_err scenario_load(const char *path, struct scenario **out,
                               char *errbuf, size_t errlen);
/* Same, from a buffer; PATH is only used in messages. */
enum dormant_err scenario_load_buffer(const char *path, const char *text, size_t len,
                                      struct scenario **out, char *errbuf, size_t errlen);
void scenario_free(struct scenario *s);

/* The qos a device of FLEET uses in VARIANT. */
int scenario_qos(const struct variant *v, const struct fleet *f);
/* The connection mode of a device of FLEET in VARIANT. */
enum conn_mode scenario_connection(const struct variant *v, const struct fleet *f);
/* The link a device of FLEET is behind in VARIANT (the variant's link axis,
 * else the fleet's link), or NULL: loopback, no link. Points into s->links. */
const struct link_profile *scenario_link(const struct scenario *s, const struct variant *v,
                                         const struct fleet *f);
/* Whether a device of FLEET in VARIANT behind P listens through its sleeps:
 * it keeps its connection (persistent), takes commands (downlink) and P has
 * listening figures (link.h). */
int scenario_listens(const struct variant *v, const struct fleet *f, const struct link_profile *p);
/* The profile a device of FLEET's radio follows in VARIANT: its link's, or
 * that link's listening one (link_listening, into *BUF) when it listens;
 * NULL: loopback. */
const struct link_profile *scenario_radio(const struct scenario *s, const struct variant *v, const struct fleet *f,
                                          struct link_profile *buf);
/* Whether any device of any variant is behind a link. */
int scenario_has_links(const struct scenario *s);
/* Whether any fleet of V is behind a link (then every one is: the loader checks). */
int scenario_variant_has_link(const struct scenario *s, const struct variant *v);
/* Devices a scenario with links may have: one address each in 198.18.0.0/16. */
#define LINK_DEVICES_MAX 65533u
/* The sleep floor of FLEET's devices behind link P, uW: the fleet's
 * sleep_uw if set, else P's; a listening radio's (scenario_radio) is its
 * listening floor, whatever the fleet says of its deep sleep. */
double scenario_sleep_uw(const struct fleet *f, const struct link_profile *p);

#endif
