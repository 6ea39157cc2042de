/* scenario.c: loads and validates scenario files (see scenario.h).
 *
 * Two passes. libyaml's event parser builds a small tree of scalars,
 * sequences and mappings that remembers where each node starts; then the
 * tree is checked against the key table below, which declares every key once
 * with its level, type, bounds and default. The first error found, in
 * document order, becomes the one message; nothing else is reported.
 *
 * Values not built yet (a TLS mode, a protocol) are parsed and refused with
 * a message naming what is built. Each value's `built` flag is one line in
 * the value tables, so enabling a value when its code lands is a one-line
 * change.
 */
#include "scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <yaml.h>

#include "ledger.h"
#include "parse.h"
#include "sched.h"
#include "ytree.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x) STR_(x)

#define US_PER_S UINT64_C(1000000)
#define DEVICES_MAX 100000     /* over all fleets */
#define FILE_MAX (1u << 20)    /* a scenario file larger than this is a mistake */

/* ---- Axis values ---------------------------------------------------- */

enum { NOT_BUILT, BUILT };

struct enum_value {
	const char *name;
	int value;
	int built;
};

/* Indexed by the enum value, so the *_name() functions are lookups. */
static const struct enum_value protocol_values[] = {
	[PROTO_MQTT] = { "mqtt", PROTO_MQTT, BUILT },
	[PROTO_AMQP] = { "amqp", PROTO_AMQP, BUILT },
	[PROTO_HTTP] = { "http", PROTO_HTTP, BUILT },
};
static const struct enum_value tls_values[] = {
	[TLS_NONE] = { "none", TLS_NONE, BUILT },
	[TLS_ECDSA] = { "ecdsa", TLS_ECDSA, BUILT },
	[TLS_RSA] = { "rsa", TLS_RSA, BUILT },
	[TLS_PSK] = { "psk", TLS_PSK, BUILT },
};
static const struct enum_value resume_values[] = {
	[RESUME_NONE] = { "none", RESUME_NONE, BUILT },
	[RESUME_SESSION_ID] = { "session-id", RESUME_SESSION_ID, BUILT },
	[RESUME_TICKET] = { "ticket", RESUME_TICKET, BUILT },
};
static const struct enum_value broker_values[] = {
	[BROKER_DEFAULT] = { "default", BROKER_DEFAULT, BUILT },
	[BROKER_MOSQUITTO] = { "mosquitto", BROKER_MOSQUITTO, BUILT },
	[BROKER_RABBITMQ] = { "rabbitmq", BROKER_RABBITMQ, BUILT },
};
static const struct enum_value conn_values[] = {
	[CONN_PER_WAKE] = { "per-wake", CONN_PER_WAKE, BUILT },
	[CONN_PERSISTENT] = { "persistent", CONN_PERSISTENT, BUILT }, /* MQTT, AMQP and HTTP (downlink: MQTT): checked per variant */
};
/* real: the protocol library itself, every wake; replay: the variant's
 * first wake of each fleet on the library, recorded, the rest replayed
 * from it (sim/replay.h): the same bytes and TLS at a fleet's scale. */
static const struct enum_value stack_values[] = {
	[STACK_REAL] = { "real", STACK_REAL, BUILT },
	[STACK_REPLAY] = { "replay", STACK_REPLAY, BUILT }, /* per-wake, no downlink: checked per variant */
};
static const struct enum_value session_values[] = {
	[SESSION_BEFORE_WINDOW] = { "before-window", SESSION_BEFORE_WINDOW, BUILT },
	[SESSION_FIRST_WAKE] = { "first-wake", SESSION_FIRST_WAKE, BUILT },
};
static const struct enum_value qos_values[] = {
	{ "0", 0, BUILT },
	{ "1", 1, BUILT },
};
static const struct enum_value bool_values[] = {
	{ "false", 0, BUILT },
	{ "true", 1, BUILT }, /* downlink */
};
static const struct enum_value flag_values[] = {
	{ "false", 0, BUILT },
	{ "true", 1, BUILT },
};
static const struct enum_value auth_fault_values[] = {
	[AUTH_FAULT_NONE] = { "none", AUTH_FAULT_NONE, BUILT },
	[AUTH_FAULT_WRONG_TOKEN] = { "wrong-token", AUTH_FAULT_WRONG_TOKEN, BUILT },
};
static const struct enum_value overrun_values[] = {
	[OVERRUN_FINISH] = { "finish", OVERRUN_FINISH, BUILT },
	[OVERRUN_STOP] = { "stop", OVERRUN_STOP, BUILT },
};
static const struct enum_value tls_fault_values[] = {
	[TLS_FAULT_NONE] = { "none", TLS_FAULT_NONE, BUILT },
	[TLS_FAULT_WRONG_CA] = { "wrong-ca", TLS_FAULT_WRONG_CA, BUILT },
	[TLS_FAULT_WRONG_NAME] = { "wrong-name", TLS_FAULT_WRONG_NAME, BUILT },
	[TLS_FAULT_WRONG_PSK] = { "wrong-psk", TLS_FAULT_WRONG_PSK, BUILT },
};

_Static_assert(NELEMS(protocol_values) == PROTO_COUNT, "protocol_values");
_Static_assert(NELEMS(tls_values) == TLS_COUNT, "tls_values");
_Static_assert(NELEMS(resume_values) == RESUME_COUNT, "resume_values");
_Static_assert(NELEMS(broker_values) == BROKER_COUNT, "broker_values");
_Static_assert(NELEMS(conn_values) == CONN_COUNT, "conn_values");
_Static_assert(NELEMS(session_values) == SESSION_COUNT, "session_values");
_Static_assert(NELEMS(stack_values) == STACK_COUNT, "stack_values");
_Static_assert(NELEMS(overrun_values) == OVERRUN_COUNT, "overrun_values");

static const char *value_name(const struct enum_value *v, size_t n, int value)
{
	if (value < 0 || (size_t)value >= n)
		return "unknown";
	return v[value].name;
}

const char *protocol_name(enum protocol p)
{
	return value_name(protocol_values, NELEMS(protocol_values), (int)p);
}

const char *tls_mode_name(enum tls_mode t)
{
	return value_name(tls_values, NELEMS(tls_values), (int)t);
}

const char *resume_mode_name(enum resume_mode r)
{
	return value_name(resume_values, NELEMS(resume_values), (int)r);
}

const char *broker_kind_name(enum broker_kind b)
{
	return value_name(broker_values, NELEMS(broker_values), (int)b);
}

const char *auth_fault_name(enum auth_fault f)
{
	return value_name(auth_fault_values, NELEMS(auth_fault_values), (int)f);
}

const char *overrun_name(enum overrun o)
{
	return value_name(overrun_values, NELEMS(overrun_values), (int)o);
}

const char *tls_fault_name(enum tls_fault f)
{
	return value_name(tls_fault_values, NELEMS(tls_fault_values), (int)f);
}

const char *conn_mode_name(enum conn_mode c)
{
	return value_name(conn_values, NELEMS(conn_values), (int)c);
}

const char *stack_mode_name(enum stack_mode m)
{
	return value_name(stack_values, NELEMS(stack_values), (int)m);
}

const char *session_mode_name(enum session_mode m)
{
	return value_name(session_values, NELEMS(session_values), (int)m);
}

int scenario_ciphersuite_known(const char *name)
{
	return mbedtls_ssl_ciphersuite_from_string(name) != NULL;
}

int scenario_qos(const struct variant *v, const struct fleet *f)
{
	return v->qos >= 0 ? v->qos : f->qos;
}

enum conn_mode scenario_connection(const struct variant *v, const struct fleet *f)
{
	return v->connection >= 0 ? (enum conn_mode)v->connection : f->connection;
}

const struct link_profile *scenario_link(const struct scenario *s, const struct variant *v,
                                         const struct fleet *f)
{
	int i = v->link >= 0 ? v->link : f->link;
	return i >= 0 && (size_t)i < s->nlinks ? &s->links[i] : NULL;
}

int scenario_variant_has_link(const struct scenario *s, const struct variant *v)
{
	for (size_t f = 0; f < s->nfleets; f++)
		if (scenario_link(s, v, &s->fleets[f]))
			return 1;
	return 0;
}

int scenario_has_links(const struct scenario *s)
{
	for (size_t v = 0; v < s->nvariants; v++)
		for (size_t f = 0; f < s->nfleets; f++)
			if (scenario_link(s, &s->variants[v], &s->fleets[f]))
				return 1;
	return 0;
}

