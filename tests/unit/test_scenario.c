/* test_scenario.c: scenario loading, defaults, the matrix, and every error
 * message, with its exact text and position. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scenario.h"
#include "unit.h"

#ifndef BAD_DIR
#error "BAD_DIR must name tests/unit/bad"
#endif
#ifndef SCENARIOS_DIR
#error "SCENARIOS_DIR must name scenarios/"
#endif

#define US_PER_S UINT64_C(1000000)

/* Lines 1-6 of most cases below; the case's own lines start at line 7. */
#define BASE                     \
	"name: t\n"              \
	"duration: 10s\n"        \
	"fleets:\n"              \
	"  - name: a\n"          \
	"    count: 5\n"         \
	"    wake_every: 1s\n"

static struct scenario *load_ok(const char *text)
{
	struct scenario *s = (struct scenario *)1;
	char err[512] = "untouched";
	enum dormant_err rc = scenario_load_buffer("t.yaml", text, strlen(text), &s, err, sizeof err);
	CHECK_INT_EQ(rc, ERR_OK);
	CHECK_STR_EQ(err, "");
	if (rc != ERR_OK) {
		fprintf(stderr, "  for: %s\n", text);
		return NULL;
	}
	CHECK(s != NULL);
	return s;
}

/* Loads TEXT expecting exactly the message WANT. */
#define CHECK_ERROR(text, want)                                                        \
	do {                                                                           \
		struct scenario *s_ = (struct scenario *)1;                            \
		char err_[512];                                                        \
		enum dormant_err rc_ = scenario_load_buffer("t.yaml", (text),          \
		                                            sizeof(text) - 1, &s_, err_, \
		                                            sizeof err_);              \
		CHECK_INT_EQ(rc_, ERR_SCENARIO);                                       \
		CHECK(s_ == NULL);                                                     \
		CHECK_STR_EQ(err_, (want));                                            \
		if (rc_ == ERR_OK)                                                     \
			scenario_free(s_);                                             \
	} while (0)

static void test_full(void)
{
	struct scenario *s = load_ok(
		"# every key\n"
		"name: full-test_1.0\n"
		"seed: 18446744073709551615\n"
		"duration: 1.5m\n"
		"concurrency: 400\n"
		"wake_timeout: 10m\n"
		"endpoint: 192.168.1.20:8883\n"
		"fleets:\n"
		"  - name: meters\n"
		"    count: 1000\n"
		"    wake_every: 15m\n"
		"    jitter: 30s\n"
		"    payload: 2KiB\n"
		"    messages_per_wake: 3\n"
		"    qos: 0\n"
		"    connection: per-wake\n"
		"    downlink: false\n"
		"  - {name: trackers, count: 250, wake_every: 100ms}\n"
		"matrix:\n"
		"  protocol: mqtt\n"
		"  broker: [default, mosquitto]\n"
		"  tls:\n"
		"    - none\n"
		"  resume: none\n"
		"  qos: [0, 1]\n");
	if (!s)
		return;
	CHECK_STR_EQ(s->path, "t.yaml");
	CHECK_STR_EQ(s->name, "full-test_1.0");
	CHECK_U64_EQ(s->seed, UINT64_MAX);
	CHECK_U64_EQ(s->duration_us, 90 * US_PER_S);
	CHECK_INT_EQ(s->concurrency, 400);
	CHECK_U64_EQ(s->wake_timeout_us, 600 * US_PER_S);
	CHECK_STR_EQ(s->endpoint_host, "192.168.1.20");
	CHECK_INT_EQ(s->endpoint_port, 8883);

	CHECK_INT_EQ(s->nfleets, 2);
	CHECK_INT_EQ(s->ndevices, 1250);
	const struct fleet *m = &s->fleets[0], *t = &s->fleets[1];
	CHECK_STR_EQ(m->name, "meters");
	CHECK_INT_EQ(m->count, 1000);
	CHECK_U64_EQ(m->wake_every_us, 900 * US_PER_S);
	CHECK_U64_EQ(m->jitter_us, 30 * US_PER_S);
	CHECK_INT_EQ(m->payload_bytes, 2048);
	CHECK_INT_EQ(m->messages_per_wake, 3);
	CHECK_INT_EQ(m->qos, 0);
	CHECK_INT_EQ(m->connection, CONN_PER_WAKE);
	CHECK_INT_EQ(m->downlink, 0);
	CHECK_INT_EQ(m->first_device, 0);
	CHECK_STR_EQ(t->name, "trackers");
	CHECK_INT_EQ(t->count, 250);
	CHECK_U64_EQ(t->wake_every_us, 100000);
	CHECK_U64_EQ(t->jitter_us, 0);
	CHECK_INT_EQ(t->payload_bytes, 48);
	CHECK_INT_EQ(t->messages_per_wake, 1);
	CHECK_INT_EQ(t->qos, 1);
	CHECK_INT_EQ(t->first_device, 1000);

	/* protocol x broker x tls x resume x qos, the last varying fastest. */
	CHECK_INT_EQ(s->nvariants, 4);
	static const char *const names[] = {
		"mqtt broker=default qos=0", "mqtt broker=default qos=1",
		"mqtt broker=mosquitto qos=0", "mqtt broker=mosquitto qos=1",
	};
	for (size_t i = 0; i < 4 && i < s->nvariants; i++) {
		const struct variant *v = &s->variants[i];
		CHECK_STR_EQ(v->name, names[i]);
		CHECK_INT_EQ(v->protocol, PROTO_MQTT);
		CHECK_INT_EQ(v->broker, i < 2 ? BROKER_DEFAULT : BROKER_MOSQUITTO);
		CHECK_INT_EQ(v->tls, TLS_NONE);
		CHECK_INT_EQ(v->resume, RESUME_NONE);
		CHECK_INT_EQ(v->qos, (int)(i % 2));
		CHECK_INT_EQ(scenario_qos(v, m), (int)(i % 2));
		CHECK_INT_EQ(scenario_qos(v, t), (int)(i % 2));
	}
	scenario_free(s);
}

