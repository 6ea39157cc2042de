/* test_framers.c: the three protocol framers (clients/mqtt_frame.c, amqp_frame.c, http_frame.c), which
 * tell the modem the length and phase of every packet.
 *
 * Each protocol's packets are checked three ways: the framer alone on
 * every prefix of each packet (0 until it can tell, then the packet's
 * length and phase, never changing its mind); a conversation fed through
 * a copy of the modem's accounting loop (sim/modem.c account()) whole,
 * split at every byte of each packet, one byte at a time, and with the
 * packets of a direction coalesced into one buffer, always charging the
 * same bytes to the same phases; and bad input (-1) and the
 * MODEM_FRAME_MAX lookahead.
 */
#include <stdlib.h>

#include "amqp_frame.h"
#include "http_frame.h"
#include "mqtt_frame.h"
#include "unit.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- A copy of the modem's accounting loop -------------------------- */

struct drv {
	unsigned char hdr[MODEM_FRAME_MAX];
	size_t hlen, left;
	enum phase ph;
	int off;                       /* the framer gave up: the rest is unframed */
	uint64_t bytes[PHASE_COUNT];
	uint64_t unframed;
};

/* As sim/modem.c account(): N bytes at P of direction DOWN. */
static void feed(struct drv *f, modem_frame_fn fn, int down, const unsigned char *p, size_t n, uint32_t *state)
{
	if (f->off) {
		f->unframed += n;
		return;
	}
	while (n) {
		if (f->left) {
			size_t t = n < f->left ? n : f->left;
			f->bytes[f->ph] += t;
			f->left -= t;
			p += t;
			n -= t;
			continue;
		}
		size_t take = sizeof(f->hdr) - f->hlen;
		if (take > n)
			take = n;
		memcpy(f->hdr + f->hlen, p, take);
		size_t len = 0;
		enum phase ph = PHASE_DATA;
		int r = fn(down, f->hdr, f->hlen + take, &len, &ph, state);
		if (r == 0 && f->hlen + take < sizeof(f->hdr)) {
			f->hlen += take;
			return;
		}
		if (r <= 0 || len < f->hlen || (unsigned)ph >= PHASE_COUNT) {
			f->off = 1;
			f->unframed += f->hlen + n;
			f->hlen = 0;
			return;
		}
		f->ph = ph;
		f->left = len - f->hlen;
		if (f->hlen)
			f->bytes[ph] += f->hlen;
		f->hlen = 0;
	}
}

struct pkt {
	int down;
	const unsigned char *p;
	size_t n;
	enum phase ph;
	const char *what;
};

/* How a conversation is cut into reads. */
enum cut { CUT_WHOLE, CUT_SPLIT, CUT_BYTES, CUT_COALESCED };

struct result {
	uint64_t bytes[2][PHASE_COUNT];
	uint64_t unframed[2];
	size_t pending[2];  /* bytes of a packet still expected, or a header held */
};

/* Feeds the conversation; with CUT_SPLIT packet SPLIT_PKT is read as two
 * pieces cut at byte SPLIT_AT. */
static void converse(modem_frame_fn fn, const struct pkt *pk, size_t n, enum cut cut, size_t split_pkt,
                     size_t split_at, struct result *out)
{
	static struct drv d[2];
	uint32_t state = 0;
	memset(d, 0, sizeof d);
	for (size_t i = 0; i < n; i++) {
		const struct pkt *k = &pk[i];
		struct drv *f = &d[k->down];
		if (cut == CUT_BYTES) {
			for (size_t b = 0; b < k->n; b++)
				feed(f, fn, k->down, k->p + b, 1, &state);
		} else if (cut == CUT_SPLIT && i == split_pkt) {
			feed(f, fn, k->down, k->p, split_at, &state);
			feed(f, fn, k->down, k->p + split_at, k->n - split_at, &state);
		} else if (cut == CUT_COALESCED) {
			/* This packet and the ones after it in the same direction, in one read. */
			static unsigned char buf[1 << 20];
			size_t len = 0, j = i;
			for (; j < n && pk[j].down == k->down && len + pk[j].n <= sizeof buf; j++) {
				memcpy(buf + len, pk[j].p, pk[j].n);
				len += pk[j].n;
			}
			feed(f, fn, k->down, buf, len, &state);
			i = j - 1;
		} else {
			feed(f, fn, k->down, k->p, k->n, &state);
		}
	}
	for (int dir = 0; dir < 2; dir++) {
		memcpy(out->bytes[dir], d[dir].bytes, sizeof d[dir].bytes);
		out->unframed[dir] = d[dir].unframed;
		out->pending[dir] = d[dir].left + d[dir].hlen;
	}
}

static const char *const cut_name[] = { "whole", "split", "byte by byte", "coalesced" };