int scenario_listens(const struct variant *v, const struct fleet *f, const struct link_profile *p)
{
	return p && p->can_listen && f->downlink && scenario_connection(v, f) == CONN_PERSISTENT;
}

const struct link_profile *scenario_radio(const struct scenario *s, const struct variant *v, const struct fleet *f,
                                          struct link_profile *buf)
{
	const struct link_profile *p = scenario_link(s, v, f);
	if (scenario_listens(v, f, p) && link_listening(p, buf) == 0)
		return buf;
	return p;
}

double scenario_sleep_uw(const struct fleet *f, const struct link_profile *p)
{
	if (p && p->listening)
		return p->sleep_uw;
	if (f->sleep_uw >= 0)
		return f->sleep_uw;
	return p ? p->sleep_uw : 0;
}

/* ---- The key table -------------------------------------------------- */

enum level { LEVEL_TOP, LEVEL_FLEET, LEVEL_MATRIX };

/* "valid <adjective> keys", "unknown key <place>" */
static const char *const level_adjective[] = { "top-level", "fleet", "matrix" };
static const char *const level_place[] = { "at the top level", "in a fleet", "in the matrix" };

enum key_type {
	T_NAME,      /* [A-Za-z0-9_.-]{1,width-1} into a char array */
	T_UINT,
	T_DURATION,  /* microseconds */
	T_SIZE,      /* bytes */
	T_BOOL,
	T_ENUM,
	T_ENDPOINT,  /* A.B.C.D:PORT into endpoint_host/endpoint_port */
	T_FLEETS,    /* sequence of LEVEL_FLEET mappings */
	T_MATRIX,    /* mapping of LEVEL_MATRIX axes */
	T_AXIS,      /* one value or a sequence of values of an enum (link: of link names) */
	T_DECIMAL,   /* a double, parse_decimal() within [dmin, dmax] */
	T_LINK,      /* a link name or profile path, loaded into scenario.links; the index into an int */
};

/* Matrix axes in the order of the cross product (the last varies fastest). */
enum axis { AXIS_PROTOCOL, AXIS_BROKER, AXIS_TLS, AXIS_CLIENT_CERT, AXIS_RESUME, AXIS_QOS, AXIS_CONNECTION, AXIS_LINK,
            AXIS_STACK, AXIS_COUNT };

struct axes {
	int value[AXIS_COUNT][AXIS_MAX];
	const struct ynode *at[AXIS_COUNT][AXIS_MAX]; /* NULL for defaults */
	size_t n[AXIS_COUNT];
};

/* Every key, by level. The ids index the `seen` arrays. */
enum key_id {
	K_NAME, K_SEED, K_DURATION, K_CONCURRENCY, K_WAKE_TIMEOUT, K_OVERRUN, K_ENDPOINT, K_TLS_VERIFY,
	K_TLS_CIPHERSUITE, K_TLS_FAULT, K_AUTH_FAULT, K_BATTERY, K_SLEEP, K_FLEETS, K_MATRIX,
	K_FLEET_NAME, K_COUNT, K_WAKE_EVERY, K_JITTER, K_PAYLOAD, K_MESSAGES_PER_WAKE, K_FLEET_QOS,
	K_CONNECTION, K_KEEPALIVE, K_DOWNLINK, K_COMMAND_EVERY, K_SESSION, K_FLEET_LINK, K_FLEET_BATTERY, K_FLEET_SLEEP,
	K_PROTOCOL, K_TLS, K_CLIENT_CERT, K_RESUME, K_BROKER, K_AXIS_QOS, K_AXIS_CONNECTION, K_AXIS_LINK,
	K_STACK, NKEYS
};

struct key {
	const char *name;
	enum level level;
	enum key_type type;
	int required;
	const char *def;         /* default in scenario syntax, parsed like a value; NULL: none */
	uint64_t min, max;       /* T_UINT, T_DURATION, T_SIZE; for T_FLEETS the count */
	const char *expected;    /* "expected ..., got" text; NULL for enums (listed from values) */
	const char *min_why;     /* said after "must be at least X" */
	const char *max_why;
	const struct enum_value *values; /* T_ENUM, T_BOOL, T_AXIS */
	size_t nvalues;
	enum axis axis;          /* T_AXIS */
	double dmin, dmax;       /* T_DECIMAL */
	size_t offset, width;    /* the field in struct scenario or struct fleet */
};

#define FIELD(type, member) .offset = offsetof(type, member), .width = sizeof(((type *)0)->member)
#define VALUES(t) .values = (t), .nvalues = NELEMS(t)
#define SECONDS(n) ((uint64_t)(n) * US_PER_S)

#define EXPECT_NAME "a name of letters, digits, '_', '.' and '-'"
#define EXPECT_LINK "a link like nbiot (links/nbiot.yaml beside the scenario) or a profile path"