static void test_defaults(void)
{
	struct scenario *s = load_ok(BASE);
	if (!s)
		return;
	CHECK_STR_EQ(s->name, "t");
	CHECK_U64_EQ(s->seed, 1);
	CHECK_INT_EQ(s->concurrency, 64);
	CHECK_U64_EQ(s->wake_timeout_us, 30 * US_PER_S);
	CHECK_STR_EQ(s->endpoint_host, "");
	CHECK_INT_EQ(s->endpoint_port, 0);
	const struct fleet *f = &s->fleets[0];
	CHECK_U64_EQ(f->jitter_us, 0);
	CHECK_INT_EQ(f->payload_bytes, 48);
	CHECK_INT_EQ(f->messages_per_wake, 1);
	CHECK_INT_EQ(f->qos, 1);
	CHECK_INT_EQ(f->connection, CONN_PER_WAKE);
	CHECK_INT_EQ(f->downlink, 0);
	CHECK_INT_EQ(f->session, SESSION_BEFORE_WINDOW);
	/* No matrix: one variant, named by its protocol, qos from the fleet. */
	CHECK_INT_EQ(s->nvariants, 1);
	CHECK_STR_EQ(s->variants[0].name, "mqtt");
	CHECK_INT_EQ(s->variants[0].broker, BROKER_DEFAULT);
	CHECK_INT_EQ(s->variants[0].qos, -1);
	CHECK_INT_EQ(scenario_qos(&s->variants[0], f), 1);
	scenario_free(s);

	/* A single non-default value names its axis; a single default does not. */
	s = load_ok(BASE "matrix:\n  broker: mosquitto\n  qos: 0\n  tls: [none]\n");
	if (!s)
		return;
	CHECK_INT_EQ(s->nvariants, 1);
	CHECK_STR_EQ(s->variants[0].name, "mqtt broker=mosquitto qos=0");
	scenario_free(s);

	/* Limits are inclusive. */
	s = load_ok("name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	            "duration: 7d\n"
	            "concurrency: 1\n"
	            "wake_timeout: 1s\n"
	            "endpoint: 0.0.0.0:65535\n"
	            "fleets:\n"
	            "  - name: x\n"
	            "    count: 100000\n"
	            "    wake_every: 1d\n"
	            "    jitter: 86399999999us\n"
	            "    payload: 256KiB\n"
	            "    messages_per_wake: 7\n");
	if (!s)
		return;
	CHECK_INT_EQ(strlen(s->name), 63);
	CHECK_INT_EQ(s->fleets[0].payload_bytes, 256 * 1024);
	CHECK_INT_EQ(s->ndevices, 100000);
	CHECK_INT_EQ(s->endpoint_port, 65535);
	scenario_free(s);
	/* messages_per_wake at its limit: with every other key at its own the
	 * plan is over its bound (test_plan_bounds), so with fewer devices. */
	s = load_ok(BASE "    messages_per_wake: 100\n");
	if (s)
		CHECK_INT_EQ(s->fleets[0].messages_per_wake, 100);
	scenario_free(s);
}

static void test_quickstart(void)
{
	struct scenario *s = NULL;
	char err[512];
	const char *path = SCENARIOS_DIR "/quickstart.yaml";

	CHECK_INT_EQ(scenario_load(path, &s, err, sizeof err), ERR_OK);
	CHECK_STR_EQ(err, "");
	if (!s)
		return;
	CHECK_STR_EQ(s->path, path);
	CHECK_STR_EQ(s->name, "quickstart");
	CHECK_U64_EQ(s->seed, 42);
	CHECK_U64_EQ(s->duration_us, 10 * US_PER_S);
	CHECK_INT_EQ(s->nfleets, 1);
	CHECK_STR_EQ(s->fleets[0].name, "sensors");
	CHECK_INT_EQ(s->fleets[0].count, 20);
	CHECK_U64_EQ(s->fleets[0].wake_every_us, 2 * US_PER_S);
	CHECK_U64_EQ(s->fleets[0].jitter_us, 200000);
	CHECK_INT_EQ(s->fleets[0].payload_bytes, 48);
	CHECK_INT_EQ(s->fleets[0].messages_per_wake, 1);
	CHECK_INT_EQ(s->nvariants, 8);
	CHECK_STR_EQ(s->variants[0].name, "mqtt qos=0");
	CHECK_STR_EQ(s->variants[1].name, "mqtt qos=1");
	CHECK_STR_EQ(s->variants[2].name, "amqp qos=0");
	CHECK_STR_EQ(s->variants[3].name, "amqp qos=1");
	CHECK_STR_EQ(s->variants[4].name, "http");
	CHECK_INT_EQ(s->variants[4].protocol, PROTO_HTTP);
	CHECK_STR_EQ(s->variants[5].name, "mqtt tls=ecdsa resume=session-id");
	CHECK_STR_EQ(s->variants[6].name, "amqp tls=ecdsa resume=session-id");
	CHECK_STR_EQ(s->variants[7].name, "http tls=ecdsa resume=session-id");
	CHECK_INT_EQ(s->variants[6].protocol, PROTO_AMQP);
	CHECK_INT_EQ(s->variants[6].tls, TLS_ECDSA);
	CHECK_INT_EQ(s->variants[6].resume, RESUME_SESSION_ID);
	CHECK_INT_EQ(s->variants[6].qos, -1);
	scenario_free(s);
}

static void test_keys(void)
{
	CHECK_ERROR(BASE "colour: red\n",
	            "t.yaml:7:1: colour: unknown key; valid top-level keys: name, seed, duration, "
	            "concurrency, wake_timeout, overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, auth_fault, battery_wh, sleep_uw, fleets, matrix");
	CHECK_ERROR(BASE "    colour: red\n",
	            "t.yaml:7:5: colour: unknown key; valid fleet keys: name, count, wake_every, "
	            "jitter, payload, messages_per_wake, qos, connection, keepalive, downlink, command_every, session, link, battery_wh, sleep_uw");
	CHECK_ERROR(BASE "matrix:\n  colour: red\n",
	            "t.yaml:8:3: colour: unknown key; valid matrix keys: protocol, tls, client_cert, resume, "
	            "broker, qos, connection, link, stack");
	CHECK_ERROR(BASE "    duration: 5s\n",
	            "t.yaml:7:5: duration: unknown key in a fleet, it belongs at the top level; "
	            "valid fleet keys: name, count, wake_every, jitter, payload, messages_per_wake, "
	            "qos, connection, keepalive, downlink, command_every, session, link, battery_wh, sleep_uw");
	CHECK_ERROR(BASE "payload: 1KB\n",
	            "t.yaml:7:1: payload: unknown key at the top level, it belongs in a fleet; "
	            "valid top-level keys: name, seed, duration, concurrency, wake_timeout, "
	            "overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, auth_fault, battery_wh, sleep_uw, fleets, matrix");
	/* Unprintable key bytes are escaped: the message stays one line. */
	CHECK_ERROR(BASE "\"a\\nb\": 1\n",
	            "t.yaml:7:1: a\\x0ab: unknown key; valid top-level keys: name, seed, duration, "
	            "concurrency, wake_timeout, overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, auth_fault, battery_wh, sleep_uw, fleets, matrix");
	CHECK_ERROR("? [a]\n: 1\n", "t.yaml:1:3: expected a key name, got a sequence");

	CHECK_ERROR("name: t\nfleets:\n  - name: a\n    count: 5\n    wake_every: 1s\n",
	            "t.yaml:1:1: missing required key \"duration\"");
	CHECK_ERROR(BASE "  - name: b\n    wake_every: 1s\n",
	            "t.yaml:7:5: fleets[1]: missing required key \"count\"");
	CHECK_ERROR("name: t\nduration: 1s\n", "t.yaml:1:1: missing required key \"fleets\"");

	CHECK_ERROR("name: t\nname: u\n", "t.yaml:2:1: name: duplicate key (first at line 1)");
	CHECK_ERROR(BASE "    count: 6\n", "t.yaml:7:5: count: duplicate key (first at line 5)");
	CHECK_ERROR(BASE "matrix:\n  qos: 0\n  qos: 1\n",
	            "t.yaml:9:3: qos: duplicate key (first at line 8)");
}

