/* bench.h: `dormant bench`, dormant's own cost per wake beside a floor and
 * the bare library, in one invocation (README "dormant bench").
 *
 * Every row runs the same MQTT wake as a device of dormant's: TCP connect
 * from the device's own source address (127.80.0.0 + device + 1, as the
 * modem does), with TLS the handshake (ECDSA, the same pinned suite,
 * P-256, the server verified), CONNECT (clean session), PUBLISH of the
 * payload at QoS 1, its PUBACK, DISCONNECT, FIN, and the server's FIN.
 * With TLS each device's first wake is a full handshake and its later
 * ones offer the ticket it kept: every row has the same mix.
 *
 * The rows are closed loops with CONCURRENCY wakes in flight over DEVICES
 * devices (a device never has two wakes at once); dormant's own row is a
 * scenario whose schedule is far above what it can do (overrun: finish),
 * so it too runs as fast as its concurrency allows.
 *
 * Ownership: a result's samples are the caller's to free (bench_result_free).
 */
#ifndef DORMANT_BENCH_H
#define DORMANT_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct bench_target {
	uint16_t port;             /* on 127.0.0.1 */
	int tls;                   /* ECDSA with tickets; the server's CA in ca_file */
	const char *ca_file;
};

struct bench_load {
	uint32_t devices;          /* a multiple of concurrency */
	uint64_t wakes;
	int concurrency;
	size_t payload;            /* bytes of each PUBLISH's payload */
};

struct bench_result {
	uint64_t wakes, failed;    /* wakes ended (ok or not), of them failed */
	double wall_s;             /* first wake started to last wake ended */
	double client_cpu_s;       /* the client's CPU over the row: every thread of it */
	double server_cpu_s;       /* the broker's, over the same span */
	struct samples lat;        /* each ok wake (ms), start to the server's FIN */
	uint64_t full_hs, resumed_hs; /* TLS handshakes of each kind */
	char why[256];             /* the first failure, or why the row did not run */
	char limit[32];            /* dormant's passes: what held the run (summary.json schedule.limit) */
	char note[160];            /* printed under the row */
};

void bench_result_free(struct bench_result *r);

/* The device of SLOT's next wake, the STARTED-th of the row: a slot's
 * devices are SLOT + concurrency x k, in turn, so no device ever has two
 * wakes at once. */
static inline uint32_t bench_slot_device(const struct bench_load *l, int slot, uint64_t started)
{
	uint32_t per_slot = l->devices / (uint32_t)l->concurrency;
	return (uint32_t)slot + (uint32_t)l->concurrency * (uint32_t)((started / (uint64_t)l->concurrency) % per_slot);
}

/* The floor: a minimal client with precomputed MQTT packets, one epoll
 * loop on the calling thread, mbedTLS contexts reused per slot. Returns 0,
 * or -1 with R->why set when it could not run at all. */
int floor_run(const struct bench_target *t, const struct bench_load *l, struct bench_result *r);

/* paho.mqtt.c's MQTTAsync as an application would drive it without
 * dormant: a handle per wake, straight to the broker, no modem and no
 * nudge keeper (plaintext only: Debian's paho does TLS with OpenSSL). */
int bare_paho_run(const struct bench_target *t, const struct bench_load *l, struct bench_result *r);

/* Tsung 1.7 (ts_mqtt) at an arrival rate of RATE wakes/s against
 * 127.0.0.1:PORT, the difference of a LONG_S and a SHORT_S second phase;
 * its files in DIR; its Erlang VM registers with the epmd on 127.0.0.1:
 * EPMD_PORT (the caller's). Plaintext. Returns 0, or -1 with R->why set. */
int tsung_run(const char *dir, uint16_t port, int rate, int short_s, int long_s, size_t payload, int broker,
              uint16_t epmd_port, struct bench_result *r);

/* Nanoseconds of CPU the threads of process PID have used (from
 * /proc/PID/task/x/schedstat, nanosecond resolution); 0 if unreadable. */
uint64_t bench_proc_cpu_ns(int pid);

/* `dormant bench`: returns an EXIT_* code (engine.h). */
struct bench_opts {
	const char *results_root;
	uint64_t wakes;            /* per row and repetition (TLS rows: a third) */
	int concurrency;
	int repeat;
	const char *self;          /* argv[0], to find dormant's own runs */
};
int bench_main(const struct bench_opts *o);

#endif