static void check_result(const char *name, enum cut cut, size_t split_pkt, size_t split_at, const struct result *want,
                         const struct result *got)
{
	int bad = memcmp(want, got, sizeof *want) != 0;
	if (!bad)
		return;
	UNIT_FAIL_("%s, %s (packet %zu at byte %zu): bytes per phase differ", name, cut_name[cut], split_pkt,
	           split_at);
	for (int dir = 0; dir < 2; dir++) {
		for (int p = 0; p < PHASE_COUNT; p++)
			if (want->bytes[dir][p] != got->bytes[dir][p])
				fprintf(stderr, "  %s phase %d: got %" PRIu64 ", expected %" PRIu64 "\n", dir ? "down" : "up",
				        p, got->bytes[dir][p], want->bytes[dir][p]);
		if (want->unframed[dir] != got->unframed[dir] || want->pending[dir] != got->pending[dir])
			fprintf(stderr, "  %s: unframed %" PRIu64 " (expected %" PRIu64 "), pending %zu (expected %zu)\n",
			        dir ? "down" : "up", got->unframed[dir], want->unframed[dir], got->pending[dir],
			        want->pending[dir]);
	}
}

/* Every packet of PK whole, each split at every byte (within the first
 * MODEM_FRAME_MAX + 16 and the last), byte by byte and coalesced: the
 * bytes of each packet go to its phase, none unframed, none pending. */
static void check_conversation(const char *name, modem_frame_fn fn, const struct pkt *pk, size_t n)
{
	struct result want, got;
	memset(&want, 0, sizeof want);
	for (size_t i = 0; i < n; i++)
		want.bytes[pk[i].down][pk[i].ph] += pk[i].n;

	converse(fn, pk, n, CUT_WHOLE, 0, 0, &got);
	check_result(name, CUT_WHOLE, 0, 0, &want, &got);
	converse(fn, pk, n, CUT_BYTES, 0, 0, &got);
	check_result(name, CUT_BYTES, 0, 0, &want, &got);
	converse(fn, pk, n, CUT_COALESCED, 0, 0, &got);
	check_result(name, CUT_COALESCED, 0, 0, &want, &got);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 1; k < pk[i].n; k++) {
			if (k > MODEM_FRAME_MAX + 16 && k != pk[i].n - 1)
				continue;
			converse(fn, pk, n, CUT_SPLIT, i, k, &got);
			check_result(name, CUT_SPLIT, i, k, &want, &got);
		}
}

/* The framer alone on every prefix of each packet (STATE as the
 * conversation leaves it before the packet): 0 until it can tell, then 1
 * with the packet's length and phase at every longer prefix. */
static void check_prefixes(const char *name, modem_frame_fn fn, const struct pkt *pk, size_t n)
{
	uint32_t state = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pkt *k = &pk[i];
		size_t upto = k->n < MODEM_FRAME_MAX ? k->n : MODEM_FRAME_MAX;
		int told = 0, failed = 0;
		uint32_t after = state;
		for (size_t a = 0; a <= upto; a++) {
			uint32_t s = state;
			size_t len = 0;
			enum phase ph = PHASE_COUNT;
			int r = fn(k->down, k->p, a, &len, &ph, &s);
			if (r == 0 && !told) {
				if (s != state)
					UNIT_FAIL_("%s: %s: state changed on 0 at %zu bytes", name, k->what, a);
				continue;
			}
			if (r != 1) {
				UNIT_FAIL_("%s: %s: %d at %zu of %zu bytes (%s)", name, k->what, r, a, k->n,
				           told ? "after it could tell" : "expected 0 or 1");
				failed = 1;
				break;
			}
			if (len != k->n || ph != k->ph) {
				UNIT_FAIL_("%s: %s at %zu bytes: length %zu phase %d, expected %zu phase %d", name, k->what, a,
				           len, (int)ph, k->n, (int)k->ph);
				failed = 1;
				break;
			}
			if (told && s != after)
				UNIT_FAIL_("%s: %s: state %#x at %zu bytes, %#x before", name, k->what, s, a, after);
			told = 1;
			after = s;
		}
		if (!told && !failed)
			UNIT_FAIL_("%s: %s: still 0 with all %zu bytes", name, k->what, upto);
		state = after;
	}
}

/* FN on the AVAIL bytes at P returns WANT (and, on 1, LEN and PH). */
#define CHECK_FRAME(fn, down, p, avail, state, want, want_len, want_ph)                                     \
	do {                                                                                                \
		size_t len_ = 0;                                                                            \
		enum phase ph_ = PHASE_COUNT;                                                               \
		int r_ = fn((down), (const unsigned char *)(p), (avail), &len_, &ph_, (state));             \
		CHECK_INT_EQ(r_, (want));                                                                   \
		if (r_ == 1 && (want) == 1) {                                                               \
			CHECK_U64_EQ(len_, (want_len));                                                     \
			CHECK_INT_EQ(ph_, (want_ph));                                                       \
		}                                                                                           \
	} while (0)