static void test_values(void)
{
	/* durations */
	CHECK_ERROR(BASE "    jitter: 3x\n",
	            "t.yaml:7:13: jitter: expected a duration like 200ms, got \"3x\"");
	CHECK_ERROR("name: t\nduration: 10\n",
	            "t.yaml:2:11: duration: expected a duration like 30s, got \"10\"");
	CHECK_ERROR("name: t\nduration:\n",
	            "t.yaml:2:10: duration: expected a duration like 30s, got \"\"");
	CHECK_ERROR(BASE "    jitter: -5s\n",
	            "t.yaml:7:13: jitter: must not be negative, got \"-5s\"");
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n  - name: a\n    count: 5\n    wake_every: 10ms\n",
	            "t.yaml:6:17: wake_every: must be at least 100ms, got \"10ms\"");
	CHECK_ERROR("name: t\nduration: 0.5s\n",
	            "t.yaml:2:11: duration: must be at least 1s, got \"0.5s\"");
	CHECK_ERROR("name: t\nduration: 10s\nwake_timeout: 20m\n",
	            "t.yaml:3:15: wake_timeout: must be at most 10m, got \"20m\"");
	CHECK_ERROR("name: t\nduration: 99999999999999999999s\n",
	            "t.yaml:2:11: duration: must be at most 7d, got \"99999999999999999999s\"");
	CHECK_ERROR("name: t\nduration: 0.0000001s\n",
	            "t.yaml:2:11: duration: expected a duration like 30s, got \"0.0000001s\"");

	/* numbers */
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n  - name: a\n    count: 200000\n    wake_every: 1s\n",
	            "t.yaml:5:12: count: must be at most 100000, got \"200000\"");
	CHECK_ERROR(BASE "    messages_per_wake: 0\n",
	            "t.yaml:7:24: messages_per_wake: must be at least 1, got \"0\"");
	CHECK_ERROR(BASE "    messages_per_wake: 0x10\n",
	            "t.yaml:7:24: messages_per_wake: expected a number like 1, got \"0x10\"");
	CHECK_ERROR("name: t\nseed: -1\n", "t.yaml:2:7: seed: must not be negative, got \"-1\"");
	CHECK_ERROR("name: t\nseed: 99999999999999999999\n",
	            "t.yaml:2:7: seed: must be at most 18446744073709551615, got "
	            "\"99999999999999999999\"");
	CHECK_ERROR("name: t\nduration: 10s\nconcurrency: 512\n",
	            "t.yaml:3:14: concurrency: must be at most 400 (the MQTT client library fails "
	            "at 512 handles), got \"512\"");
	CHECK_ERROR(BASE "    qos: 2\n", "t.yaml:7:10: qos: must be at most 1, got \"2\"");

	/* sizes */
	CHECK_ERROR(BASE "    payload: 10B\n",
	            "t.yaml:7:14: payload: must be at least 24B (payloads carry a 24-byte header), "
	            "got \"10B\"");
	CHECK_ERROR(BASE "    payload: 1MB\n", "t.yaml:7:14: payload: must be at most 256KiB, got \"1MB\"");
	CHECK_ERROR(BASE "    payload: 48\n",
	            "t.yaml:7:14: payload: expected a size like 48B or 2KiB, got \"48\"");

	/* names */
	CHECK_ERROR("name: \"a b\"\n",
	            "t.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got \"a b\"");
	CHECK_ERROR("name: \"\"\n",
	            "t.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got \"\"");
	CHECK_ERROR("name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	            "t.yaml:1:7: name: must be at most 63 characters, got "
	            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	CHECK_ERROR("name: \"caf\\xe9\"\n",
	            "t.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got "
	            "\"caf\\xc3\\xa9\"");
	CHECK_ERROR(BASE "  - name: a\n    count: 1\n    wake_every: 1s\n",
	            "t.yaml:7:11: name: duplicate fleet name \"a\" (first at line 4)");

	/* jitter against the period */
	CHECK_ERROR(BASE "    jitter: 1s\n",
	            "t.yaml:7:13: jitter: must be less than wake_every (1s), got \"1s\"");
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n"
	            "  - name: a\n    jitter: 2s\n    count: 5\n    wake_every: 1500ms\n",
	            "t.yaml:5:13: jitter: must be less than wake_every (1500ms), got \"2s\"");

	/* endpoint */
	CHECK_ERROR(BASE "endpoint: localhost:1883\n",
	            "t.yaml:7:11: endpoint: expected an IPv4 address and port like 127.0.0.1:1883, "
	            "got \"localhost:1883\"");
	CHECK_ERROR(BASE "endpoint: 10.0.0.01:1883\n",
	            "t.yaml:7:11: endpoint: expected an IPv4 address and port like 127.0.0.1:1883, "
	            "got \"10.0.0.01:1883\"");
	CHECK_ERROR(BASE "endpoint: 10.0.0.256:1883\n",
	            "t.yaml:7:11: endpoint: expected an IPv4 address and port like 127.0.0.1:1883, "
	            "got \"10.0.0.256:1883\"");
	CHECK_ERROR(BASE "endpoint: 10.0.0.1\n",
	            "t.yaml:7:11: endpoint: expected an IPv4 address and port like 127.0.0.1:1883, "
	            "got \"10.0.0.1\"");
	CHECK_ERROR(BASE "endpoint: 1.2.3.4:0\n",
	            "t.yaml:7:11: endpoint: port must be between 1 and 65535, got \"1.2.3.4:0\"");
	CHECK_ERROR(BASE "endpoint: 1.2.3.4:65536\n",
	            "t.yaml:7:11: endpoint: port must be between 1 and 65535, got \"1.2.3.4:65536\"");

	/* enums and bools */
	CHECK_ERROR(BASE "    connection: sometimes\n",
	            "t.yaml:7:17: connection: expected one of per-wake, persistent, got \"sometimes\"");
	CHECK_ERROR(BASE "    downlink: yes\n",
	            "t.yaml:7:15: downlink: expected true or false, got \"yes\"");

	/* wrong node kinds */
	CHECK_ERROR("name: t\nduration: [1s]\n",
	            "t.yaml:2:11: duration: expected a duration like 30s, got a sequence");
	CHECK_ERROR("name: {a: 1}\n",
	            "t.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got a "
	            "mapping");
	CHECK_ERROR(BASE "    connection: [per-wake]\n",
	            "t.yaml:7:17: connection: expected one of per-wake, persistent, got a sequence");
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n  a: 1\n",
	            "t.yaml:4:3: fleets: expected a sequence of fleets, got a mapping");
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n  - x\n",
	            "t.yaml:4:5: fleets[0]: expected a mapping of fleet keys, got \"x\"");
	CHECK_ERROR("name: t\nduration: 10s\nfleets: []\n",
	            "t.yaml:3:9: fleets: must have at least 1 fleet");
	CHECK_ERROR(BASE "matrix: [a]\n",
	            "t.yaml:7:10: matrix: expected a mapping of axes like protocol: [mqtt], got \"a\"");
	CHECK_ERROR(BASE "matrix: []\n", "t.yaml:7:9: matrix: must have at least 1 matrix");
}