static const struct key keys[NKEYS] = {
	[K_NAME] = { "name", LEVEL_TOP, T_NAME, .required = 1, .expected = EXPECT_NAME,
	             FIELD(struct scenario, name) },
	[K_SEED] = { "seed", LEVEL_TOP, T_UINT, .def = "1", .min = 0, .max = UINT64_MAX,
	             .expected = "a number like 42", FIELD(struct scenario, seed) },
	[K_DURATION] = { "duration", LEVEL_TOP, T_DURATION, .required = 1,
	                 .min = SECONDS(1), .max = SECONDS(7 * 86400),
	                 .expected = "a duration like 30s", FIELD(struct scenario, duration_us) },
	[K_CONCURRENCY] = { "concurrency", LEVEL_TOP, T_UINT, .def = "64", .min = 1, .max = 400,
	                    .expected = "a number like 64",
	                    .max_why = "the MQTT client library fails at 512 handles",
	                    FIELD(struct scenario, concurrency) },
	[K_WAKE_TIMEOUT] = { "wake_timeout", LEVEL_TOP, T_DURATION, .def = "30s",
	                     .min = SECONDS(1), .max = SECONDS(600),
	                     .expected = "a duration like 30s",
	                     FIELD(struct scenario, wake_timeout_us) },
	[K_OVERRUN] = { "overrun", LEVEL_TOP, T_ENUM, .def = "finish", VALUES(overrun_values),
	                FIELD(struct scenario, overrun) },
	[K_ENDPOINT] = { "endpoint", LEVEL_TOP, T_ENDPOINT,
	                 .expected = "an IPv4 address and port like 127.0.0.1:1883" },
	[K_TLS_VERIFY] = { "tls_verify", LEVEL_TOP, T_BOOL, .def = "true", .expected = "true or false",
	                   VALUES(flag_values), FIELD(struct scenario, tls_verify) },
	[K_TLS_CIPHERSUITE] = { "tls_ciphersuite", LEVEL_TOP, T_NAME,
	                        .expected = "an IANA-style suite name like TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
	                        FIELD(struct scenario, tls_ciphersuite) },
	[K_TLS_FAULT] = { "tls_fault", LEVEL_TOP, T_ENUM, .def = "none", VALUES(tls_fault_values),
	                  FIELD(struct scenario, tls_fault) },
	[K_AUTH_FAULT] = { "auth_fault", LEVEL_TOP, T_ENUM, .def = "none", VALUES(auth_fault_values),
	                   FIELD(struct scenario, auth_fault) },
	/* 3GPP TR 45.820's battery-life assumption (5 Wh, no self-discharge). */
	[K_BATTERY] = { "battery_wh", LEVEL_TOP, T_DECIMAL, .def = "5", .dmin = 0.01, .dmax = 100000,
	                .expected = "a capacity in Wh like 5", FIELD(struct scenario, battery_wh) },
	/* No default: each link profile's sleep floor. */
	[K_SLEEP] = { "sleep_uw", LEVEL_TOP, T_DECIMAL, .dmin = 0, .dmax = 1e6,
	              .expected = "a power in uW like 15", FIELD(struct scenario, sleep_uw) },
	[K_FLEETS] = { "fleets", LEVEL_TOP, T_FLEETS, .required = 1, .min = 1, .max = FLEETS_MAX,
	               .expected = "a sequence of fleets" },
	[K_MATRIX] = { "matrix", LEVEL_TOP, T_MATRIX,
	               .expected = "a mapping of axes like protocol: [mqtt]" },

	[K_FLEET_NAME] = { "name", LEVEL_FLEET, T_NAME, .required = 1, .expected = EXPECT_NAME,
	                   FIELD(struct fleet, name) },
	[K_COUNT] = { "count", LEVEL_FLEET, T_UINT, .required = 1, .min = 1, .max = DEVICES_MAX,
	              .expected = "a number like 100", FIELD(struct fleet, count) },
	[K_WAKE_EVERY] = { "wake_every", LEVEL_FLEET, T_DURATION, .required = 1,
	                   .min = 100000, .max = SECONDS(86400),
	                   .expected = "a duration like 30s", FIELD(struct fleet, wake_every_us) },
	[K_JITTER] = { "jitter", LEVEL_FLEET, T_DURATION, .def = "0s", .min = 0, .max = SECONDS(86400),
	               .expected = "a duration like 200ms", FIELD(struct fleet, jitter_us) },
	[K_PAYLOAD] = { "payload", LEVEL_FLEET, T_SIZE, .def = "48B",
	                .min = PAYLOAD_MIN, .max = 256 << 10,
	                .expected = "a size like 48B or 2KiB",
	                .min_why = "payloads carry a " STR(PAYLOAD_MIN) "-byte header",
	                FIELD(struct fleet, payload_bytes) },
	[K_MESSAGES_PER_WAKE] = { "messages_per_wake", LEVEL_FLEET, T_UINT, .def = "1",
	                          .min = 1, .max = 1000, .expected = "a number like 1",
	                          FIELD(struct fleet, messages_per_wake) },
	[K_FLEET_QOS] = { "qos", LEVEL_FLEET, T_UINT, .def = "1", .min = 0, .max = 1,
	                  .expected = "0 or 1", FIELD(struct fleet, qos) },
	[K_CONNECTION] = { "connection", LEVEL_FLEET, T_ENUM, .def = "per-wake",
	                   VALUES(conn_values), FIELD(struct fleet, connection) },
	/* connection: persistent: the keep-alive, whole seconds up to MQTT's
	 * 16-bit limit. MQTT: a PINGREQ after this long without a packet; AMQP:
	 * an empty frame after this long without output (the broker announces
	 * an idle-time-out of twice it). */
	[K_KEEPALIVE] = { "keepalive", LEVEL_FLEET, T_DURATION, .def = "60s", .min = SECONDS(1), .max = SECONDS(65535),
	                  .expected = "a duration like 60s", .max_why = "MQTT's keep-alive is a 16-bit count of seconds",
	                  FIELD(struct fleet, keepalive_us) },
	[K_DOWNLINK] = { "downlink", LEVEL_FLEET, T_BOOL, .def = "false", .expected = "true or false",
	                 VALUES(bool_values), FIELD(struct fleet, downlink) },
	[K_COMMAND_EVERY] = { "command_every", LEVEL_FLEET, T_DURATION, .def = "0s", .min = 0, .max = SECONDS(86400),
	                      .expected = "a duration like 10s (0s: no commands)",
	                      FIELD(struct fleet, command_every_us) },
	/* before-window: each downlink device's session is made before the window,
	 * on a set-up connection that is no wake (no row, not in the figures);
	 * first-wake: the device's first wake makes it, and commands issued before
	 * that are dropped by the broker (MQTT; AMQP and HTTP queue per device
	 * from before the window either way). */
	[K_SESSION] = { "session", LEVEL_FLEET, T_ENUM, .def = "before-window", VALUES(session_values),
	                FIELD(struct fleet, session) },

	/* scenarios/links/NAME.yaml beside the scenario, or a profile's path. */
	[K_FLEET_LINK] = { "link", LEVEL_FLEET, T_LINK, .expected = EXPECT_LINK, FIELD(struct fleet, link) },
	/* No defaults: the scenario's battery_wh and sleep_uw. */
	[K_FLEET_BATTERY] = { "battery_wh", LEVEL_FLEET, T_DECIMAL, .dmin = 0.01, .dmax = 100000,
	                      .expected = "a capacity in Wh like 5", FIELD(struct fleet, battery_wh) },
	[K_FLEET_SLEEP] = { "sleep_uw", LEVEL_FLEET, T_DECIMAL, .dmin = 0, .dmax = 1e6,
	                    .expected = "a power in uW like 15", FIELD(struct fleet, sleep_uw) },

	[K_PROTOCOL] = { "protocol", LEVEL_MATRIX, T_AXIS, .def = "mqtt",
	                 VALUES(protocol_values), .axis = AXIS_PROTOCOL },
	[K_TLS] = { "tls", LEVEL_MATRIX, T_AXIS, .def = "none", VALUES(tls_values), .axis = AXIS_TLS },
	[K_CLIENT_CERT] = { "client_cert", LEVEL_MATRIX, T_AXIS, .def = "false", VALUES(flag_values),
	                    .axis = AXIS_CLIENT_CERT },
	[K_RESUME] = { "resume", LEVEL_MATRIX, T_AXIS, .def = "none",
	               VALUES(resume_values), .axis = AXIS_RESUME },
	[K_BROKER] = { "broker", LEVEL_MATRIX, T_AXIS, .def = "default",
	               VALUES(broker_values), .axis = AXIS_BROKER },
	/* No default: without a qos axis each fleet's qos applies. */
	[K_AXIS_QOS] = { "qos", LEVEL_MATRIX, T_AXIS, VALUES(qos_values), .axis = AXIS_QOS },
	/* No default: without a connection axis each fleet's connection applies. */
	[K_AXIS_CONNECTION] = { "connection", LEVEL_MATRIX, T_AXIS, VALUES(conn_values), .axis = AXIS_CONNECTION },
	/* No default: without a link axis each fleet's link applies. Values are
	 * link names, not an enum: indices into scenario.links. */
	[K_AXIS_LINK] = { "link", LEVEL_MATRIX, T_AXIS, .expected = EXPECT_LINK, .axis = AXIS_LINK },
	[K_STACK] = { "stack", LEVEL_MATRIX, T_AXIS, .def = "real", VALUES(stack_values), .axis = AXIS_STACK },
};

/* ---- The loader ---------------------------------------------------- */

struct loader {
	struct yreader yr;        /* the file, its tree (yr.root) and the first error */
	struct axes axes;
	/* where each fleet and its qos are (NULL: defaulted), for rules checked per variant */
	const struct ynode *fleet_at[FLEETS_MAX], *qos_at[FLEETS_MAX];
	/* and its connection and keepalive (NULL: defaulted) */
	const struct ynode *conn_at[FLEETS_MAX], *keepalive_at[FLEETS_MAX];
	/* and its messages_per_wake and command_every (NULL: defaulted), for the plan's bounds */
	const struct ynode *mpw_at[FLEETS_MAX], *cmd_at[FLEETS_MAX];
	/* and its battery_wh and sleep_uw (NULL: the scenario's) */
	const struct ynode *battery_at[FLEETS_MAX], *sleep_at[FLEETS_MAX];
	struct scenario *s;       /* being loaded: links are loaded into it */
	char *link_real[LINKS_MAX]; /* realpath() of each of s->links, to load each once */
};

#define fail(ld, node, key, ...) ytree_fail_at(&(ld)->yr, (node), (key), __VA_ARGS__)
#define QUOTED_SIZE YTREE_QUOTED_SIZE

/* "a, b, c": the names of LEVEL's keys. */
static const char *key_list(enum level level, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NKEYS && o < n; i++)
		if (keys[i].level == level)
			o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", keys[i].name);
	return buf;
}

/* "a, b, c": the values of K, only the built ones when built_only. */
static const char *value_list(const struct key *k, int built_only, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < k->nvalues && o < n; i++)
		if (!built_only || k->values[i].built)
			o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "",
			                      k->values[i].name);
	return buf;
}

/* ---- Pass 2: the tree against the key table ------------------------- */

static const struct key *find_key(enum level level, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].level == level && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Stores V into the unsigned or int field of width k->width at k->offset. */
static void store_uint(void *base, const struct key *k, uint64_t v)
{
	char *p = (char *)base + k->offset;
	switch (k->width) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	case 8: memcpy(p, &v, 8); break;
	}
}

static const char *format_bound(const struct key *k, uint64_t v, char *buf, size_t n)
{
	switch (k->type) {
	case T_DURATION:
		return format_duration(v, buf, n);
	case T_SIZE:
		return format_size(v, buf, n);
	default:
		snprintf(buf, n, "%" PRIu64, v);
		return buf;
	}
}