/* ---- MQTT ----------------------------------------------------------- */

static unsigned char mq[32][512];
static unsigned char mq_big[(256 << 10) + 64];

/* An MQTT packet: first byte B0, remaining length RL (encoded), RL filler bytes. */
static size_t mqtt_pkt(unsigned char *out, unsigned b0, size_t rl)
{
	size_t o = 0, x = rl;
	out[o++] = (unsigned char)b0;
	do {
		unsigned char c = x % 128;
		x /= 128;
		out[o++] = (unsigned char)(c | (x ? 0x80 : 0));
	} while (x);
	memset(out + o, 0x5a, rl);
	return o + rl;
}

static void test_mqtt(void)
{
	/* A wake with every packet type, each in the direction it travels. */
	static const struct {
		int down;
		unsigned b0;
		size_t rl;
		enum phase ph;
		const char *what;
	} spec[] = {
		{ 0, 0x10, 44, PHASE_SETUP, "CONNECT" },
		{ 1, 0x20, 2, PHASE_SETUP, "CONNACK" },
		{ 0, 0x82, 29, PHASE_DOWNLINK, "SUBSCRIBE" },
		{ 1, 0x90, 3, PHASE_DOWNLINK, "SUBACK" },
		{ 1, 0x32, 52, PHASE_DOWNLINK, "PUBLISH (a command)" },
		{ 0, 0x40, 2, PHASE_DOWNLINK, "PUBACK (of the command)" },
		{ 1, 0x34, 52, PHASE_DOWNLINK, "PUBLISH QoS 2 (a command)" },
		{ 0, 0x50, 2, PHASE_DOWNLINK, "PUBREC (of the command)" },
		{ 1, 0x62, 2, PHASE_DATA, "PUBREL" },
		{ 0, 0x70, 2, PHASE_DOWNLINK, "PUBCOMP (of the command)" },
		{ 0, 0x32, 76, PHASE_DATA, "PUBLISH (telemetry)" },
		{ 0, 0x30, 0, PHASE_DATA, "PUBLISH with no remaining length" },
		{ 1, 0x40, 2, PHASE_DATA, "PUBACK (of telemetry)" },
		{ 0, 0x34, 76, PHASE_DATA, "PUBLISH QoS 2 (telemetry)" },
		{ 1, 0x50, 2, PHASE_DATA, "PUBREC" },
		{ 0, 0x62, 2, PHASE_DOWNLINK, "PUBREL (the device's)" },
		{ 1, 0x70, 2, PHASE_DATA, "PUBCOMP" },
		{ 0, 0xa2, 27, PHASE_DOWNLINK, "UNSUBSCRIBE" },
		{ 1, 0xb0, 2, PHASE_DOWNLINK, "UNSUBACK" },
		{ 0, 0xc0, 0, PHASE_DATA, "PINGREQ" },
		{ 1, 0xd0, 0, PHASE_DATA, "PINGRESP" },
		{ 0, 0x32, 127, PHASE_DATA, "PUBLISH, remaining length 127 (1 byte)" },
		{ 0, 0x32, 128, PHASE_DATA, "PUBLISH, remaining length 128 (2 bytes)" },
		{ 0, 0x32, 400, PHASE_DATA, "PUBLISH, remaining length 400" },
		{ 0, 0xe0, 0, PHASE_TEARDOWN, "DISCONNECT" },
	};
	struct pkt pk[NELEMS(spec) + 2];
	size_t n = 0;
	for (size_t i = 0; i < NELEMS(spec); i++, n++)
		pk[n] = (struct pkt){ spec[i].down, mq[i], mqtt_pkt(mq[i], spec[i].b0, spec[i].rl), spec[i].ph,
		                      spec[i].what };
	/* A 256 KiB payload: 3 bytes of remaining length, far past the lookahead. */
	struct pkt big = { 0, mq_big, mqtt_pkt(mq_big, 0x32, (256 << 10) + 30), PHASE_DATA, "PUBLISH of 256 KiB" };
	pk[n++] = big;
	pk[n++] = (struct pkt){ 1, mq[1], 4, PHASE_SETUP, "CONNACK again" };
	check_prefixes("mqtt", mqtt_frame, pk, n);
	check_conversation("mqtt", mqtt_frame, pk, n);

	/* Two packets in one buffer: the first one's length. */
	unsigned char two[8] = { 0xc0, 0x00, 0xe0, 0x00 };
	CHECK_FRAME(mqtt_frame, 0, two, 4, NULL, 1, 2, PHASE_DATA);
	CHECK_FRAME(mqtt_frame, 0, two + 2, 2, NULL, 1, 2, PHASE_TEARDOWN);

	/* Remaining length: each of 1-4 bytes at its edges, decided from the header alone. */
	static const struct {
		size_t rl, hdr;
	} rls[] = { { 0, 2 }, { 127, 2 }, { 128, 3 }, { 16383, 3 }, { 16384, 4 }, { 2097151, 4 }, { 2097152, 5 },
		    { 268435455, 5 } };
	for (size_t i = 0; i < NELEMS(rls); i++) {
		unsigned char h[8];
		size_t o = 1, x = rls[i].rl;
		h[0] = 0x30;
		do {
			unsigned char c = x % 128;
			x /= 128;
			h[o++] = (unsigned char)(c | (x ? 0x80 : 0));
		} while (x);
		CHECK_INT_EQ(o, rls[i].hdr);
		CHECK_FRAME(mqtt_frame, 0, h, o - 1, NULL, 0, 0, PHASE_DATA);
		CHECK_FRAME(mqtt_frame, 0, h, o, NULL, 1, rls[i].hdr + rls[i].rl, PHASE_DATA);
	}

	/* Bad input. */
	CHECK_FRAME(mqtt_frame, 0, "", 0, NULL, 0, 0, 0);
	CHECK_FRAME(mqtt_frame, 0, "\x30", 1, NULL, 0, 0, 0);
	CHECK_FRAME(mqtt_frame, 0, "\x00\x00", 2, NULL, -1, 0, 0);   /* type 0: reserved */
	CHECK_FRAME(mqtt_frame, 1, "\xf0\x00", 2, NULL, -1, 0, 0);   /* type 15: reserved in 3.1.1 */
	CHECK_FRAME(mqtt_frame, 0, "\x30\xff\xff\xff\xff\x01", 6, NULL, -1, 0, 0); /* a fifth length byte */
	CHECK_FRAME(mqtt_frame, 0, "\x30\xff\xff\xff\xff", 5, NULL, -1, 0, 0);
	CHECK_FRAME(mqtt_frame, 0, "\x30\xff\xff\xff", 4, NULL, 0, 0, 0);      /* could still end */
	/* Through the accounting loop a bad packet turns framing off: the rest is unframed. */
	static const unsigned char junk[] = { 0xc0, 0x00, 0x00, 0x00, 0xc0, 0x00 };
	struct pkt bad[] = { { 0, junk, sizeof junk, PHASE_DATA, "PINGREQ then junk" } };
	struct result got;
	converse(mqtt_frame, bad, 1, CUT_WHOLE, 0, 0, &got);
	CHECK_U64_EQ(got.bytes[0][PHASE_DATA], 2);
	CHECK_U64_EQ(got.unframed[0], 4);
}