/* session: when the broker first holds a downlink device's session. */
static void test_session(void)
{
	struct scenario *s = load_ok(BASE "    downlink: true\n    session: first-wake\n"
	                                  "  - name: b\n    count: 2\n    wake_every: 1s\n    downlink: true\n"
	                                  "  - name: c\n    count: 1\n    wake_every: 1s\n    downlink: true\n"
	                                  "    session: before-window\n");
	if (!s)
		return;
	CHECK_INT_EQ(s->fleets[0].session, SESSION_FIRST_WAKE);
	CHECK_INT_EQ(s->fleets[1].session, SESSION_BEFORE_WINDOW);
	CHECK_INT_EQ(s->fleets[2].session, SESSION_BEFORE_WINDOW);
	CHECK_STR_EQ(session_mode_name(SESSION_FIRST_WAKE), "first-wake");
	CHECK_STR_EQ(session_mode_name(SESSION_BEFORE_WINDOW), "before-window");
	scenario_free(s);
}

static void test_fleet_limits(void)
{
	/* 17 fleets: the 17th is the offending one. */
	char text[4096];
	size_t o = (size_t)snprintf(text, sizeof text, "name: t\nduration: 10s\nfleets:\n");
	for (int i = 0; i < 17; i++)
		o += (size_t)snprintf(text + o, sizeof text - o,
		                      "  - {name: f%d, count: 1, wake_every: 1s}\n", i);
	struct scenario *s = NULL;
	char err[512];
	CHECK_INT_EQ(scenario_load_buffer("t.yaml", text, o, &s, err, sizeof err), ERR_SCENARIO);
	CHECK_STR_EQ(err, "t.yaml:20:5: fleets: must have at most 16 fleets, got 17");
	CHECK(s == NULL);

	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n"
	            "  - {name: a, count: 60000, wake_every: 1s}\n"
	            "  - {name: b, count: 40001, wake_every: 1s}\n",
	            "t.yaml:5:22: count: devices over all fleets must be at most 100000, got 100001 "
	            "with this fleet");
}