/* A number, duration or size: parses, bounds-checks and stores. */
static int set_number(struct loader *ld, const struct key *k, const struct ynode *at,
                      const char *text, void *base)
{
	enum parse_result r;
	uint64_t v = 0;
	char got[QUOTED_SIZE], bound[FORMAT_MAX], why[256] = "";

	ytree_quoted(text, got, sizeof got);

	switch (k->type) {
	case T_DURATION:
		r = parse_duration_us(text, k->min, k->max, &v);
		break;
	case T_SIZE:
		r = parse_size_bytes(text, k->min, k->max, &v);
		break;
	default:
		r = parse_uint(text, k->min, k->max, &v);
		break;
	}
	switch (r) {
	case PARSE_OK:
		store_uint(base, k, v);
		return 0;
	case PARSE_BAD:
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	case PARSE_NEGATIVE:
		return fail(ld, at, k->name, "must not be negative, got %s", got);
	case PARSE_TOO_SMALL:
		if (k->min_why)
			snprintf(why, sizeof why, " (%s)", k->min_why);
		return fail(ld, at, k->name, "must be at least %s%s, got %s",
		            format_bound(k, k->min, bound, sizeof bound), why, got);
	case PARSE_TOO_LARGE:
		if (k->max_why)
			snprintf(why, sizeof why, " (%s)", k->max_why);
		return fail(ld, at, k->name, "must be at most %s%s, got %s",
		            format_bound(k, k->max, bound, sizeof bound), why, got);
	}
	return fail(ld, at, k->name, "internal error: parse result %d", (int)r);
}

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static int set_name(struct loader *ld, const struct key *k, const struct ynode *at,
                    const char *text, void *base)
{
	char got[QUOTED_SIZE];
	size_t len = strlen(text);

	ytree_quoted(text, got, sizeof got);
	for (size_t i = 0; i < len; i++)
		if (!name_char(text[i]))
			return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	if (len == 0)
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	if (len >= k->width)
		return fail(ld, at, k->name, "must be at most %zu characters, got %s",
		            k->width - 1, got);
	memcpy((char *)base + k->offset, text, len + 1);
	return 0;
}

/* The index of TEXT among k->values, refusing values not built; -1 on error. */
static int lookup_value(struct loader *ld, const struct key *k, const struct ynode *at,
                        const char *text)
{
	char got[QUOTED_SIZE], list[256];
	int idx = -1;

	if (k->type == T_BOOL) {
		int b;
		if (parse_bool(text, &b) == PARSE_OK)
			for (size_t i = 0; i < k->nvalues; i++)
				if (k->values[i].value == b)
					idx = (int)i;
	} else {
		for (size_t i = 0; i < k->nvalues; i++)
			if (strcmp(text, k->values[i].name) == 0)
				idx = (int)i;
	}
	if (idx < 0) {
		ytree_quoted(text, got, sizeof got);
		if (k->expected)
			return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
		return fail(ld, at, k->name, "expected one of %s, got %s",
		            value_list(k, 0, list, sizeof list), got);
	}
	if (!k->values[idx].built)
		return fail(ld, at, k->name, "%s is not built yet (built: %s)", k->values[idx].name,
		            value_list(k, 1, list, sizeof list));
	return idx;
}

/* IPv4 literal: four decimal octets, no leading zeros. Returns the length
 * of the address at s, or 0. */
static size_t scan_ipv4(const char *s)
{
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return 0;
		unsigned v = 0;
		int nd = 0;
		while (*p >= '0' && *p <= '9' && nd < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			nd++;
		}
		if (nd == 0 || nd > 3 || v > 255 || (nd > 1 && p[-nd] == '0'))
			return 0;
	}
	return (size_t)(p - s);
}

static int set_endpoint(struct loader *ld, const struct key *k, const struct ynode *at,
                        const char *text, struct scenario *s)
{
	char got[QUOTED_SIZE];
	uint64_t port;

	ytree_quoted(text, got, sizeof got);
	size_t n = scan_ipv4(text);
	if (n == 0 || text[n] != ':')
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	switch (parse_uint(text + n + 1, 1, 65535, &port)) {
	case PARSE_OK:
		break;
	case PARSE_TOO_SMALL:
	case PARSE_TOO_LARGE:
		return fail(ld, at, k->name, "port must be between 1 and 65535, got %s", got);
	default:
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	}
	memcpy(s->endpoint_host, text, n);
	s->endpoint_host[n] = '\0';
	s->endpoint_port = (uint16_t)port;
	return 0;
}