/* ---- AMQP 1.0 ------------------------------------------------------- */

static unsigned char am[40][4096];
static unsigned char am_big[(70 << 10) + 64];

/* A frame: size, doff 2, TYPE, channel 0, then (unless CODE < 0) the
 * descriptor 0x00 0x53 CODE and LIST, then PAD filler bytes (a payload). */
static size_t amqp_build(unsigned char *out, int type, int code, const unsigned char *list, size_t llen, size_t pad)
{
	size_t size = 8 + (code >= 0 ? 3 + llen : 0) + pad, o = 8;
	out[0] = (unsigned char)(size >> 24);
	out[1] = (unsigned char)(size >> 16);
	out[2] = (unsigned char)(size >> 8);
	out[3] = (unsigned char)size;
	out[4] = 2;
	out[5] = (unsigned char)type;
	out[6] = out[7] = 0;
	if (code >= 0) {
		out[o++] = 0x00;
		out[o++] = 0x53;
		out[o++] = (unsigned char)code;
		memcpy(out + o, list, llen);
		o += llen;
	}
	memset(out + o, 0x5a, pad);
	return size;
}

/* An attach's list: name "a", HANDLE, ROLE (0x41 receiver, 0x42 sender). */
static size_t attach_list(unsigned char *l, unsigned handle, unsigned char role)
{
	static const unsigned char tmpl[] = { 0xc0, 7, 3, 0xa1, 1, 'a', 0x52, 0, 0 };
	memcpy(l, tmpl, sizeof tmpl);
	l[7] = (unsigned char)handle;
	l[8] = role;
	return sizeof tmpl;
}

/* A link flow's list on HANDLE: 8 fields, handle the fifth, available 3. */
static size_t flow_list(unsigned char *l, unsigned handle)
{
	static const unsigned char tmpl[] = { 0xc0, 22, 8, 0x52, 1, 0x70, 0, 0, 8, 0, 0x52, 1, 0x70, 0, 0, 8, 0,
		                              0x52, 0, 0x43, 0x52, 8, 0x52, 3 };
	memcpy(l, tmpl, sizeof tmpl);
	l[18] = (unsigned char)handle;
	return sizeof tmpl;
}