static void test_matrix(void)
{
	CHECK_ERROR(BASE "matrix:\n  tls: [none, ecdsa]\n  client_cert: true\n",
	            "t.yaml:9:16: client_cert: true needs a certificate mode (tls: ecdsa or rsa), the matrix "
	            "has tls none; use a list of matrices for extra variants");
	CHECK_ERROR(BASE "matrix:\n  - {tls: ecdsa}\n  - {tls: [rsa, ecdsa]}\n",
	            "t.yaml:9:5: matrix: variant \"mqtt tls=ecdsa\" appears twice");
	CHECK_ERROR(BASE "tls_ciphersuite: TLS-NOPE\n", "t.yaml:7:18: tls_ciphersuite: TLS-NOPE is not a cipher suite of this mbedTLS build");
	CHECK_ERROR(BASE "tls_fault: wrong\n", "t.yaml:7:12: tls_fault: expected one of none, wrong-ca, wrong-name, wrong-psk, got \"wrong\"");
	CHECK_ERROR(BASE "overrun: drop\n", "t.yaml:7:10: overrun: expected one of finish, stop, got \"drop\"");
	{
		struct scenario *sc = load_ok(BASE "overrun: stop\n");
		CHECK(sc && sc->overrun == OVERRUN_STOP);
		scenario_free(sc);
		sc = load_ok(BASE);
		CHECK(sc && sc->overrun == OVERRUN_FINISH); /* the default: every due wake runs */
		scenario_free(sc);
	}
	CHECK_ERROR(BASE "matrix:\n  protocol: [mqtt, http]\n  tls: [ecdsa, psk]\n",
	            "t.yaml:9:16: tls: psk with protocol http: nginx has no TLS-PSK; use ecdsa or rsa, or a list of "
	            "matrices");
	CHECK_ERROR(BASE "matrix:\n  protocol: [mqtt, amqp]\n  tls: [ecdsa, psk]\n",
	            "t.yaml:9:16: tls: psk with protocol amqp: RabbitMQ, the AMQP 1.0 broker, runs no TLS-PSK here "
	            "(Erlang's PSK needs a lookup function inside the broker); use ecdsa or rsa, or a list of matrices");
	CHECK_ERROR(BASE "matrix:\n  protocol: http\n  qos: [1, 0]\n",
	            "t.yaml:9:12: qos: 0 with protocol http: every POST is answered, so HTTP is qos 1; use a list "
	            "of matrices for extra variants");
	CHECK_ERROR(BASE "    qos: 0\nmatrix:\n  protocol: [mqtt, http]\n",
	            "t.yaml:7:10: qos: fleet \"a\" has qos 0 and variant \"http\" is http: every POST is answered, "
	            "so HTTP is qos 1; give the matrix a qos axis or the fleet qos: 1");
	CHECK_ERROR(BASE "    session: first-wake\n",
	            "t.yaml:7:14: session: a session holds commands for devices that check for them: add downlink: true");
	CHECK_ERROR(BASE "    downlink: true\n    session: later\n",
	            "t.yaml:8:14: session: expected one of before-window, first-wake, got \"later\"");
	CHECK_ERROR(BASE "    downlink: true\n    session: [first-wake]\n",
	            "t.yaml:8:14: session: expected one of before-window, first-wake, got a sequence");
	CHECK_ERROR(BASE "    command_every: 10s\n",
	            "t.yaml:7:20: command_every: commands need devices that check for them: add downlink: true");
	CHECK_ERROR(BASE "    downlink: true\n    command_every: 10ms\nmatrix:\n  protocol: http\n",
	            "t.yaml:8:20: command_every: at least 100ms (or 0s for none), got \"10ms\"");
	CHECK_ERROR(BASE "endpoint: 127.0.0.1:1883\nmatrix:\n  protocol: http\n",
	            "t.yaml:7:11: endpoint: protocol http (variant \"http\") towards your own server is not built yet: "
	            "the devices' tokens are the ingest's");
	CHECK_ERROR(BASE "auth_fault: stale\n",
	            "t.yaml:7:13: auth_fault: expected one of none, wrong-token, got \"stale\"");
	CHECK_ERROR(BASE "matrix:\n  protocol: [mqtt, amqp]\n  broker: mosquitto\n",
	            "t.yaml:9:11: broker: mosquitto speaks no AMQP (protocol amqp needs rabbitmq)");
	CHECK_ERROR(BASE "matrix:\n  tls: psk\n  broker: [default, rabbitmq]\n",
	            "t.yaml:9:21: broker: rabbitmq with tls psk is not supported (Erlang's TLS-PSK)");
	CHECK_ERROR(BASE "matrix:\n  resume: ticket\n",
	            "t.yaml:8:11: resume: ticket needs tls");
	/* connection: persistent is built for every protocol (not with downlink yet) */
	{
		struct scenario *ok = load_ok(BASE "    connection: persistent\nmatrix:\n  protocol: [mqtt, amqp, http]\n");
		if (ok)
			scenario_free(ok);
	}
	/* stack: a matrix axis, real by default; replay only where a recording can stand for the library */
	{
		struct scenario *ok = load_ok(BASE "matrix:\n  protocol: [mqtt, amqp, http]\n  stack: [real, replay]\n");
		if (ok) {
			CHECK(ok->nvariants == 6 && ok->variants[0].stack == STACK_REAL && ok->variants[1].stack == STACK_REPLAY);
			CHECK(strcmp(ok->variants[1].name, "mqtt stack=replay") == 0);
			scenario_free(ok);
		}
		struct scenario *dflt = load_ok(BASE);
		if (dflt) {
			CHECK(dflt->variants[0].stack == STACK_REAL && strcmp(dflt->variants[0].name, "mqtt") == 0);
			scenario_free(dflt);
		}
	}
	CHECK_ERROR(BASE "    downlink: true\nmatrix:\n  stack: replay\n",
	            "t.yaml:4:5: stack: replay (variant \"mqtt stack=replay\") with fleet \"a\" downlink: true: replay is "
	            "built for per-wake connections without downlink (a recorded wake cannot answer what the broker "
	            "pushes)");
	CHECK_ERROR(BASE "matrix:\n  stack: [real, recorded]\n",
	            "t.yaml:8:17: stack: expected one of real, replay, got \"recorded\"");
	/* AMQP's keep-alive is the broker's idle-time-out: one per variant, and only on a broker dormant starts */
	CHECK_ERROR(BASE "    connection: persistent\n    keepalive: 20s\n  - name: b\n    count: 1\n"
	            "    wake_every: 1s\n    connection: persistent\nmatrix:\n  protocol: amqp\n",
	            "t.yaml:9:5: keepalive: fleet \"b\" keeps its amqp connection alive every 60 s, another fleet of "
	            "variant \"amqp\" every 20 s: with AMQP the period is the broker's (half its idle-time-out), one "
	            "per variant");
	CHECK_ERROR(BASE "    connection: persistent\nendpoint: 127.0.0.1:5672\nmatrix:\n  protocol: amqp\n",
	            "t.yaml:7:17: connection: persistent amqp (variant \"amqp\") towards your own broker: an AMQP "
	            "device's keep-alive period is half the idle-time-out its broker announces, which dormant sets "
	            "only on the RabbitMQ it starts");
	CHECK_ERROR(BASE "    connection: persistent\n    downlink: true\nmatrix:\n  protocol: http\n",
	            "t.yaml:7:17: connection: persistent http with downlink: true (fleet \"a\", variant \"http\"): "
	            "commands pushed down a kept connection are built for mqtt only");
	CHECK_ERROR(BASE "    keepalive: 1500ms\n",
	            "t.yaml:7:16: keepalive: MQTT's keep-alive is whole seconds, got \"1500ms\"");
	CHECK_ERROR(BASE "    keepalive: 65536s\n",
	            "t.yaml:7:16: keepalive: must be at most 65535s (MQTT's keep-alive is a 16-bit count of seconds), "
	            "got \"65536s\"");
	CHECK_ERROR("name: t\nduration: 10s\nfleets:\n  - {name: a, count: 401, wake_every: 1s, connection: persistent}\n",
	            "t.yaml:4:5: count: 401 persistent devices in variant \"mqtt\", at most 400 "
	            "(each keeps a paho handle; paho breaks at 512)");

	CHECK_ERROR(BASE "matrix:\n  protocol: [mqtt, mqtt]\n",
	            "t.yaml:8:20: protocol: mqtt is listed twice");
	CHECK_ERROR(BASE "matrix:\n  qos:\n    - 1\n    - 1\n", "t.yaml:10:7: qos: 1 is listed twice");
	CHECK_ERROR(BASE "matrix:\n  qos: [0, 1, 0, 1, 0, 1, 0, 1, 0]\n",
	            "t.yaml:8:8: qos: must have at most 8 values, got 9");
	CHECK_ERROR(BASE "matrix:\n  qos: []\n", "t.yaml:8:8: qos: must have at least 1 value");
	CHECK_ERROR(BASE "matrix:\n  qos: 2\n", "t.yaml:8:8: qos: expected one of 0, 1, got \"2\"");
	CHECK_ERROR(BASE "matrix:\n  tls: [[none]]\n",
	            "t.yaml:8:9: tls: expected one of none, ecdsa, rsa, psk, got a sequence");
	CHECK_ERROR(BASE "matrix:\n  tls: {none: 1}\n",
	            "t.yaml:8:8: tls: expected one of none, ecdsa, rsa, psk or a list of them, got a "
	            "mapping");
	CHECK_ERROR(BASE "matrix:\n  broker: Mosquitto\n",
	            "t.yaml:8:11: broker: expected one of default, mosquitto, rabbitmq, got "
	            "\"Mosquitto\"");
}

