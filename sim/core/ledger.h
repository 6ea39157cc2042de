/* ledger.h: the variant's message and command tables, and their receipts.
 *
 * Pure bookkeeping shared by the engine (which sizes the tables from the
 * schedule), the adapters' threads (sent, acked, command receipts) and the
 * backend's thread (message receipts): no server, no socket, so it sits in
 * sim/core/ and brokers/ may include it.
 */
#ifndef DORMANT_LEDGER_H
#define DORMANT_LEDGER_H

#include <stddef.h>
#include <stdint.h>

/* Every payload begins with this header, so the backend can account each
 * message: which wake sent it, when, and whether it came twice.
 * Little-endian, 24 bytes (PAYLOAD_MIN). */
#define MSG_MAGIC 0x314d5244u /* "DRM1" */
struct msg_header {
	uint32_t magic;
	uint32_t index;    /* index into the variant's message table */
	uint32_t device;
	uint32_t seq;      /* the device's wake number */
	uint64_t send_ns;  /* CLOCK_MONOTONIC at the publish call */
};

/* One entry per message a variant can send; the engine sizes the table from
 * the schedule, the adapter's thread marks sent/acked, the backend's thread
 * marks receipts. */
struct msg_rec {
	uint64_t send_ns;
	uint64_t recv_ns;          /* first receipt, CLOCK_MONOTONIC; 0 = not received */
	uint32_t recv_count;       /* > 1: duplicates */
	uint32_t device, seq;
	uint8_t sent, acked;
};

struct msg_table {
	uint32_t n;
	struct msg_rec *r;
};

/* Commands the backend sends down (fleet key command_every): the payload
 * is this header, so the device that gets one can say how long it waited
 * in the server side (issue to the device's receipt). 24 bytes. */
#define CMD_MAGIC 0x314d4344u /* "DCM1" */
#define CMD_BYTES 24u
struct cmd_header {
	uint32_t magic;
	uint32_t index;    /* into the variant's command table */
	uint32_t device;
	uint32_t tag;      /* the variant's: a command left queued by an earlier variant is not ours */
	uint64_t issue_ns; /* CLOCK_MONOTONIC when the backend published it */
};

/* One entry per command of the variant, in the order they are due. */
struct cmd_rec {
	uint64_t due_us;           /* relative to the window */
	uint64_t issue_ns, recv_ns;
	uint32_t device;
	uint32_t recv_count;       /* > 1: delivered twice */
};

struct cmd_table {
	uint32_t n;
	uint32_t tag;
	struct cmd_rec *r;
};

/* What became of a command by the end of the variant. A broker that routes
 * a command while it holds no session for the device (MQTT: no persistent
 * session with the subscription yet) drops it: real MQTT behaviour, not a
 * loss. SESSION_NS is when the device's session began (CLOCK_MONOTONIC; the
 * SUBACK's arrival, or before the window), 0 if it never did; LAST_WAKE_NS
 * when the device's last wake began (0: none). A command not delivered and
 * issued before SESSION_NS was dropped; one issued after it is pending,
 * queued for the device (CMD_PENDING_AFTER_LAST: issued after the device's
 * last wake began, so it waits for the next; CMD_PENDING_MISSED: a wake
 * began after it and did not get it, as when an HTTP poll, which takes one
 * command, found two queued). */
enum cmd_fate {
	CMD_NOT_SENT,          /* due after an interrupt, or the publish failed */
	CMD_DELIVERED,
	CMD_DROPPED,
	CMD_PENDING_AFTER_LAST,
	CMD_PENDING_MISSED,
};
enum cmd_fate ledger_command_fate(const struct cmd_rec *c, uint64_t session_ns, uint64_t last_wake_ns);

/* Backend side: PAYLOAD (LEN bytes) arrived at RECV_NS. Returns 0 if it is
 * a message of T (its first receipt stamps recv_ns; later ones count as
 * duplicates), -1 if it is foreign or malformed. Thread-safe. */
int ledger_receipt(struct msg_table *t, const void *payload, size_t len, uint64_t recv_ns);

/* Device side: DEVICE received command payload P (LEN bytes) at NOW_NS.
 * Returns 0 and sets *WAITED_NS (issue to receipt) if it is one of T's
 * commands for that device, -1 if it is not. Thread-safe. */
int ledger_command(struct cmd_table *t, uint32_t device, const void *p, size_t len, uint64_t now_ns,
                   uint64_t *waited_ns);

#endif