/* A decimal (T_DECIMAL): parses, bounds-checks and stores a double. */
static int set_decimal(struct loader *ld, const struct key *k, const struct ynode *at,
                       const char *text, void *base)
{
	char got[QUOTED_SIZE];
	double v = 0;

	ytree_quoted(text, got, sizeof got);
	switch (parse_decimal(text, k->dmin, k->dmax, &v)) {
	case PARSE_OK:
		memcpy((char *)base + k->offset, &v, sizeof v);
		return 0;
	case PARSE_NEGATIVE:
		return fail(ld, at, k->name, "must not be negative, got %s", got);
	case PARSE_TOO_SMALL:
		return fail(ld, at, k->name, "must be at least %g, got %s", k->dmin, got);
	case PARSE_TOO_LARGE:
		return fail(ld, at, k->name, "must be at most %g, got %s", k->dmax, got);
	default:
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	}
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The profile TEXT names, loaded into ld->s->links once: its index, or -1.
 * A bare name is DIR/links/NAME.yaml, DIR the scenario file's directory; a
 * value with a '/' or ending in .yaml is a path, relative to DIR unless
 * absolute. A profile that does not load gives the profile's own message,
 * with where the scenario named it. */
static int resolve_link(struct loader *ld, const struct key *k, const struct ynode *at, const char *text)
{
	struct scenario *s = ld->s;
	char dir[LINK_PATH_MAX], path[LINK_PATH_MAX + 64], got[QUOTED_SIZE];
	int is_path = strchr(text, '/') || ends_with(text, ".yaml");

	ytree_quoted(text, got, sizeof got);
	if (text[0] == '\0')
		return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	for (const char *c = text; !is_path && *c; c++)
		if (!name_char(*c))
			return fail(ld, at, k->name, "expected %s, got %s", k->expected, got);
	ytree_dir(ld->yr.path, dir, sizeof dir);
	if (is_path && text[0] == '/')
		snprintf(path, sizeof path, "%s", text);
	else if (is_path)
		snprintf(path, sizeof path, "%s/%s", dir, text);
	else
		snprintf(path, sizeof path, "%s/links/%s.yaml", dir, text);
	if (strlen(path) >= LINK_PATH_MAX)
		return fail(ld, at, k->name, "the profile's path is longer than %d bytes", LINK_PATH_MAX - 1);

	char *real = realpath(path, NULL);
	if (!real) {
		if (errno == ENOMEM)
			return ytree_nomem(&ld->yr);
		return fail(ld, at, k->name, "no link profile %s: %s: %s%s", got, path, strerror(errno),
		            is_path ? "" : " (the shipped profiles are in scenarios/links/)");
	}
	for (size_t i = 0; i < s->nlinks; i++)
		if (strcmp(ld->link_real[i], real) == 0) {
			free(real);
			return (int)i;
		}
	if (s->nlinks == LINKS_MAX) {
		free(real);
		return fail(ld, at, k->name, "at most %d different links in a scenario", LINKS_MAX);
	}
	char perr[1024], where[LINK_PATH_MAX + 64], msg[sizeof perr + sizeof where];
	enum dormant_err rc = link_profile_load(path, &s->links[s->nlinks], perr, sizeof perr);
	if (rc != ERR_OK) {
		free(real);
		/* The profile's message, shortened if need be so that where the
		 * scenario names it always fits the caller's buffer. */
		int wl = snprintf(where, sizeof where, " (the link of %s:%lu:%lu)", ld->yr.path, at->line, at->col);
		size_t room = ld->yr.errlen > (size_t)wl + 1 ? ld->yr.errlen - (size_t)wl - 1 : 0;
		snprintf(msg, sizeof msg, "%.*s%s", (int)(strlen(perr) < room ? strlen(perr) : room), perr, where);
		return ytree_fail_as_is(&ld->yr, rc, msg);
	}
	ld->link_real[s->nlinks] = real;
	return (int)s->nlinks++;
}

/* Adds one value to a matrix axis. */
static int add_axis_value(struct loader *ld, const struct key *k, const struct ynode *at,
                          const char *text)
{
	struct axes *ax = &ld->axes;
	int idx = k->axis == AXIS_LINK ? resolve_link(ld, k, at, text) : lookup_value(ld, k, at, text);
	if (idx < 0)
		return -1;
	int v = k->axis == AXIS_LINK ? idx : k->values[idx].value;
	for (size_t i = 0; i < ax->n[k->axis]; i++)
		if (ax->value[k->axis][i] == v)
			return fail(ld, at, k->name, "%s is listed twice",
			            k->axis == AXIS_LINK ? ld->s->links[idx].name : k->values[idx].name);
	ax->at[k->axis][ax->n[k->axis]] = at;
	ax->value[k->axis][ax->n[k->axis]++] = v;
	return 0;
}

/* A scalar value (given, or a default) of a key. AT locates messages. */
static int set_scalar(struct loader *ld, const struct key *k, const struct ynode *at,
                      const char *text, void *base)
{
	int idx;

	switch (k->type) {
	case T_NAME:
		return set_name(ld, k, at, text, base);
	case T_UINT:
	case T_DURATION:
	case T_SIZE:
		return set_number(ld, k, at, text, base);
	case T_BOOL:
	case T_ENUM:
		idx = lookup_value(ld, k, at, text);
		if (idx < 0)
			return -1;
		store_uint(base, k, (uint64_t)k->values[idx].value);
		return 0;
	case T_ENDPOINT:
		return set_endpoint(ld, k, at, text, base);
	case T_AXIS:
		return add_axis_value(ld, k, at, text);
	case T_DECIMAL:
		return set_decimal(ld, k, at, text, base);
	case T_LINK:
		idx = resolve_link(ld, k, at, text);
		if (idx < 0)
			return -1;
		memcpy((char *)base + k->offset, &idx, sizeof idx);
		return 0;
	case T_FLEETS:
	case T_MATRIX:
		break;
	}
	return fail(ld, at, k->name, "internal error: key type %d has no scalar form", (int)k->type);
}

/* Where a level's keys were seen: key and value nodes, by key id. */
struct seen {
	const struct ynode *key[NKEYS];
	const struct ynode *value[NKEYS];
};

static int load_value(struct loader *ld, const struct key *k, const struct ynode *v, void *base);
static int finish_mapping(struct loader *ld, const struct ynode *at, enum level level, void *base,
                          const char *where, const struct seen *seen);

/* Checks every key of MAP against LEVEL, stores values into BASE, then
 * applies defaults. WHERE names the mapping in a missing-key message
 * ("fleets[1]"; NULL at the top level). */
static int load_mapping(struct loader *ld, const struct ynode *map, enum level level, void *base,
                        const char *where, struct seen *seen)
{
	char buf[512];

	memset(seen, 0, sizeof *seen);
	for (size_t i = 0; i + 1 < map->nchild; i += 2) {
		const struct ynode *kn = map->child[i], *vn = map->child[i + 1];
		if (kn->kind != YNODE_SCALAR)
			return fail(ld, kn, NULL, "expected a key name, got %s",
			            ytree_describe(kn, buf, sizeof buf));
		const struct key *k = find_key(level, kn->text);
		if (!k) {
			const struct key *other = NULL;
			for (enum level l = LEVEL_TOP; l <= LEVEL_MATRIX && !other; l++)
				if (l != level)
					other = find_key(l, kn->text);
			char list[256];
			key_list(level, list, sizeof list);
			if (other)
				return fail(ld, kn, kn->text, "unknown key %s, it belongs %s; valid %s keys: %s",
				            level_place[level], level_place[other->level],
				            level_adjective[level], list);
			return fail(ld, kn, kn->text, "unknown key; valid %s keys: %s",
			            level_adjective[level], list);
		}
		size_t id = (size_t)(k - keys);
		if (seen->key[id])
			return fail(ld, kn, k->name, "duplicate key (first at line %lu)", seen->key[id]->line);
		seen->key[id] = kn;
		seen->value[id] = vn;
		if (load_value(ld, k, vn, base) < 0)
			return -1;
	}
	return finish_mapping(ld, map, level, base, where, seen);
}

/* After the keys of a mapping at AT: missing required keys are errors, the
 * others get their defaults. */
static int finish_mapping(struct loader *ld, const struct ynode *at, enum level level, void *base,
                          const char *where, const struct seen *seen)
{
	for (size_t id = 0; id < NKEYS; id++) {
		const struct key *k = &keys[id];
		if (k->level != level || seen->key[id])
			continue;
		if (k->required)
			return fail(ld, at, where, "missing required key \"%s\"", k->name);
		if (k->def && set_scalar(ld, k, at, k->def, base) < 0)
			return -1;
	}
	return 0;
}

static int load_axis(struct loader *ld, const struct key *k, const struct ynode *v)
{
	char got[QUOTED_SIZE], list[256];

	switch (v->kind) {
	case YNODE_SCALAR:
		return add_axis_value(ld, k, v, v->text);
	case YNODE_MAPPING:
		if (k->expected)
			return fail(ld, v, k->name, "expected %s or a list of them, got a mapping", k->expected);
		return fail(ld, v, k->name, "expected one of %s or a list of them, got a mapping",
		            value_list(k, 0, list, sizeof list));
	case YNODE_SEQUENCE:
		break;
	}
	if (v->nchild == 0)
		return fail(ld, v, k->name, "must have at least 1 value");
	if (v->nchild > AXIS_MAX)
		return fail(ld, v, k->name, "must have at most %d values, got %zu", AXIS_MAX, v->nchild);
	for (size_t i = 0; i < v->nchild; i++) {
		const struct ynode *item = v->child[i];
		if (item->kind != YNODE_SCALAR && k->expected)
			return fail(ld, item, k->name, "expected %s, got %s", k->expected,
			            ytree_describe(item, got, sizeof got));
		if (item->kind != YNODE_SCALAR)
			return fail(ld, item, k->name, "expected one of %s, got %s",
			            value_list(k, 0, list, sizeof list), ytree_describe(item, got, sizeof got));
		if (add_axis_value(ld, k, item, item->text) < 0)
			return -1;
	}
	return 0;
}

static int load_fleets(struct loader *ld, const struct key *k, const struct ynode *v,
                       struct scenario *s)
{
	char got[QUOTED_SIZE], where[32];
	const struct ynode *name_at[FLEETS_MAX];
	uint64_t total = 0;

	if (v->kind != YNODE_SEQUENCE)
		return fail(ld, v, k->name, "expected %s, got %s", k->expected,
		            ytree_describe(v, got, sizeof got));
	if (v->nchild < k->min)
		return fail(ld, v, k->name, "must have at least %" PRIu64 " fleet", k->min);
	if (v->nchild > k->max)
		return fail(ld, v->child[k->max], k->name, "must have at most %" PRIu64 " fleets, got %zu",
		            k->max, v->nchild);

	for (size_t i = 0; i < v->nchild; i++) {
		const struct ynode *item = v->child[i];
		struct fleet *f = &s->fleets[i];
		struct seen seen;

		snprintf(where, sizeof where, "fleets[%zu]", i);
		f->link = -1;          /* none: loopback */
		f->battery_wh = -1;    /* the scenario's, set after the top level is read */
		f->sleep_uw = -1;
		if (item->kind != YNODE_MAPPING)
			return fail(ld, item, where, "expected a mapping of fleet keys, got %s",
			            ytree_describe(item, got, sizeof got));
		if (load_mapping(ld, item, LEVEL_FLEET, f, where, &seen) < 0)
			return -1;

		/* The default jitter (0s) is always below the shortest period. */
		if (f->jitter_us >= f->wake_every_us) {
			const struct ynode *at = seen.value[K_JITTER] ? seen.value[K_JITTER] : item;
			char every[FORMAT_MAX];
			return fail(ld, at, keys[K_JITTER].name,
			            "must be less than wake_every (%s), got %s",
			            format_duration(f->wake_every_us, every, sizeof every),
			            ytree_describe(at, got, sizeof got));
		}

		if (f->command_every_us && !f->downlink)
			return fail(ld, seen.value[K_COMMAND_EVERY], keys[K_COMMAND_EVERY].name,
			            "commands need devices that check for them: add downlink: true");
		if (seen.value[K_SESSION] && !f->downlink)
			return fail(ld, seen.value[K_SESSION], keys[K_SESSION].name,
			            "a session holds commands for devices that check for them: add downlink: true");
		if (f->command_every_us && f->command_every_us < 100000)
			return fail(ld, seen.value[K_COMMAND_EVERY], keys[K_COMMAND_EVERY].name,
			            "at least 100ms (or 0s for none), got %s",
			            ytree_describe(seen.value[K_COMMAND_EVERY], got, sizeof got));

		name_at[i] = seen.value[K_FLEET_NAME];
		ld->fleet_at[i] = item;
		ld->qos_at[i] = seen.value[K_FLEET_QOS];
		ld->conn_at[i] = seen.value[K_CONNECTION];
		ld->keepalive_at[i] = seen.value[K_KEEPALIVE];
		if (f->keepalive_us % US_PER_S)
			return fail(ld, seen.value[K_KEEPALIVE], keys[K_KEEPALIVE].name,
			            "MQTT's keep-alive is whole seconds, got %s",
			            ytree_describe(seen.value[K_KEEPALIVE], got, sizeof got));
		ld->mpw_at[i] = seen.value[K_MESSAGES_PER_WAKE];
		ld->cmd_at[i] = seen.value[K_COMMAND_EVERY];
		ld->battery_at[i] = seen.value[K_FLEET_BATTERY];
		ld->sleep_at[i] = seen.value[K_FLEET_SLEEP];
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->fleets[j].name, f->name) == 0)
				return fail(ld, name_at[i], keys[K_FLEET_NAME].name,
				            "duplicate fleet name \"%s\" (first at line %lu)", f->name,
				            name_at[j]->line);

		f->first_device = (uint32_t)total;
		total += f->count;
		if (total > DEVICES_MAX)
			return fail(ld, seen.value[K_COUNT], keys[K_COUNT].name,
			            "devices over all fleets must be at most %d, got %" PRIu64
			            " with this fleet", DEVICES_MAX, total);
	}
	s->nfleets = v->nchild;
	s->ndevices = (uint32_t)total;
	return 0;
}