static void test_yaml(void)
{
	CHECK_ERROR("name: t\nseed 5\nduration: 1s\n",
	            "t.yaml:3:1: YAML syntax error: could not find expected ':' (while scanning a "
	            "simple key starting at 2:1)");
	CHECK_ERROR("name: [t\n",
	            "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while parsing "
	            "a flow sequence starting at 1:7)");
	CHECK_ERROR("name: a: b\n",
	            "t.yaml:1:8: YAML syntax error: mapping values are not allowed in this context");
	CHECK_ERROR("", "t.yaml:1:1: empty file, expected a mapping of scenario keys (required: name, "
	                "duration, fleets)");
	CHECK_ERROR("# nothing\n\n", "t.yaml:1:1: empty file, expected a mapping of scenario keys "
	                             "(required: name, duration, fleets)");
	CHECK_ERROR("---\n", "t.yaml:2:1: expected a mapping of scenario keys at the top level, got nothing");
	CHECK_ERROR("- name: t\n- duration: 1s\n",
	            "t.yaml:1:1: expected a mapping of scenario keys at the top level, got a sequence");
	CHECK_ERROR("hello\n",
	            "t.yaml:1:1: expected a mapping of scenario keys at the top level, got \"hello\"");
	CHECK_ERROR("name: &n t\nduration: *n\n",
	            "t.yaml:2:11: aliases (*n) are not supported, write the value out");
	CHECK_ERROR("name: t\n---\nname: u\n",
	            "t.yaml:2:1: a scenario file holds one YAML document, found a second");
	CHECK_ERROR("name: t\xff\n", "t.yaml:1:8: not valid UTF-8 text: invalid leading UTF-8 octet");
	CHECK_ERROR("name: t\x01\n",
	            "t.yaml:1:8: not valid UTF-8 text: control characters are not allowed");
	CHECK_ERROR("name: \"t\\0\"\n", "t.yaml:1:7: values must not contain NUL characters");
	CHECK_ERROR("name: t\0x\n", "t.yaml:1:8: not valid UTF-8 text: control characters are not allowed");
	CHECK_ERROR("a: [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]\n",
	            "t.yaml:1:19: nested deeper than 16 levels");
	/* Tags are ignored; the value is read as written. */
	struct scenario *s = load_ok("name: !!str t\nduration: !x 10s\nfleets:\n"
	                             "  - {name: a, count: 1, wake_every: 1s}\n");
	CHECK(s && s->duration_us == 10 * US_PER_S);
	scenario_free(s);
}

/* scenario_load on files: the fixtures in tests/unit/bad/. */
static void check_file(const char *name, const char *want_after_path)
{
	char path[1024], want[2048], err[512];
	struct scenario *s = (struct scenario *)1;

	snprintf(path, sizeof path, "%s/%s", BAD_DIR, name);
	snprintf(want, sizeof want, "%s%s", path, want_after_path);
	CHECK_INT_EQ(scenario_load(path, &s, err, sizeof err), ERR_SCENARIO);
	CHECK(s == NULL);
	CHECK_STR_EQ(err, want);
}

static void test_files(void)
{
	check_file("unknown_key.yaml",
	           ":4:1: colour: unknown key; valid top-level keys: name, seed, duration, "
	           "concurrency, wake_timeout, overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, auth_fault, battery_wh, sleep_uw, fleets, matrix");
	check_file("syntax.yaml",
	           ":4:1: YAML syntax error: could not find expected ':' (while scanning a simple "
	           "key starting at 3:1)");
	check_file("not_built.yaml", ":8:17: connection: persistent amqp with downlink: true (fleet \"a\", variant "
	                             "\"amqp\"): commands pushed down a kept connection are built for mqtt only");
	check_file("alias.yaml", ":4:15: aliases (*d) are not supported, write the value out");
	check_file("top_sequence.yaml",
	           ":2:1: expected a mapping of scenario keys at the top level, got a sequence");
	check_file("empty.yaml", ":1:1: empty file, expected a mapping of scenario keys (required: "
	                         "name, duration, fleets)");
	check_file("non_utf8.yaml", ":2:11: not valid UTF-8 text: invalid trailing UTF-8 octet");
	check_file("jitter.yaml",
	           ":8:13: jitter: must be less than wake_every (500ms), got \"0.5s\"");
	check_file("missing_count.yaml", ":8:5: fleets[1]: missing required key \"count\"");
	check_file("does-not-exist.yaml", ": cannot open: No such file or directory");
	check_file("", ": not a regular file (a directory); a scenario is a YAML file");
}

/* What a plan may cost: each key within its bounds, the plan over its own.
 * The totals come in closed form (test_sched.c checks them against the
 * walk), so the huge plan is refused at once. */
static void test_plan_bounds(void)
{
	/* Item 8's plan: 6e11 wakes a variant, which `check` used to walk for hours. */
	CHECK_ERROR("name: t\nduration: 7d\nfleets:\n  - name: big\n    count: 100000\n    wake_every: 100ms\n",
	            "t.yaml:2:11: duration: the plan has 604800000000 wakes per variant, at most 5000000 "
	            "(fleet \"big\": 100000 devices every 100ms for 7d); shorten duration, lower count or raise wake_every");
	/* Every key at its own limit together. */
	CHECK_ERROR("name: t\nduration: 7d\nfleets:\n  - name: x\n    count: 100000\n    wake_every: 1d\n"
	            "    jitter: 86399999999us\n    messages_per_wake: 100\n",
	            "t.yaml:8:24: messages_per_wake: the plan sends 65006800 messages per variant, at most 5000000 "
	            "(fleet \"x\": 650068 wakes x 100); send fewer per wake, shorten duration or lower count");
	/* The bound is inclusive: 5000 devices every 1s for 1000s is 5,000,000 wakes exactly. */
	struct scenario *s = load_ok("name: t\nduration: 1000s\nfleets:\n  - name: a\n    count: 5000\n    wake_every: 1s\n");
	scenario_free(s);
	CHECK_ERROR("name: t\nduration: 1001s\nfleets:\n  - name: a\n    count: 5000\n    wake_every: 1s\n",
	            "t.yaml:2:11: duration: the plan has 5005000 wakes per variant, at most 5000000 "
	            "(fleet \"a\": 5000 devices every 1s for 1001s); shorten duration, lower count or raise wake_every");
	/* Messages: the fleet that sends most is named, at its messages_per_wake. */
	CHECK_ERROR("name: t\nduration: 10m\nfleets:\n  - {name: a, count: 1000, wake_every: 1s}\n"
	            "  - {name: b, count: 1000, wake_every: 1s, messages_per_wake: 9}\n",
	            "t.yaml:5:63: messages_per_wake: the plan sends 6000000 messages per variant, at most 5000000 "
	            "(fleet \"b\": 600000 wakes x 9); send fewer per wake, shorten duration or lower count");
	/* Commands, at command_every. */
	CHECK_ERROR("name: t\nduration: 1h\nfleets:\n  - name: a\n    count: 1000\n    wake_every: 1s\n"
	            "    downlink: true\n    command_every: 100ms\n",
	            "t.yaml:8:20: command_every: the plan sends 35990500 commands per variant, at most 5000000 "
	            "(fleet \"a\": 1000 devices, one every 100ms for 1h); raise command_every, shorten duration or lower count");
	/* Each count within its bound, the tables together over theirs. */
	CHECK_ERROR("name: t\nduration: 4800s\nfleets:\n  - name: a\n    count: 1000\n    wake_every: 1s\n"
	            "    downlink: true\n    command_every: 1s\n",
	            "t.yaml:2:11: duration: the plan's message and command tables take 293.0 MiB per variant, at most "
	            "256 MiB (4800000 messages of 32 B, 4799500 commands of 32 B); shorten duration or lower count");
}