static void test_amqp(void)
{
	static const unsigned char sasl_hdr[] = { 'A', 'M', 'Q', 'P', 3, 1, 0, 0 };
	static const unsigned char amqp_hdr[] = { 'A', 'M', 'Q', 'P', 0, 1, 0, 0 };
	static const unsigned char sasl_list[] = { 0xc0, 0x0c, 0x01, 0xe0, 0x09, 0x01, 0xa3, 0x09, 'A', 'N', 'O', 'N',
		                                   'Y', 'M', 'O', 'U', 'S' };
	static const unsigned char open_list[] = { 0xc0, 0x05, 0x01, 0xa1, 0x02, 'd', '1' };
	static const unsigned char begin_list[] = { 0xc0, 0x0a, 0x04, 0x40, 0x43, 0x70, 0, 0, 8, 0, 0x43 };
	static const unsigned char session_flow[] = { 0xc0, 0x0f, 0x04, 0x52, 1, 0x70, 0, 0, 8, 0, 0x52, 1, 0x70, 0,
		                                      0, 8, 0 };
	static const unsigned char transfer_list[] = { 0xc0, 0x04, 0x02, 0x43, 0x43 };
	static const unsigned char disposition_list[] = { 0xc0, 0x04, 0x02, 0x41, 0x43 };
	static const unsigned char detach_list[] = { 0xc0, 0x03, 0x02, 0x43, 0x41 };
	static const unsigned char list0[] = { 0x45 };
	unsigned char l[64];
	struct pkt pk[40];
	size_t n = 0, i = 0;
#define AM(down, ph, what, build) (pk[n++] = (struct pkt){ (down), am[i], (build), (ph), (what) }, i++)
	pk[n++] = (struct pkt){ 0, sasl_hdr, 8, PHASE_SETUP, "SASL protocol header" };
	pk[n++] = (struct pkt){ 1, sasl_hdr, 8, PHASE_SETUP, "SASL protocol header back" };
	AM(1, PHASE_SETUP, "sasl-mechanisms", amqp_build(am[i], 1, 0x40, sasl_list, sizeof sasl_list, 0));
	AM(0, PHASE_SETUP, "sasl-init", amqp_build(am[i], 1, 0x41, sasl_list, sizeof sasl_list, 0));
	AM(1, PHASE_SETUP, "sasl-outcome", amqp_build(am[i], 1, 0x44, list0, 1, 0));
	pk[n++] = (struct pkt){ 0, amqp_hdr, 8, PHASE_SETUP, "AMQP protocol header" };
	pk[n++] = (struct pkt){ 1, amqp_hdr, 8, PHASE_SETUP, "AMQP protocol header back" };
	AM(0, PHASE_SETUP, "open", amqp_build(am[i], 0, 0x10, open_list, sizeof open_list, 0));
	AM(1, PHASE_SETUP, "open back", amqp_build(am[i], 0, 0x10, open_list, sizeof open_list, 0));
	AM(0, PHASE_SETUP, "begin", amqp_build(am[i], 0, 0x11, begin_list, sizeof begin_list, 0));
	AM(1, PHASE_SETUP, "begin back", amqp_build(am[i], 0, 0x11, begin_list, sizeof begin_list, 0));
	/* The telemetry link: ours a sender (handle 0), the broker's end a receiver. */
	AM(0, PHASE_SETUP, "attach, telemetry sender", amqp_build(am[i], 0, 0x12, l, attach_list(l, 0, 0x42), 0));
	AM(1, PHASE_SETUP, "attach back, receiver", amqp_build(am[i], 0, 0x12, l, attach_list(l, 5, 0x41), 0));
	AM(1, PHASE_DATA, "flow on the telemetry link (credit)", amqp_build(am[i], 0, 0x13, l, flow_list(l, 5), 0));
	/* The commands link: ours a receiver (handle 1), the broker's a sender (handle 6). */
	AM(0, PHASE_DOWNLINK, "attach, commands receiver", amqp_build(am[i], 0, 0x12, l, attach_list(l, 1, 0x41), 0));
	AM(1, PHASE_DOWNLINK, "attach back, sender", amqp_build(am[i], 0, 0x12, l, attach_list(l, 6, 0x42), 0));
	AM(0, PHASE_DOWNLINK, "flow granting credit for commands", amqp_build(am[i], 0, 0x13, l, flow_list(l, 1), 0));
	AM(1, PHASE_DOWNLINK, "flow saying how many wait", amqp_build(am[i], 0, 0x13, l, flow_list(l, 6), 0));
	AM(0, PHASE_DATA, "flow on another handle", amqp_build(am[i], 0, 0x13, l, flow_list(l, 0), 0));
	AM(0, PHASE_DATA, "session flow (no handle)", amqp_build(am[i], 0, 0x13, session_flow, sizeof session_flow, 0));
	AM(1, PHASE_DOWNLINK, "transfer of a command",
	   amqp_build(am[i], 0, 0x14, transfer_list, sizeof transfer_list, 24));
	AM(0, PHASE_DOWNLINK, "disposition of the command",
	   amqp_build(am[i], 0, 0x15, disposition_list, sizeof disposition_list, 0));
	AM(0, PHASE_DATA, "transfer of telemetry", amqp_build(am[i], 0, 0x14, transfer_list, sizeof transfer_list, 48));
	AM(1, PHASE_DATA, "disposition of telemetry",
	   amqp_build(am[i], 0, 0x15, disposition_list, sizeof disposition_list, 0));
	AM(0, PHASE_DATA, "heartbeat (empty frame)", amqp_build(am[i], 0, -1, NULL, 0, 0));
	AM(1, PHASE_DATA, "heartbeat back", amqp_build(am[i], 0, -1, NULL, 0, 0));
	AM(0, PHASE_DATA, "transfer of 70 KiB", 0);
	size_t big = n - 1;
	pk[n - 1].p = am_big;
	pk[n - 1].n = amqp_build(am_big, 0, 0x14, transfer_list, sizeof transfer_list, 70 << 10);
	AM(0, PHASE_TEARDOWN, "detach", amqp_build(am[i], 0, 0x16, detach_list, sizeof detach_list, 0));
	AM(1, PHASE_TEARDOWN, "detach back", amqp_build(am[i], 0, 0x16, detach_list, sizeof detach_list, 0));
	AM(0, PHASE_TEARDOWN, "end", amqp_build(am[i], 0, 0x17, list0, 1, 0));
	AM(1, PHASE_TEARDOWN, "end back", amqp_build(am[i], 0, 0x17, list0, 1, 0));
	AM(0, PHASE_TEARDOWN, "close", amqp_build(am[i], 0, 0x18, list0, 1, 0));
	AM(1, PHASE_TEARDOWN, "close back", amqp_build(am[i], 0, 0x18, list0, 1, 0));
#undef AM
	CHECK(n <= NELEMS(pk) && i <= NELEMS(am));
	check_prefixes("amqp", amqp_frame, pk, n);
	check_conversation("amqp", amqp_frame, pk, n);

	/* The attaches leave the commands link's handles in STATE: 1 + 1 ours, 6 + 1 the broker's. */
	uint32_t state = 0;
	size_t len;
	enum phase ph;
	unsigned char f[128];
	CHECK_INT_EQ(amqp_frame(0, f, amqp_build(f, 0, 0x12, l, attach_list(l, 1, 0x41), 0), &len, &ph, &state), 1);
	CHECK_INT_EQ(amqp_frame(1, f, amqp_build(f, 0, 0x12, l, attach_list(l, 6, 0x42), 0), &len, &ph, &state), 1);
	CHECK_INT_EQ(state, 0x0702);
	/* Without STATE (NULL) no flow is downlink and nothing is written. */
	CHECK_FRAME(amqp_frame, 0, f, amqp_build(f, 0, 0x13, l, flow_list(l, 1), 0), NULL, 1, 8 + 3 + 24, PHASE_DATA);

	/* Two frames in one buffer: the first one's length. */
	size_t a = amqp_build(f, 0, -1, NULL, 0, 0);
	size_t b = amqp_build(f + a, 0, 0x18, list0, 1, 0);
	CHECK_FRAME(amqp_frame, 0, f, a + b, &state, 1, 8, PHASE_DATA);
	CHECK_FRAME(amqp_frame, 0, f + a, b, &state, 1, b, PHASE_TEARDOWN);

	/* Bad input. */
	unsigned char x[64];
	CHECK_FRAME(amqp_frame, 0, "AMQP\x00\x01\x00", 7, &state, 0, 0, 0);
	memcpy(x, "\x00\x00\x00\x07\x02\x00\x00\x00", 8); /* size below 8 */
	CHECK_FRAME(amqp_frame, 0, x, 8, &state, -1, 0, 0);
	memcpy(x, "\x00\x00\x00\x10\x01\x00\x00\x00", 8); /* data offset 4 bytes: below the header */
	CHECK_FRAME(amqp_frame, 0, x, 8, &state, -1, 0, 0);
	memcpy(x, "\x00\x00\x00\x10\x05\x00\x00\x00", 8); /* data offset past the frame */
	CHECK_FRAME(amqp_frame, 0, x, 8, &state, -1, 0, 0);
	size_t m = amqp_build(x, 0, 0x18, list0, 1, 0);
	x[8] = 0x01; /* not a described performative */
	CHECK_FRAME(amqp_frame, 0, x, m, &state, -1, 0, 0);
	x[8] = 0x00;
	x[10] = 0x19; /* no such performative */
	CHECK_FRAME(amqp_frame, 0, x, m, &state, -1, 0, 0);
	x[10] = 0x18;
	CHECK_FRAME(amqp_frame, 0, x, 10, &state, 0, 0, 0); /* the code not in yet */
	CHECK_FRAME(amqp_frame, 0, x, m, &state, 1, m, PHASE_TEARDOWN);

	/* The lookahead: an attach or flow is read whole, so one longer than
	 * MODEM_FRAME_MAX is -1 as soon as its size is known; a transfer is
	 * told from its first 11 bytes however long. */
	static unsigned char huge[MODEM_FRAME_MAX + 64];
	size_t hs = amqp_build(huge, 0, 0x12, l, attach_list(l, 1, 0x41), MODEM_FRAME_MAX);
	CHECK(hs > MODEM_FRAME_MAX);
	CHECK_FRAME(amqp_frame, 0, huge, 10, &state, 0, 0, 0);
	CHECK_FRAME(amqp_frame, 0, huge, 11, &state, -1, 0, 0);
	CHECK_FRAME(amqp_frame, 0, huge, MODEM_FRAME_MAX, &state, -1, 0, 0);
	hs = amqp_build(huge, 0, 0x13, l, flow_list(l, 1), MODEM_FRAME_MAX);
	CHECK_FRAME(amqp_frame, 0, huge, MODEM_FRAME_MAX, &state, -1, 0, 0);
	hs = amqp_build(huge, 0, 0x12, l, attach_list(l, 1, 0x41), MODEM_FRAME_MAX - 8 - 3 - 9);
	CHECK_INT_EQ(hs, MODEM_FRAME_MAX); /* exactly the lookahead: still read */
	CHECK_FRAME(amqp_frame, 0, huge, MODEM_FRAME_MAX - 1, &state, 0, 0, 0);
	CHECK_FRAME(amqp_frame, 0, huge, MODEM_FRAME_MAX, &state, 1, MODEM_FRAME_MAX, PHASE_DOWNLINK);
	CHECK_FRAME(amqp_frame, 0, am_big, 11, &state, 1, pk[big].n, PHASE_DATA);
}