/* The key of an axis, for names and messages. */
static const struct key *axis_key(enum axis a)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == T_AXIS && keys[i].axis == a)
			return &keys[i];
	return NULL;
}

static int axis_has(const struct axes *ax, enum axis a, int v)
{
	for (size_t i = 0; i < ax->n[a]; i++)
		if (ax->value[a][i] == v)
			return 1;
	return 0;
}

/* Rules between axes. Every combination of the axes is run, so a rule
 * between two values holds if it holds for any pair of them. */
static int check_combinations(struct loader *ld, const struct ynode *matrix)
{
	const struct axes *ax = &ld->axes;

	for (size_t i = 0; i < ax->n[AXIS_RESUME]; i++) {
		int r = ax->value[AXIS_RESUME][i];
		if (r != RESUME_NONE && axis_has(ax, AXIS_TLS, TLS_NONE)) {
			const struct ynode *at = ax->at[AXIS_RESUME][i] ? ax->at[AXIS_RESUME][i] : matrix;
			return fail(ld, at, keys[K_RESUME].name, "%s needs tls", resume_mode_name(r));
		}
	}
	/* Which broker speaks what: mosquitto has no AMQP; dormant runs no PSK on RabbitMQ. */
	for (size_t i = 0; i < ax->n[AXIS_BROKER]; i++) {
		int br = ax->value[AXIS_BROKER][i];
		const struct ynode *at = ax->at[AXIS_BROKER][i] ? ax->at[AXIS_BROKER][i] : matrix;
		if (br == BROKER_MOSQUITTO && axis_has(ax, AXIS_PROTOCOL, PROTO_AMQP))
			return fail(ld, at, keys[K_BROKER].name, "mosquitto speaks no AMQP (protocol amqp needs rabbitmq)");
		if (br == BROKER_RABBITMQ && axis_has(ax, AXIS_TLS, TLS_PSK))
			return fail(ld, at, keys[K_BROKER].name, "rabbitmq with tls psk is not supported (Erlang's TLS-PSK)");
	}
	/* HTTP is served by nginx, which (1.22) has no TLS-PSK. */
	for (size_t i = 0; axis_has(ax, AXIS_PROTOCOL, PROTO_HTTP) && i < ax->n[AXIS_TLS]; i++)
		if (ax->value[AXIS_TLS][i] == TLS_PSK) {
			const struct ynode *at = ax->at[AXIS_TLS][i] ? ax->at[AXIS_TLS][i] : matrix;
			return fail(ld, at, keys[K_TLS].name,
			            "psk with protocol http: nginx has no TLS-PSK; use ecdsa or rsa, or a list of matrices");
		}
	/* AMQP runs on RabbitMQ alone (broker: default too), and dormant runs no PSK there. */
	for (size_t i = 0; axis_has(ax, AXIS_PROTOCOL, PROTO_AMQP) && i < ax->n[AXIS_TLS]; i++)
		if (ax->value[AXIS_TLS][i] == TLS_PSK) {
			const struct ynode *at = ax->at[AXIS_TLS][i] ? ax->at[AXIS_TLS][i] : matrix;
			return fail(ld, at, keys[K_TLS].name,
			            "psk with protocol amqp: RabbitMQ, the AMQP 1.0 broker, runs no TLS-PSK here "
			            "(Erlang's PSK needs a lookup function inside the broker); use ecdsa or rsa, "
			            "or a list of matrices");
		}
	/* An HTTP request always has its response: there is no fire-and-forget POST. */
	for (size_t i = 0; axis_has(ax, AXIS_PROTOCOL, PROTO_HTTP) && i < ax->n[AXIS_QOS]; i++)
		if (ax->value[AXIS_QOS][i] == 0) {
			const struct ynode *at = ax->at[AXIS_QOS][i] ? ax->at[AXIS_QOS][i] : matrix;
			return fail(ld, at, keys[K_AXIS_QOS].name,
			            "0 with protocol http: every POST is answered, so HTTP is qos 1; "
			            "use a list of matrices for extra variants");
		}
	/* Mutual TLS is a certificate on each side: meaningless without one. */
	for (size_t i = 0; i < ax->n[AXIS_CLIENT_CERT]; i++) {
		if (!ax->value[AXIS_CLIENT_CERT][i])
			continue;
		for (size_t j = 0; j < ax->n[AXIS_TLS]; j++) {
			int t = ax->value[AXIS_TLS][j];
			if (t == TLS_NONE || t == TLS_PSK) {
				const struct ynode *at = ax->at[AXIS_CLIENT_CERT][i] ? ax->at[AXIS_CLIENT_CERT][i] : matrix;
				return fail(ld, at, keys[K_CLIENT_CERT].name,
				            "true needs a certificate mode (tls: ecdsa or rsa), the matrix has tls %s; "
				            "use a list of matrices for extra variants",
				            tls_mode_name((enum tls_mode)t));
			}
		}
	}
	return 0;
}

/* The cross product of the axes, in axis order, the last varying fastest. */
/* Appends the cross product of the axes to s->variants. */
static int expand_variants(struct loader *ld, const struct ynode *at, struct scenario *s)
{
	const struct axes *ax = &ld->axes;
	size_t total = 1, idx[AXIS_COUNT] = { 0 };
	size_t first = s->nvariants;

	for (int a = 0; a < AXIS_COUNT; a++)
		total *= ax->n[a] ? ax->n[a] : 1;
	if (first + total > VARIANTS_MAX)
		return fail(ld, at, keys[K_MATRIX].name, "%zu variants, at most %d", first + total, VARIANTS_MAX);

	for (size_t vi = first; vi < first + total; vi++) {
		struct variant *v = &s->variants[vi];
		v->protocol = (enum protocol)ax->value[AXIS_PROTOCOL][idx[AXIS_PROTOCOL]];
		v->broker = (enum broker_kind)ax->value[AXIS_BROKER][idx[AXIS_BROKER]];
		v->tls = (enum tls_mode)ax->value[AXIS_TLS][idx[AXIS_TLS]];
		v->resume = (enum resume_mode)ax->value[AXIS_RESUME][idx[AXIS_RESUME]];
		v->client_cert = ax->value[AXIS_CLIENT_CERT][idx[AXIS_CLIENT_CERT]];
		v->qos = ax->n[AXIS_QOS] ? ax->value[AXIS_QOS][idx[AXIS_QOS]] : -1;
		v->connection = ax->n[AXIS_CONNECTION] ? ax->value[AXIS_CONNECTION][idx[AXIS_CONNECTION]] : -1;
		v->link = ax->n[AXIS_LINK] ? ax->value[AXIS_LINK][idx[AXIS_LINK]] : -1;
		v->stack = (enum stack_mode)ax->value[AXIS_STACK][idx[AXIS_STACK]];

		/* Name: the protocol, then key=value for each axis that varies or
		 * was set to other than its default. */
		size_t o = (size_t)snprintf(v->name, sizeof v->name, "%s", protocol_name(v->protocol));
		for (int a = AXIS_PROTOCOL + 1; a < AXIS_COUNT; a++) {
			const struct key *k = axis_key((enum axis)a);
			if (ax->n[a] == 0)
				continue;
			int val = ax->value[a][idx[a]];
			const char *vname = a == AXIS_LINK ? s->links[val].name : value_name(k->values, k->nvalues, val);
			int is_default = k->def && strcmp(k->def, vname) == 0;
			if ((ax->n[a] > 1 || !is_default) && o < sizeof v->name)
				o += (size_t)snprintf(v->name + o, sizeof v->name - o, " %s=%s", k->name,
				                      vname);
		}

		for (size_t o2 = 0; o2 < vi; o2++)
			if (strcmp(s->variants[o2].name, v->name) == 0)
				return fail(ld, at, keys[K_MATRIX].name, "variant \"%s\" appears twice", v->name);

		for (int a = AXIS_COUNT - 1; a >= 0; a--) {
			if (++idx[a] < (ax->n[a] ? ax->n[a] : 1))
				break;
			idx[a] = 0;
		}
	}
	s->nvariants = first + total;
	return 0;
}