/* Only regular files are scenarios: a FIFO would block the read (and the
 * open) forever, a device would never end. */
static void test_not_regular(void)
{
	char dir[] = "/tmp/dormant-unit-XXXXXX", fifo[64], err[512];
	struct scenario *s = (struct scenario *)1;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
	CHECK_INT_EQ(mkfifo(fifo, 0600), 0);
	CHECK_INT_EQ(scenario_load(fifo, &s, err, sizeof err), ERR_SCENARIO);
	CHECK(s == NULL);
	char want[256];
	snprintf(want, sizeof want, "%s: not a regular file (a FIFO); a scenario is a YAML file", fifo);
	CHECK_STR_EQ(err, want);
	unlink(fifo);
	rmdir(dir);

	CHECK_INT_EQ(scenario_load("/dev/zero", &s, err, sizeof err), ERR_SCENARIO);
	CHECK_STR_EQ(err, "/dev/zero: not a regular file (a character device); a scenario is a YAML file");
	/* A symbolic link to a regular file is a regular file. */
	char link[64];
	snprintf(dir, sizeof dir, "/tmp/dormant-unit-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(link, sizeof link, "%s/link.yaml", dir);
	CHECK_INT_EQ(symlink(SCENARIOS_DIR "/quickstart.yaml", link), 0);
	CHECK_INT_EQ(scenario_load(link, &s, err, sizeof err), ERR_OK);
	scenario_free(s);
	unlink(link);
	rmdir(dir);
}

/* The error buffer: NULL or tiny is fine, and success clears it. */
static void test_errbuf(void)
{
	struct scenario *s = (struct scenario *)1;
	char tiny[8];

	CHECK_INT_EQ(scenario_load_buffer("t.yaml", "x: 1\n", 5, &s, NULL, 0), ERR_SCENARIO);
	CHECK(s == NULL);
	CHECK_INT_EQ(scenario_load_buffer("t.yaml", "x: 1\n", 5, &s, tiny, sizeof tiny), ERR_SCENARIO);
	CHECK_STR_EQ(tiny, "t.yaml:");
	CHECK_INT_EQ(scenario_load("/nonexistent/x.yaml", &s, tiny, sizeof tiny), ERR_SCENARIO);
	CHECK_STR_EQ(tiny, "/nonexi");
	scenario_free(NULL);
}

/* Loads TEXT as if it were SCENARIOS_DIR/t.yaml, so link names resolve
 * against the shipped scenarios/links/. */
static struct scenario *load_beside(const char *text, char *err, size_t n)
{
	struct scenario *s = NULL;
	scenario_load_buffer(SCENARIOS_DIR "/t.yaml", text, strlen(text), &s, err, n);
	return s;
}

#define CHECK_BESIDE_ERROR(text, want)                                          \
	do {                                                                    \
		char e_[1024];                                                  \
		struct scenario *s_ = load_beside((text), e_, sizeof e_);       \
		CHECK(s_ == NULL);                                              \
		CHECK_STR_EQ(e_, SCENARIOS_DIR "/t.yaml" want);                 \
		scenario_free(s_);                                              \
	} while (0)

static void test_links(void)
{
	char err[1024] = "";

	/* No link anywhere: loopback as before, the energy defaults unused. */
	struct scenario *s = load_ok(BASE);
	if (s) {
		CHECK_INT_EQ(s->nlinks, 0);
		CHECK_INT_EQ(s->fleets[0].link, -1);
		CHECK_INT_EQ(s->variants[0].link, -1);
		CHECK(scenario_link(s, &s->variants[0], &s->fleets[0]) == NULL);
		CHECK(!scenario_has_links(s));
		CHECK(s->battery_wh == 5 && s->fleets[0].battery_wh == 5);
		CHECK(s->sleep_uw < 0 && s->fleets[0].sleep_uw < 0);
	}
	scenario_free(s);

	/* A fleet's link by name; the variant name does not change. */
	s = load_beside(BASE "    link: nbiot\n", err, sizeof err);
	CHECK_STR_EQ(err, "");
	if (s) {
		CHECK_INT_EQ(s->nlinks, 1);
		CHECK_STR_EQ(s->links[0].name, "nbiot");
		CHECK_STR_EQ(s->links[0].path, SCENARIOS_DIR "/links/nbiot.yaml");
		CHECK_INT_EQ(s->fleets[0].link, 0);
		CHECK_STR_EQ(s->variants[0].name, "mqtt");
		const struct link_profile *p = scenario_link(s, &s->variants[0], &s->fleets[0]);
		CHECK(p == &s->links[0]);
		CHECK(scenario_has_links(s));
		CHECK(scenario_sleep_uw(&s->fleets[0], p) == s->links[0].sleep_uw);
	}
	scenario_free(s);

	/* A link axis: one variant per link, overriding the fleets' links; the
	 * same profile named by the fleet, by the axis and by a path is loaded once. */
	s = load_beside(BASE "    link: links/nbiot.yaml\n"
	                     "  - {name: b, count: 1, wake_every: 1s, link: ./links/wifi.yaml, sleep_uw: 3.5}\n"
	                     "battery_wh: 2.4\n"
	                     "matrix:\n  qos: 1\n  link: [ethernet, nbiot]\n", err, sizeof err);
	CHECK_STR_EQ(err, "");
	if (s) {
		CHECK_INT_EQ(s->nlinks, 3);
		CHECK_STR_EQ(s->links[0].name, "nbiot");
		CHECK_STR_EQ(s->links[1].name, "wifi");
		CHECK_STR_EQ(s->links[2].name, "ethernet");
		CHECK_INT_EQ(s->nvariants, 2);
		CHECK_STR_EQ(s->variants[0].name, "mqtt qos=1 link=ethernet");
		CHECK_STR_EQ(s->variants[1].name, "mqtt qos=1 link=nbiot");
		CHECK_INT_EQ(s->variants[0].link, 2);
		CHECK_INT_EQ(s->variants[1].link, 0);
		CHECK(scenario_link(s, &s->variants[0], &s->fleets[1]) == &s->links[2]);
		CHECK_INT_EQ(s->fleets[1].link, 1);
		CHECK(s->battery_wh == 2.4 && s->fleets[0].battery_wh == 2.4 && s->fleets[1].battery_wh == 2.4);
		CHECK(scenario_sleep_uw(&s->fleets[1], &s->links[1]) == 3.5);
		CHECK(scenario_sleep_uw(&s->fleets[0], &s->links[0]) == s->links[0].sleep_uw);
	}
	scenario_free(s);

	/* A fleet's own battery. */
	s = load_beside(BASE "    link: gprs\n    battery_wh: 19.8\nbattery_wh: 5\n", err, sizeof err);
	CHECK(s && s->fleets[0].battery_wh == 19.8);
	scenario_free(s);

	CHECK_BESIDE_ERROR(BASE "    link: nbiotx\n",
	                   ":7:11: link: no link profile \"nbiotx\": " SCENARIOS_DIR "/links/nbiotx.yaml: No such file or "
	                   "directory (the shipped profiles are in scenarios/links/)");
	CHECK_BESIDE_ERROR(BASE "    link: other/x.yaml\n",
	                   ":7:11: link: no link profile \"other/x.yaml\": " SCENARIOS_DIR "/other/x.yaml: No such file or "
	                   "directory");
	CHECK_BESIDE_ERROR(BASE "    link: nb iot\n",
	                   ":7:11: link: expected a link like nbiot (links/nbiot.yaml beside the scenario) or a profile "
	                   "path, got \"nb iot\"");
	CHECK_BESIDE_ERROR(BASE "    link: \"\"\n",
	                   ":7:11: link: expected a link like nbiot (links/nbiot.yaml beside the scenario) or a profile "
	                   "path, got \"\"");
	CHECK_BESIDE_ERROR(BASE "    link: [nbiot]\n",
	                   ":7:11: link: expected a link like nbiot (links/nbiot.yaml beside the scenario) or a profile "
	                   "path, got a sequence");
	CHECK_BESIDE_ERROR(BASE "matrix:\n  link: [nbiot, links/nbiot.yaml]\n",
	                   ":8:17: link: nbiot is listed twice");
	CHECK_BESIDE_ERROR(BASE "matrix:\n  link: {nbiot: 1}\n",
	                   ":8:9: link: expected a link like nbiot (links/nbiot.yaml beside the scenario) or a profile "
	                   "path or a list of them, got a mapping");
	CHECK_BESIDE_ERROR(BASE "matrix:\n  link: [[nbiot]]\n",
	                   ":8:10: link: expected a link like nbiot (links/nbiot.yaml beside the scenario) or a profile "
	                   "path, got a sequence");
	CHECK_BESIDE_ERROR(BASE "link: nbiot\n",
	                   ":7:1: link: unknown key at the top level, it belongs in a fleet; valid top-level keys: name, "
	                   "seed, duration, concurrency, wake_timeout, overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, "
	                   "auth_fault, battery_wh, sleep_uw, fleets, matrix");
	CHECK_BESIDE_ERROR(BASE "    link: nbiot\nbattery_wh: 0\n", ":8:13: battery_wh: must be at least 0.01, got \"0\"");
	CHECK_BESIDE_ERROR(BASE "    link: nbiot\nbattery_wh: 5Wh\n",
	                   ":8:13: battery_wh: expected a capacity in Wh like 5, got \"5Wh\"");
	CHECK_BESIDE_ERROR(BASE "    link: nbiot\n    sleep_uw: -1\n", ":8:15: sleep_uw: must not be negative, got \"-1\"");
	CHECK_BESIDE_ERROR(BASE "    sleep_uw: 15\n",
	                   ":7:15: sleep_uw: battery life needs a link: give a fleet a link (link: nbiot) or the matrix "
	                   "a link axis");
}

static void test_link_files(void)
{
	char want[2048];
	snprintf(want, sizeof want,
	         "%s/links/range.yaml:3:18: delay_ms: the range's maximum must not be below its minimum (1500), "
	         "got \"200\" (the link of %s/link_broken.yaml:8:11)", BAD_DIR, BAD_DIR);
	char path[1024], err[1024];
	struct scenario *s = NULL;
	snprintf(path, sizeof path, "%s/link_broken.yaml", BAD_DIR);
	CHECK_INT_EQ(scenario_load(path, &s, err, sizeof err), ERR_SCENARIO);
	CHECK_STR_EQ(err, want);
	check_file("link_unknown.yaml", ":9:10: link: no link profile \"nbiot\": " BAD_DIR "/links/nbiot.yaml: No such file "
	                                "or directory (the shipped profiles are in scenarios/links/)");
	check_file("battery_no_link.yaml",
	           ":4:13: battery_wh: battery life needs a link: give a fleet a link (link: nbiot) or the matrix a "
	           "link axis");

	/* The shipped example. */
	s = NULL;
	CHECK_INT_EQ(scenario_load(SCENARIOS_DIR "/links-demo.yaml", &s, err, sizeof err), ERR_OK);
	if (s) {
		CHECK_INT_EQ(s->nvariants, 2);
		CHECK_STR_EQ(s->variants[0].name, "mqtt link=ethernet");
		CHECK_STR_EQ(s->variants[1].name, "mqtt link=nbiot");
	}
	scenario_free(s);
}

static void test_names(void)
{
	CHECK_STR_EQ(protocol_name(PROTO_MQTT), "mqtt");
	CHECK_STR_EQ(protocol_name(PROTO_HTTP), "http");
	CHECK_STR_EQ(tls_mode_name(TLS_PSK), "psk");
	CHECK_STR_EQ(resume_mode_name(RESUME_SESSION_ID), "session-id");
	CHECK_STR_EQ(broker_kind_name(BROKER_MOSQUITTO), "mosquitto");
	CHECK_STR_EQ(conn_mode_name(CONN_PERSISTENT), "persistent");
	CHECK_STR_EQ(protocol_name(PROTO_COUNT), "unknown");
	CHECK_STR_EQ(tls_mode_name((enum tls_mode)-1), "unknown");
}

int main(void)
{
	RUN(test_full);
	RUN(test_defaults);
	RUN(test_quickstart);
	RUN(test_keys);
	RUN(test_values);
	RUN(test_session);
	RUN(test_fleet_limits);
	RUN(test_matrix);
	RUN(test_yaml);
	RUN(test_plan_bounds);
	RUN(test_not_regular);
	RUN(test_files);
	RUN(test_errbuf);
	RUN(test_links);
	RUN(test_link_files);
	RUN(test_names);
	return UNIT_EXIT();
}