/* ---- HTTP/1.1 ------------------------------------------------------- */

#define POST_HEAD                                                                                   \
	"POST /devices/dev7/messages HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nAuthorization: Bearer abc\r\n" \
	"Content-Type: application/octet-stream\r\nContent-Length: 48\r\n\r\n"
#define GET_HEAD "GET /devices/dev7/commands HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nAuthorization: Bearer abc\r\n\r\n"

static unsigned char post[512], big_post[(256 << 10) + 256];

static void test_http(void)
{
	static const char r204[] = "HTTP/1.1 204 No Content\r\nServer: nginx\r\nConnection: keep-alive\r\n\r\n";
	static const char r200[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	                           "Content-Length: 24\r\n\r\n0123456789abcdef01234567";
	static const char r100[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char r401[] = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
	static const char r304[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n";
	static const char get[] = GET_HEAD;
	size_t np = strlen(POST_HEAD) + 48;
	memcpy(post, POST_HEAD, strlen(POST_HEAD));
	memset(post + strlen(POST_HEAD), 0x5a, 48);
	const char *bh = "POST /devices/dev7/messages HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nContent-Length: 262144\r\n\r\n";
	size_t nb = strlen(bh) + (256 << 10);
	memcpy(big_post, bh, strlen(bh));
	memset(big_post + strlen(bh), 0x5a, 256 << 10);
#define S(s) (const unsigned char *)(s), sizeof(s) - 1
	const struct pkt pk[] = {
		{ 0, post, np, PHASE_DATA, "POST" },
		{ 1, S(r204), PHASE_DATA, "204 to the POST" },
		{ 0, post, np, PHASE_DATA, "POST (2)" },
		{ 1, S(r100), PHASE_DATA, "100 Continue to it" },
		{ 1, S(r204), PHASE_DATA, "204 to it" },
		{ 0, S(get), PHASE_DOWNLINK, "GET (a command poll)" },
		{ 1, S(r200), PHASE_DOWNLINK, "200 with a command" },
		{ 0, S(get), PHASE_DOWNLINK, "GET (again)" },
		{ 1, S(r204), PHASE_DOWNLINK, "204: no command" },
		/* Requests ahead of their responses: answered in order. */
		{ 0, post, np, PHASE_DATA, "POST, pipelined" },
		{ 0, S(get), PHASE_DOWNLINK, "GET, pipelined" },
		{ 0, post, np, PHASE_DATA, "POST, pipelined (2)" },
		{ 1, S(r401), PHASE_DATA, "401 to the first POST" },
		{ 1, S(r304), PHASE_DOWNLINK, "304 (no body) to the GET" },
		{ 1, S(r204), PHASE_DATA, "204 to the second POST" },
		{ 0, big_post, nb, PHASE_DATA, "POST of 256 KiB" },
		{ 1, S(r204), PHASE_DATA, "204 to it" },
	};
	check_prefixes("http", http_frame, pk, NELEMS(pk));
	check_conversation("http", http_frame, pk, NELEMS(pk));

	/* STATE: the count in bits 0-4, then a bit per unanswered request (1: a GET), oldest lowest. */
	uint32_t state = 0;
	size_t len;
	enum phase ph;
	CHECK_INT_EQ(http_frame(0, post, np, &len, &ph, &state), 1);
	CHECK_INT_EQ(http_frame(0, (const unsigned char *)get, strlen(get), &len, &ph, &state), 1);
	CHECK_INT_EQ(state, 2u | 1u << 6);
	CHECK_FRAME(http_frame, 1, r204, strlen(r204), &state, 1, strlen(r204), PHASE_DATA);
	CHECK_INT_EQ(state, 1u | 1u << 5);
	CHECK_FRAME(http_frame, 1, r200, strlen(r200), &state, 1, strlen(r200), PHASE_DOWNLINK);
	CHECK_INT_EQ(state, 0);

	/* Two messages in one buffer: the first one's length. */
	char two[256];
	snprintf(two, sizeof two, "%s%s", r204, r204);
	state = 2;
	CHECK_FRAME(http_frame, 1, two, strlen(two), &state, 1, strlen(r204), PHASE_DATA);
	CHECK_FRAME(http_frame, 1, two + strlen(r204), strlen(r204), &state, 1, strlen(r204), PHASE_DATA);
	CHECK_INT_EQ(state, 0);

	/* Bad input. */
	state = 0;
	CHECK_FRAME(http_frame, 1, r204, strlen(r204), &state, -1, 0, 0); /* a response to no request */
	CHECK_FRAME(http_frame, 0, "PUT /x HTTP/1.1\r\n\r\n", 19, &state, -1, 0, 0);
	CHECK_FRAME(http_frame, 0, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 48, &state, -1, 0, 0);
	CHECK_INT_EQ(state, 0);
	CHECK_FRAME(http_frame, 0, get, strlen(get), &state, 1, strlen(get), PHASE_DOWNLINK);
	CHECK_FRAME(http_frame, 1, "HTTP/1.1 200 OK\r\n\r\n", 19, &state, -1, 0, 0); /* a body up to the close */
	CHECK_FRAME(http_frame, 1, "HTTX/1.1 204 No\r\n\r\n", 19, &state, -1, 0, 0);
	CHECK_FRAME(http_frame, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 47, &state, -1, 0, 0);
	CHECK_FRAME(http_frame, 1, "HTTP/1.1 204 No Content\r\n", 25, &state, 0, 0, 0); /* head not ended */
	/* At most 26 requests unanswered. */
	state = 0;
	for (int k = 0; k < 26; k++)
		CHECK_FRAME(http_frame, 0, get, strlen(get), &state, 1, strlen(get), PHASE_DOWNLINK);
	CHECK_FRAME(http_frame, 0, get, strlen(get), &state, -1, 0, 0);

	/* The lookahead: a head longer than MODEM_FRAME_MAX is never told
	 * (0 with MODEM_FRAME_MAX bytes), so the modem stops framing the
	 * connection and charges the rest to the adapter's phase. */
	static unsigned char long_head[MODEM_FRAME_MAX + 512];
	size_t o = (size_t)snprintf((char *)long_head, sizeof long_head, "GET /x HTTP/1.1\r\nCookie: ");
	memset(long_head + o, 'c', MODEM_FRAME_MAX);
	o += MODEM_FRAME_MAX;
	memcpy(long_head + o, "\r\n\r\n", 4);
	o += 4;
	state = 0;
	CHECK_FRAME(http_frame, 0, long_head, MODEM_FRAME_MAX, &state, 0, 0, 0);
	struct pkt lh[] = { { 0, long_head, o, PHASE_DOWNLINK, "a head past the lookahead" } };
	struct result got;
	converse(http_frame, lh, 1, CUT_WHOLE, 0, 0, &got);
	CHECK_U64_EQ(got.unframed[0], o);
	CHECK_U64_EQ(got.bytes[0][PHASE_DOWNLINK], 0);
	/* A head of exactly MODEM_FRAME_MAX bytes is still told. */
	o = (size_t)snprintf((char *)long_head, sizeof long_head, "GET /x HTTP/1.1\r\nCookie: ");
	size_t fill = MODEM_FRAME_MAX - o - 4;
	memset(long_head + o, 'c', fill);
	memcpy(long_head + o + fill, "\r\n\r\n", 4);
	CHECK_FRAME(http_frame, 0, long_head, MODEM_FRAME_MAX, &state, 1, MODEM_FRAME_MAX, PHASE_DOWNLINK);
#undef S
}

int main(void)
{
	RUN(test_mqtt);
	RUN(test_amqp);
	RUN(test_http);
	return UNIT_EXIT();
}