/* One matrix (a mapping of axes), or a list of them whose variants are
 * joined: the way to add a variant the cross product cannot express. */
static int load_one_matrix(struct loader *ld, const struct key *k, const struct ynode *v, struct scenario *s)
{
	char got[QUOTED_SIZE];
	struct seen seen;

	if (v->kind != YNODE_MAPPING)
		return fail(ld, v, k->name, "expected %s, got %s", k->expected,
		            ytree_describe(v, got, sizeof got));
	memset(&ld->axes, 0, sizeof(ld->axes));
	if (load_mapping(ld, v, LEVEL_MATRIX, &ld->axes, k->name, &seen) < 0)
		return -1;
	if (check_combinations(ld, v) < 0)
		return -1;
	return expand_variants(ld, v, s);
}

static int load_matrix(struct loader *ld, const struct key *k, const struct ynode *v, struct scenario *s)
{
	if (v->kind != YNODE_SEQUENCE)
		return load_one_matrix(ld, k, v, s);
	if (v->nchild == 0)
		return fail(ld, v, k->name, "must have at least 1 matrix");
	for (size_t i = 0; i < v->nchild; i++)
		if (load_one_matrix(ld, k, v->child[i], s) < 0)
			return -1;
	return 0;
}

static int load_value(struct loader *ld, const struct key *k, const struct ynode *v, void *base)
{
	char got[QUOTED_SIZE], list[256];

	switch (k->type) {
	case T_FLEETS:
		return load_fleets(ld, k, v, base);
	case T_MATRIX:
		return load_matrix(ld, k, v, base);
	case T_AXIS:
		return load_axis(ld, k, v);
	default:
		break;
	}
	if (v->kind != YNODE_SCALAR) {
		if (k->expected)
			return fail(ld, v, k->name, "expected %s, got %s", k->expected,
			            ytree_describe(v, got, sizeof got));
		return fail(ld, v, k->name, "expected one of %s, got %s",
		            value_list(k, 0, list, sizeof list), ytree_describe(v, got, sizeof got));
	}
	return set_scalar(ld, k, v, v->text, base);
}

/* The fleet of S with the largest share of a total: per-fleet counts in N. */
static size_t largest(const struct scenario *s, const uint64_t *n)
{
	size_t m = 0;
	for (size_t i = 1; i < s->nfleets; i++)
		if (n[i] > n[m])
			m = i;
	return m;
}

/* What one variant costs (sched.h's closed forms), against the PLAN_*
 * bounds. DURATION_AT is the duration key's node; a message points at the
 * key most to blame: duration for wakes and memory, the largest fleet's
 * messages_per_wake or command_every for messages or commands. */
static int check_plan(struct loader *ld, const struct scenario *s, const struct ynode *duration_at)
{
	uint64_t wakes[FLEETS_MAX], msgs[FLEETS_MAX], cmds[FLEETS_MAX];
	uint64_t nw = 0, nm = 0, nc = 0;
	char d[FORMAT_MAX], every[FORMAT_MAX];

	for (size_t i = 0; i < s->nfleets; i++) {
		wakes[i] = sched_fleet_wakes(s, i);
		msgs[i] = wakes[i] * s->fleets[i].messages_per_wake;
		cmds[i] = sched_fleet_commands(s, i);
		nw += wakes[i];
		nm += msgs[i];
		nc += cmds[i];
	}
	format_duration(s->duration_us, d, sizeof d);
	if (nw > PLAN_WAKES_MAX) {
		const struct fleet *f = &s->fleets[largest(s, wakes)];
		return fail(ld, duration_at, keys[K_DURATION].name,
		            "the plan has %" PRIu64 " wakes per variant, at most %u (fleet \"%s\": %u devices every %s for %s); "
		            "shorten duration, lower count or raise wake_every",
		            nw, PLAN_WAKES_MAX, f->name, f->count, format_duration(f->wake_every_us, every, sizeof every), d);
	}
	if (nm > PLAN_MESSAGES_MAX) {
		size_t i = largest(s, msgs);
		const struct fleet *f = &s->fleets[i];
		return fail(ld, ld->mpw_at[i] ? ld->mpw_at[i] : ld->fleet_at[i], keys[K_MESSAGES_PER_WAKE].name,
		            "the plan sends %" PRIu64 " messages per variant, at most %u (fleet \"%s\": %" PRIu64
		            " wakes x %u); send fewer per wake, shorten duration or lower count",
		            nm, PLAN_MESSAGES_MAX, f->name, wakes[i], f->messages_per_wake);
	}
	if (nc > PLAN_COMMANDS_MAX) {
		size_t i = largest(s, cmds);
		const struct fleet *f = &s->fleets[i];
		return fail(ld, ld->cmd_at[i] ? ld->cmd_at[i] : ld->fleet_at[i], keys[K_COMMAND_EVERY].name,
		            "the plan sends %" PRIu64 " commands per variant, at most %u (fleet \"%s\": %u devices, "
		            "one every %s for %s); raise command_every, shorten duration or lower count",
		            nc, PLAN_COMMANDS_MAX, f->name, f->count,
		            format_duration(f->command_every_us, every, sizeof every), d);
	}
	uint64_t bytes = nm * sizeof(struct msg_rec) + nc * sizeof(struct cmd_rec);
	if (bytes > PLAN_TABLES_MAX)
		return fail(ld, duration_at, keys[K_DURATION].name,
		            "the plan's message and command tables take %.1f MiB per variant, at most %u MiB (%" PRIu64
		            " messages of %zu B, %" PRIu64 " commands of %zu B); shorten duration or lower count",
		            (double)bytes / (1 << 20), PLAN_TABLES_MAX >> 20, nm, sizeof(struct msg_rec), nc,
		            sizeof(struct cmd_rec));
	return 0;
}

/* The fleets take the scenario's battery_wh and sleep_uw where they give
 * none; and either key without any link is a mistake: no energy is figured
 * on loopback. */
static int check_energy_keys(struct loader *ld, struct scenario *s, const struct seen *seen)
{
	const struct ynode *given = seen->value[K_BATTERY] ? seen->value[K_BATTERY] : seen->value[K_SLEEP];
	const char *key = seen->value[K_BATTERY] ? keys[K_BATTERY].name : keys[K_SLEEP].name;

	for (size_t i = 0; i < s->nfleets; i++) {
		struct fleet *f = &s->fleets[i];
		if (f->battery_wh < 0)
			f->battery_wh = s->battery_wh;
		if (f->sleep_uw < 0)
			f->sleep_uw = s->sleep_uw;
		if (!given && (ld->battery_at[i] || ld->sleep_at[i])) {
			given = ld->battery_at[i] ? ld->battery_at[i] : ld->sleep_at[i];
			key = ld->battery_at[i] ? keys[K_FLEET_BATTERY].name : keys[K_FLEET_SLEEP].name;
		}
	}
	if (given && !scenario_has_links(s))
		return fail(ld, given, key, "battery life needs a link: give a fleet a link (link: nbiot) "
		                            "or the matrix a link axis");
	return 0;
}

static int load_scenario(struct loader *ld, struct scenario *s)
{
	char got[QUOTED_SIZE];
	struct seen seen;
	const struct ynode *root = ld->yr.root;

	if (root->kind != YNODE_MAPPING)
		return fail(ld, root, NULL, "expected a mapping of scenario keys at the top level, got %s",
		            root->kind == YNODE_SCALAR && root->text[0] == '\0'
		                    ? "nothing"
		                    : ytree_describe(root, got, sizeof got));
	ld->s = s;
	s->sleep_uw = -1; /* each link profile's */
	if (load_mapping(ld, root, LEVEL_TOP, s, NULL, &seen) < 0)
		return -1;
	if (!seen.key[K_MATRIX]) {
		struct seen none = { 0 };
		if (finish_mapping(ld, root, LEVEL_MATRIX, &ld->axes, NULL, &none) < 0)
			return -1;
		if (expand_variants(ld, root, s) < 0)
			return -1;
	}
	if (check_energy_keys(ld, s, &seen) < 0)
		return -1;
	/* TLS towards a broker dormant did not start needs that broker's CA and names. */
	for (size_t i = 0; s->endpoint_host[0] && i < s->nvariants; i++)
		if (s->variants[i].tls != TLS_NONE)
			return fail(ld, seen.value[K_ENDPOINT], keys[K_ENDPOINT].name,
			            "TLS (variant \"%s\") towards your own broker is not built yet; use tls: none",
			            s->variants[i].name);
	for (size_t i = 0; i < s->nvariants; i++) {
		const struct variant *v = &s->variants[i];
		if (v->protocol == PROTO_HTTP && s->endpoint_host[0])
			return fail(ld, seen.value[K_ENDPOINT], keys[K_ENDPOINT].name,
			            "protocol http (variant \"%s\") towards your own server is not built yet: "
			            "the devices' tokens are the ingest's", v->name);
		uint64_t kept = 0, amqp_ka = 0;
		if (v->stack == STACK_REPLAY && (s->tls_fault != TLS_FAULT_NONE || s->auth_fault != AUTH_FAULT_NONE))
			return fail(ld, seen.value[K_MATRIX] ? seen.value[K_MATRIX] : root, keys[K_STACK].name,
			            "replay (variant \"%s\") with a tls_fault or auth_fault: a replay is recorded from a "
			            "wake that succeeded", v->name);
		for (size_t f = 0; f < s->nfleets; f++) {
			const struct fleet *fl = &s->fleets[f];
			if (v->stack == STACK_REPLAY && (fl->downlink || scenario_connection(v, fl) == CONN_PERSISTENT))
				return fail(ld, ld->fleet_at[f], keys[K_STACK].name,
				            "replay (variant \"%s\") with fleet \"%s\"%s%s: replay is built for per-wake "
				            "connections without downlink (a recorded wake cannot answer what the broker "
				            "pushes)", v->name, fl->name, fl->downlink ? " downlink: true" : "",
				            scenario_connection(v, fl) == CONN_PERSISTENT ? " connection: persistent" : "");
			if (scenario_connection(v, fl) == CONN_PERSISTENT) {
				kept += fl->count;
				if (kept > PERSISTENT_DEVICES_MAX)
					return fail(ld, ld->fleet_at[f], keys[K_COUNT].name,
					            "%" PRIu64 " persistent devices in variant \"%s\", at most %u "
					            "(each keeps a paho handle; paho breaks at 512)", kept, v->name,
					            PERSISTENT_DEVICES_MAX);
				const struct ynode *at = v->connection >= 0 ? seen.value[K_MATRIX]
				                         : ld->conn_at[f] ? ld->conn_at[f] : ld->fleet_at[f];
				if (v->protocol == PROTO_AMQP && s->endpoint_host[0])
					return fail(ld, at, keys[K_CONNECTION].name,
					            "persistent amqp (variant \"%s\") towards your own broker: an AMQP device's "
					            "keep-alive period is half the idle-time-out its broker announces, which "
					            "dormant sets only on the RabbitMQ it starts", v->name);
				if (v->protocol == PROTO_AMQP && amqp_ka && fl->keepalive_us != amqp_ka)
					return fail(ld, ld->keepalive_at[f] ? ld->keepalive_at[f] : ld->fleet_at[f],
					            keys[K_KEEPALIVE].name,
					            "fleet \"%s\" keeps its amqp connection alive every %" PRIu64 " s, another fleet "
					            "of variant \"%s\" every %" PRIu64 " s: with AMQP the period is the broker's "
					            "(half its idle-time-out), one per variant", fl->name, fl->keepalive_us / US_PER_S,
					            v->name, amqp_ka / US_PER_S);
				if (v->protocol == PROTO_AMQP)
					amqp_ka = fl->keepalive_us;
				const struct link_profile *lp = scenario_link(s, v, fl);
				if (fl->downlink && v->protocol != PROTO_MQTT)
					return fail(ld, at, keys[K_CONNECTION].name,
					            "persistent %s with downlink: true (fleet \"%s\", variant \"%s\"): commands "
					            "pushed down a kept connection are built for mqtt only", protocol_name(v->protocol),
					            fl->name, v->name);
				if (fl->downlink && lp && !lp->can_listen)
					return fail(ld, at, keys[K_CONNECTION].name,
					            "persistent with downlink: true (fleet \"%s\") behind link %s, whose profile has "
					            "no listening figures (listen_uw, listen_ms, listen_attach_ms, listen_attach_mj): "
					            "a device asleep on it cannot be reached", fl->name, lp->name);
			}
			if (v->protocol == PROTO_HTTP && v->qos < 0 && fl->qos == 0)
				return fail(ld, ld->qos_at[f] ? ld->qos_at[f] : ld->fleet_at[f], keys[K_FLEET_QOS].name,
				            "fleet \"%s\" has qos 0 and variant \"%s\" is http: every POST is answered, "
				            "so HTTP is qos 1; give the matrix a qos axis or the fleet qos: 1",
				            fl->name, v->name);
		}
	}
	/* One variant runs either on loopback or behind the emulator, whose
	 * namespace holds every device socket of it: all its fleets or none. */
	for (size_t i = 0; i < s->nvariants; i++) {
		const struct variant *v = &s->variants[i];
		if (!scenario_variant_has_link(s, v))
			continue;
		for (size_t f = 0; f < s->nfleets; f++)
			if (!scenario_link(s, v, &s->fleets[f]))
				return fail(ld, ld->fleet_at[f], keys[K_FLEET_LINK].name,
				            "fleet \"%s\" has no link while another fleet of variant \"%s\" has one; "
				            "give every fleet a link (ethernet is the lossless baseline)",
				            s->fleets[f].name, v->name);
		if (s->ndevices > LINK_DEVICES_MAX)
			return fail(ld, root, NULL, "%u devices behind links, at most %u (one address each in 198.18.0.0/16)",
			            s->ndevices, LINK_DEVICES_MAX);
		if (s->endpoint_host[0])
			return fail(ld, seen.value[K_ENDPOINT], keys[K_ENDPOINT].name,
			            "links towards your own broker are not built: the emulator reaches only the servers "
			            "dormant starts");
	}
	if (s->tls_ciphersuite[0] && !scenario_ciphersuite_known(s->tls_ciphersuite))
		return fail(ld, seen.value[K_TLS_CIPHERSUITE], keys[K_TLS_CIPHERSUITE].name,
		            "%s is not a cipher suite of this mbedTLS build", s->tls_ciphersuite);
	return check_plan(ld, s, seen.value[K_DURATION]);
}

/* ---- Entry points --------------------------------------------------- */

/* "name, duration, fleets": the required top-level keys, for the empty-file message. */
static const char *required_list(char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NKEYS && o < n; i++)
		if (keys[i].level == LEVEL_TOP && keys[i].required)
			o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", keys[i].name);
	return buf;
}

enum dormant_err scenario_load_buffer(const char *path, const char *text, size_t len,
                                      struct scenario **out, char *errbuf, size_t errlen)
{
	char req[256];
	struct loader ld = { .yr = { .path = path, .text = text, .len = len, .what = "scenario",
	                             .required = required_list(req, sizeof req), .err = errbuf,
	                             .errlen = errlen } };
	struct scenario *s = NULL;

	*out = NULL;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	s = calloc(1, sizeof *s);
	if (!s)
		ytree_nomem(&ld.yr);
	else if (ytree_read(&ld.yr) == 0 && load_scenario(&ld, s) == 0)
		snprintf(s->path, sizeof s->path, "%s", path);

	ytree_free(ld.yr.root);
	for (size_t i = 0; i < LINKS_MAX; i++)
		free(ld.link_real[i]);
	if (ld.yr.rc != ERR_OK) {
		free(s);
		return ld.yr.rc;
	}
	*out = s;
	return ERR_OK;
}

enum dormant_err scenario_load(const char *path, struct scenario **out, char *errbuf,
                               size_t errlen)
{
	size_t len = 0;
	enum dormant_err rc;

	*out = NULL;
	char *text = ytree_slurp(path, "a scenario", FILE_MAX, &len, &rc, errbuf, errlen);
	if (!text)
		return rc;
	rc = scenario_load_buffer(path, text, len, out, errbuf, errlen);
	free(text);
	return rc;
}

void scenario_free(struct scenario *s)
{
	free(s);
}
