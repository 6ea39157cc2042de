/* replay.c: recordings of a library's wake, and wakes replayed from them (see replay.h).
 *
 * Everything here runs on the engine thread: the tap is called by the
 * modem, the adapter through the modem's direct interface.
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_frame.h"
#include "clock.h"
#include "http_frame.h"
#include "ingest_token.h"
#include "mqtt_frame.h"
#include "wake.h"

#define REC_MAX (4u << 20)  /* bytes of the library's a recording keeps: more is no wake to replay */
#define PEEK 16             /* bytes of a server packet read for what it says (CONNACK, PUBACK, a status line) */
#define PEEK_AMQP 512       /* ... of an AMQP frame (a disposition, a detach or close with its error) */

/* Splits the server's stream into packets with the protocol's framer. */
struct dsplit {
	size_t left;                      /* bytes of the current packet still to come */
	unsigned char h[MODEM_FRAME_MAX]; /* the start of a packet whose length is not known yet */
	size_t hlen;
	int bad;                          /* the stream did not parse */
};

/* What the server had sent when the library wrote a piece, or closed: its
 * packets, except AMQP's flows, dispositions and ends, whose number varies
 * from wake to wake for the same exchange (RabbitMQ may grant credit
 * again, settle three transfers in one disposition or in three, send its
 * end or not); of those, whether credit had come (a flow) and how many
 * messages were settled. */
struct rseen {
	uint32_t packets, flows, acks;
};

/* One piece the library wrote: the modem sent it down the stack in one go. */
struct rchunk {
	uint32_t end;          /* while recording: its end in the up stream */
	struct rseen after;    /* what the server had sent before it */
	uint32_t frame, back;  /* the template's: it ends BACK bytes before the end of packet FRAME */
};

enum fkind { F_OTHER, F_CONNECT, F_PUBLISH, F_POST, F_AMQP, F_TRANSFER };

/* One packet of the library's, in the recorded up stream. */
struct rframe {
	uint32_t off, len;
	enum fkind kind;
	uint32_t msg;          /* F_PUBLISH, F_POST: the message's index in the wake */
	uint32_t head;         /* bytes before the payload (F_PUBLISH: fixed header to packet id; F_POST: the head) */
	uint16_t pid;          /* F_PUBLISH at QoS 1 */
	int qos;               /* F_PUBLISH; F_TRANSFER: 0 when pre-settled */
	uint64_t delivery;     /* F_TRANSFER: its delivery id */
};

struct replay_rec {
	enum protocol proto;
	modem_frame_fn frame;
	char dev[16];          /* "dev<N>" of the recorded device */
	size_t devlen;
	char token[INGEST_TOKEN_LEN + 1]; /* HTTP: its bearer token */
	const unsigned char *secret;
	size_t secret_len;

	unsigned char *up;     /* what the library wrote */
	size_t up_len, up_cap;
	struct rchunk *ch;
	size_t nch, ch_cap;
	struct dsplit ds;
	struct rseen seen;     /* what the server has sent so far */
	struct rseen close_after; /* ... when the library closed */
	int lib_closed;        /* it closed */
	int overflow;

	struct rframe *fr;     /* the template, once finished */
	size_t nfr;
	uint32_t nmsg, payload;
};

static modem_frame_fn framer_of(enum protocol p)
{
	return p == PROTO_MQTT ? mqtt_frame : p == PROTO_HTTP ? http_frame : amqp_frame;
}

/* The framer's state for a server packet: HTTP queues the requests a
 * response may answer; one POST waiting is what every response here answers. */
static uint32_t down_state(enum protocol p)
{
	return p == PROTO_HTTP ? 1u : 0u;
}

/* Feeds N server bytes; ON_PACKET sees the start of each packet (at least PEEK bytes of it, or all). */
typedef void (*packet_fn)(void *arg, const unsigned char *p, size_t have, size_t len);
static void dsplit_feed(struct dsplit *d, enum protocol proto, modem_frame_fn frame, const unsigned char *p,
                        size_t n, packet_fn on_packet, void *arg)
{
	while (n && !d->bad) {
		if (d->left) {
			size_t t = n < d->left ? n : d->left;
			d->left -= t;
			p += t;
			n -= t;
			continue;
		}
		size_t take = sizeof(d->h) - d->hlen;
		if (take > n)
			take = n;
		memcpy(d->h + d->hlen, p, take);
		size_t have = d->hlen + take, len = 0;
		enum phase ph;
		uint32_t st = down_state(proto);
		int r = frame(1, d->h, have, &len, &ph, &st);
		if (r < 0 || (r == 0 && have == sizeof(d->h)) || (r > 0 && (len == 0 || len < d->hlen))) {
			d->bad = 1;
			break;
		}
		if (r > 0 && have > len) {
			take -= have - len;
			have = len;
		}
		size_t peek = proto == PROTO_AMQP ? PEEK_AMQP : PEEK;
		size_t need = len < peek ? len : peek;
		p += take;
		n -= take;
		if (r == 0 || have < need) {
			d->hlen = have; /* more of its start first */
			continue;
		}
		on_packet(arg, d->h, have, len);
		d->left = len - have;
		d->hlen = 0;
	}
}

/* An AMQP frame from the server: 1 a flow, 2 a disposition from the
 * receiver (*FIRST to *LAST: the deliveries it settles), 3 an end (RabbitMQ
 * answers a device's end and close with its close, and its end only
 * sometimes), 0 anything else. */
static int amqp_down_kind(const unsigned char *p, size_t have, uint64_t *first, uint64_t *last)
{
	if (have < 8 || !memcmp(p, "AMQP", 4) || p[5] != 0)
		return 0;
	size_t doff = (size_t)p[4] * 4;
	if (have < doff + 3 || p[doff] != 0x00 || p[doff + 1] != 0x53)
		return 0;
	if (p[doff + 2] == 0x13)
		return 1;
	if (p[doff + 2] == 0x17)
		return 3;
	if (p[doff + 2] != 0x15)
		return 0;
	const unsigned char *list = p + doff + 3, *end = p + have;
	const unsigned char *role = amqp_field(list, end, 0), *fst = amqp_field(list, end, 1), *lst = amqp_field(list, end, 2);
	if (!role || !(*role == 0x41 || (*role == 0x56 && role + 1 < end && role[1])) || !fst ||
	    amqp_uint_at(fst, end, first) != 1)
		return 0;
	if (!lst || amqp_uint_at(lst, end, last) != 1)
		*last = *first;
	/* a range no wake sends (inverted, or past any message table) settles nothing */
	return *last >= *first && *last - *first < 65536 ? 2 : 3;
}

/* What packet P adds to SEEN. */
static void seen_add(struct rseen *seen, enum protocol proto, const unsigned char *p, size_t have)
{
	uint64_t first, last;
	int k = proto == PROTO_AMQP ? amqp_down_kind(p, have, &first, &last) : 0;
	if (k == 1)
		seen->flows++;
	else if (k == 2)
		seen->acks += (uint32_t)(last - first + 1);
	else if (k == 0)
		seen->packets++;
}

/* Whether SEEN has all that WANT had; of flows, one is credit enough. */
static int seen_covers(const struct rseen *seen, const struct rseen *want)
{
	return seen->packets >= want->packets && seen->acks >= want->acks && (seen->flows > 0 || want->flows == 0);
}

/* ---------- recording ---------- */

static void rec_packet(void *arg, const unsigned char *p, size_t have, size_t len)
{
	struct replay_rec *r = arg;
	(void)len;
	seen_add(&r->seen, r->proto, p, have);
}

struct replay_rec *replay_rec_new(enum protocol p, uint32_t device, const unsigned char *secret, size_t secret_len)
{
	struct replay_rec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->proto = p;
	r->frame = framer_of(p);
	r->devlen = (size_t)snprintf(r->dev, sizeof(r->dev), "dev%u", device);
	r->secret = secret;
	r->secret_len = secret_len;
	if (p == PROTO_HTTP)
		ingest_token(secret, secret_len, device, r->token);
	return r;
}

void replay_rec_free(struct replay_rec *r)
{
	if (!r)
		return;
	free(r->up);
	free(r->ch);
	free(r->fr);
	free(r);
}

void replay_tap(void *arg, enum modem_tap_event ev, const unsigned char *p, size_t n)
{
	struct replay_rec *r = arg;
	switch (ev) {
	case MODEM_TAP_UP:
		/* after LIB_EOF too: what the library wrote before its close goes out after it */
		if (r->overflow || !n)
			return;
		if (r->up_len + n > REC_MAX) {
			r->overflow = 1;
			return;
		}
		if (r->up_len + n > r->up_cap) {
			size_t cap = r->up_cap ? r->up_cap : 4096;
			while (cap < r->up_len + n)
				cap *= 2;
			unsigned char *u = realloc(r->up, cap);
			if (!u) {
				r->overflow = 1;
				return;
			}
			r->up = u;
			r->up_cap = cap;
		}
		if (r->nch == r->ch_cap) {
			size_t cap = r->ch_cap ? 2 * r->ch_cap : 16;
			struct rchunk *c = realloc(r->ch, cap * sizeof(*c));
			if (!c) {
				r->overflow = 1;
				return;
			}
			r->ch = c;
			r->ch_cap = cap;
		}
		memcpy(r->up + r->up_len, p, n);
		r->up_len += n;
		r->ch[r->nch++] = (struct rchunk){ .end = (uint32_t)r->up_len, .after = r->seen };
		return;
	case MODEM_TAP_DOWN:
		if (r->frame)
			dsplit_feed(&r->ds, r->proto, r->frame, p, n, rec_packet, r);
		return;
	case MODEM_TAP_LIB_EOF:
		if (!r->lib_closed) {
			r->lib_closed = 1;
			r->close_after = r->seen;
		}
		return;
	}
}

static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* MQTT's remaining length at P (at most 4 bytes of AVAIL); returns the bytes it took, or 0. */
static size_t mqtt_varint(const unsigned char *p, size_t avail, uint32_t *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < 4 && i < avail; i++) {
		v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

struct rwake;
static int amqp_patch(struct rwake *a, const struct replay_rec *r, const unsigned char *p, size_t len, uint32_t *msg,
                      const unsigned char **payload_at);

/* What packet F of the up stream is, and where its payload starts. */
static int classify(struct replay_rec *r, struct rframe *f, uint32_t *msgs, char *why, size_t whylen)
{
	const unsigned char *p = r->up + f->off;
	f->kind = F_OTHER;
	if (r->proto == PROTO_MQTT) {
		uint32_t rem;
		size_t vl = mqtt_varint(p + 1, f->len - 1, &rem);
		if (!vl)
			goto bad;
		size_t h = 1 + vl;
		int type = p[0] >> 4;
		if (type == 1) {
			f->kind = F_CONNECT;
		} else if (type == 3) {
			f->qos = (p[0] >> 1) & 3;
			if (h + 2 > f->len)
				goto bad;
			size_t tl = be16(p + h);
			size_t head = h + 2 + tl + (f->qos ? 2 : 0);
			if (head > f->len)
				goto bad;
			if (f->qos)
				f->pid = be16(p + h + 2 + tl);
			f->head = (uint32_t)head;
			f->kind = F_PUBLISH;
			f->msg = (*msgs)++;
			if (f->len - head != r->payload) {
				snprintf(why, whylen, "the recorded PUBLISH carries %u bytes, the fleet's payload is %u",
				         (unsigned)(f->len - head), r->payload);
				return -1;
			}
		} else if (type == 8 || type == 10) {
			snprintf(why, whylen, "the recorded wake (un)subscribed: replay has no downlink");
			return -1;
		}
		return 0;
	}
	if (r->proto == PROTO_AMQP) {
		/* every frame is re-encoded (its strings may name the device); a transfer carries a message */
		const unsigned char *pay = NULL;
		uint32_t before = *msgs;
		f->kind = F_AMQP;
		if (amqp_patch(NULL, r, p, f->len, msgs, &pay) < 0)
			goto bad;
		if (*msgs - before > 1) {
			snprintf(why, whylen, "the recorded wake sent two messages in one frame");
			return -1;
		}
		if (*msgs == before)
			return 0;
		size_t doff = (size_t)p[4] * 4;
		const unsigned char *end = p + f->len;
		if (f->len < doff + 3 || p[5] != 0 || p[doff + 2] != 0x14) {
			snprintf(why, whylen, "a message outside a transfer frame");
			return -1;
		}
		const unsigned char *list = p + doff + 3, *id = amqp_field(list, end, 1), *st = amqp_field(list, end, 4);
		if (!id || amqp_uint_at(id, end, &f->delivery) != 1) {
			snprintf(why, whylen, "a transfer without a delivery id (a message over several frames)");
			return -1;
		}
		f->qos = !(st && (*st == 0x41 || (*st == 0x56 && st + 1 < end && st[1]))); /* settled: QoS 0 */
		f->kind = F_TRANSFER;
		f->msg = before;
		f->head = (uint32_t)(pay - p);
		return 0;
	}
	/* HTTP: a POST's head, then the payload */
	const unsigned char *eoh = memmem(p, f->len, "\r\n\r\n", 4);
	if (!eoh)
		goto bad;
	if (f->len < 5 || memcmp(p, "POST ", 5)) {
		snprintf(why, whylen, "the recorded wake sent a request other than POST: replay has no downlink");
		return -1;
	}
	f->head = (uint32_t)(eoh + 4 - p);
	f->kind = F_POST;
	f->msg = (*msgs)++;
	if (f->len - f->head != r->payload) {
		snprintf(why, whylen, "the recorded POST carries %u bytes, the fleet's payload is %u",
		         (unsigned)(f->len - f->head), r->payload);
		return -1;
	}
	return 0;
bad:
	snprintf(why, whylen, "packet %zu of the recording does not parse", (size_t)(f - r->fr));
	return -1;
}

int replay_rec_finish(struct replay_rec *r, uint32_t nmsg, uint32_t payload, char *why, size_t whylen)
{
	r->nmsg = nmsg;
	r->payload = payload;
	if (r->overflow) {
		snprintf(why, whylen, "the recorded wake wrote over %u MiB (or memory ran out)", REC_MAX >> 20);
		return -1;
	}
	if (!r->lib_closed || !r->nch || r->ds.bad) {
		snprintf(why, whylen, "%s", r->ds.bad ? "the server's bytes did not parse"
		                            : !r->nch ? "the library wrote nothing" : "the library never closed");
		return -1;
	}
	size_t cap = 16;
	r->fr = malloc(cap * sizeof(*r->fr));
	uint32_t msgs = 0;
	for (size_t off = 0; r->fr && off < r->up_len;) {
		size_t avail = r->up_len - off, len = 0;
		enum phase ph;
		uint32_t st = 0;
		int rc = r->frame(0, r->up + off, avail < MODEM_FRAME_MAX ? avail : MODEM_FRAME_MAX, &len, &ph, &st);
		if (rc <= 0 || len == 0 || len > avail) {
			snprintf(why, whylen, "the library's bytes at offset %zu do not split into %s packets", off,
			         protocol_name(r->proto));
			return -1;
		}
		if (r->nfr == cap) {
			struct rframe *g = realloc(r->fr, 2 * cap * sizeof(*g));
			if (!g)
				break;
			r->fr = g;
			cap *= 2;
		}
		struct rframe *f = &r->fr[r->nfr++];
		*f = (struct rframe){ .off = (uint32_t)off, .len = (uint32_t)len };
		if (classify(r, f, &msgs, why, whylen) < 0)
			return -1;
		off += len;
	}
	if (!r->fr || (r->nfr && r->fr[r->nfr - 1].off + r->fr[r->nfr - 1].len != r->up_len)) {
		snprintf(why, whylen, "out of memory for the template");
		return -1;
	}
	if (msgs != nmsg) {
		snprintf(why, whylen, "the recorded wake sent %u messages, the fleet's wakes send %u", msgs, nmsg);
		return -1;
	}
	/* Each chunk's end, as a place in a packet that patching does not move:
	 * the end of a packet, or within the payload, whose length is the fleet's. */
	size_t f = 0;
	for (size_t i = 0; i < r->nch; i++) {
		struct rchunk *c = &r->ch[i];
		while (r->fr[f].off + r->fr[f].len < c->end)
			f++;
		const struct rframe *fr = &r->fr[f];
		c->frame = (uint32_t)f;
		c->back = fr->off + fr->len - c->end;
		uint32_t fixed = fr->kind == F_OTHER ? fr->len
		                 : fr->kind == F_CONNECT || fr->kind == F_AMQP ? 0 : fr->len - fr->head;
		if (c->back && c->back >= fixed) {
			snprintf(why, whylen, "the library wrote packet %zu in pieces split inside a field replay patches", f);
			return -1;
		}
	}
	return 0;
}

void replay_rec_size(const struct replay_rec *r, uint32_t *chunks, uint32_t *packets_up, uint32_t *packets_down)
{
	*chunks = (uint32_t)r->nch;
	*packets_up = (uint32_t)r->nfr;
	*packets_down = r->close_after.packets + r->close_after.flows + r->close_after.acks;
}

/* ---------- replaying ---------- */

struct rwake {
	struct wake *w;
	struct replay_rec *r;
	unsigned char *out;    /* the wake's up stream, patched as far as it was needed */
	size_t out_len, out_cap;
	uint32_t *fend;        /* each patched packet's end in OUT */
	size_t nfr_done;       /* packets patched */
	size_t next_chunk;
	size_t written;        /* bytes of OUT handed to the modem */
	size_t msg_frames_done; /* packets whose message was marked sent */
	char dev[16];
	size_t devlen;
	char token[INGEST_TOKEN_LEN + 1];
	struct dsplit ds;
	struct rseen seen;     /* what the server has sent so far */
	uint32_t responses;    /* HTTP responses read */
	int closed, failed;
	int partial;           /* the modem took only part of the current chunk */
	int gone;              /* the modem connection ended (aborted, reset): nothing more is written */
	unsigned char *acked;  /* per message: acknowledged already (a repeated PUBACK counts once) */
};

static void rw_acked(struct rwake *a, uint32_t k)
{
	if (k >= a->r->nmsg || a->acked[k])
		return;
	a->acked[k] = 1;
	wake_message_acked(a->w, k);
}

static int out_room(struct rwake *a, size_t n)
{
	if (a->out_len + n <= a->out_cap)
		return 0;
	size_t cap = a->out_cap ? a->out_cap : 1024;
	while (cap < a->out_len + n)
		cap *= 2;
	unsigned char *o = realloc(a->out, cap);
	if (!o)
		return -1;
	a->out = o;
	a->out_cap = cap;
	return 0;
}

static void out_put(struct rwake *a, const void *p, size_t n)
{
	memcpy(a->out + a->out_len, p, n);
	a->out_len += n;
}

/* Appends SRC with the recorded device's "dev<N>" (not followed by a digit)
 * and token replaced by this wake's; returns the bytes appended. */
static size_t put_subst(struct rwake *a, const unsigned char *src, size_t n)
{
	const struct replay_rec *r = a->r;
	size_t o0 = a->out_len;
	for (size_t i = 0; i < n;) {
		if (n - i >= r->devlen && !memcmp(src + i, r->dev, r->devlen) &&
		    (i + r->devlen == n || src[i + r->devlen] < '0' || src[i + r->devlen] > '9')) {
			out_put(a, a->dev, a->devlen);
			i += r->devlen;
		} else if (r->token[0] && n - i >= INGEST_TOKEN_LEN && !memcmp(src + i, r->token, INGEST_TOKEN_LEN)) {
			out_put(a, a->token, INGEST_TOKEN_LEN);
			i += INGEST_TOKEN_LEN;
		} else {
			out_put(a, src + i, 1);
			i++;
		}
	}
	return a->out_len - o0;
}

/* Appends a length-prefixed MQTT string (2-byte length) patched; returns -1 if it grew past 65535. */
static int put_mqtt_string(struct rwake *a, const unsigned char *s, size_t n)
{
	size_t at = a->out_len;
	out_put(a, "\0\0", 2);
	size_t m = put_subst(a, s, n);
	if (m > 65535)
		return -1;
	a->out[at] = (unsigned char)(m >> 8);
	a->out[at + 1] = (unsigned char)m;
	return 0;
}

/* AMQP 1.0: a value re-encoded with the same constructors, strings and
 * symbols patched and their sizes, and those of the lists and maps around
 * them, recomputed; the data section's binary is message MSG's payload.
 * Without a wake (A NULL) it only walks, to find the payload. */
struct aenc {
	struct rwake *a;
	const struct replay_rec *r;
	int in_data;                  /* the value is a data section's */
	uint32_t msg;                 /* the next message's index */
	const unsigned char *payload_at; /* the last payload's contents, in the input */
	int depth;
};

static const unsigned char *aenc_value1(struct aenc *e, const unsigned char *p, const unsigned char *end);

static void aput(struct aenc *e, const void *p, size_t n)
{
	if (e->a)
		out_put(e->a, p, n);
}

/* The length field of width W (1 or 4) at AT in OUT set to N; -1 if it does not fit. */
static int aset_len(struct aenc *e, size_t at, int w, size_t n)
{
	if (!e->a)
		return 0;
	if (w == 1) {
		if (n > 255)
			return -1;
		e->a->out[at] = (unsigned char)n;
		return 0;
	}
	for (int i = 0; i < 4; i++)
		e->a->out[at + (size_t)i] = (unsigned char)(n >> (24 - 8 * i));
	return 0;
}

#define AENC_DEPTH 32 /* nested values: AMQP's performatives and sections need a handful */

static const unsigned char *aenc_value(struct aenc *e, const unsigned char *p, const unsigned char *end)
{
	if (p >= end || e->depth >= AENC_DEPTH)
		return NULL;
	e->depth++;
	const unsigned char *q = aenc_value1(e, p, end);
	e->depth--;
	return q;
}

static const unsigned char *aenc_value1(struct aenc *e, const unsigned char *p, const unsigned char *end)
{
	unsigned char c = *p;
	if (c == 0x00) { /* described: descriptor, then the value */
		aput(e, p, 1);
		/* a data section, or an amqp-value (proton's for a binary body, not inferred) */
		int data = end - p >= 3 && p[1] == 0x53 && (p[2] == 0x75 || p[2] == 0x77);
		const unsigned char *q = aenc_value(e, p + 1, end);
		if (!q)
			return NULL;
		int save = e->in_data;
		e->in_data = data;
		q = aenc_value(e, q, end);
		e->in_data = save;
		return q;
	}
	static const unsigned char fixed[16] = { [4] = 1, [5] = 2, [6] = 3, [7] = 5, [8] = 9, [9] = 17 };
	int hi = c >> 4;
	if (fixed[hi]) {
		if ((size_t)(end - p) < fixed[hi])
			return NULL;
		aput(e, p, fixed[hi]);
		return p + fixed[hi];
	}
	int w = hi == 0xa || hi == 0xc || hi == 0xe ? 1 : 4;
	if (hi < 0xa || (size_t)(end - p) < 1 + (size_t)w)
		return NULL;
	size_t len = w == 1 ? p[1] : amqp_be32(p + 1);
	const unsigned char *body = p + 1 + w;
	if ((size_t)(end - body) < len)
		return NULL;
	if (hi == 0xa || hi == 0xb) {
		if (e->in_data && (c == 0xa0 || c == 0xb0)) { /* the message's payload */
			if (len != e->r->payload)
				return NULL;
			e->payload_at = body;
			aput(e, p, 1 + (size_t)w);
			if (e->a) {
				wake_message(e->a->w, e->msg, e->a->out + e->a->out_len, (uint32_t)len);
				e->a->out_len += len;
			}
			e->msg++;
			return body + len;
		}
		if (c == 0xa1 || c == 0xb1 || c == 0xa3 || c == 0xb3) {
			aput(e, p, 1);
			size_t at = e->a ? e->a->out_len : 0;
			aput(e, p + 1, (size_t)w);
			size_t m = e->a ? put_subst(e->a, body, len) : len;
			return aset_len(e, at, w, m) < 0 ? NULL : body + len;
		}
		aput(e, p, 1 + (size_t)w + len);
		return body + len;
	}
	if (hi == 0xc || hi == 0xd) { /* list or map: size, count, the elements */
		if (len < (size_t)w)
			return NULL;
		size_t count = w == 1 ? body[0] : amqp_be32(body);
		const unsigned char *q = body + w, *lend = body + len;
		aput(e, p, 1 + 2 * (size_t)w);
		size_t at = e->a ? e->a->out_len - 2 * (size_t)w : 0, start = e->a ? e->a->out_len : 0;
		for (size_t i = 0; i < count; i++)
			if (!(q = aenc_value(e, q, lend)))
				return NULL;
		if (q != lend)
			return NULL;
		return aset_len(e, at, w, (e->a ? e->a->out_len - start : 0) + (size_t)w) < 0 ? NULL : lend;
	}
	/* arrays: copied as they are (nothing of a device's is in one) */
	aput(e, p, 1 + (size_t)w + len);
	return body + len;
}

/* One AMQP frame (or protocol header) of LEN bytes at P, patched into A's
 * OUT (A NULL: walked only); *MSG counts the messages it carries. */
static int amqp_patch(struct rwake *a, const struct replay_rec *r, const unsigned char *p, size_t len, uint32_t *msg,
                      const unsigned char **payload_at)
{
	if (len == 8 && !memcmp(p, "AMQP", 4)) {
		if (a)
			out_put(a, p, len);
		return 0;
	}
	if (len < 8 || (size_t)p[4] * 4 < 8 || (size_t)p[4] * 4 > len)
		return -1;
	size_t doff = (size_t)p[4] * 4, start = a ? a->out_len : 0;
	struct aenc e = { .a = a, .r = r, .msg = *msg };
	aput(&e, p, doff);
	const unsigned char *q = p + doff, *end = p + len;
	while (q && q < end)
		q = aenc_value(&e, q, end);
	if (!q)
		return -1;
	if (a && aset_len(&e, start, 4, a->out_len - start) < 0)
		return -1;
	*msg = e.msg;
	*payload_at = e.payload_at;
	return 0;
}

/* Packet K of the template, patched for this wake, appended to OUT. */
static int patch_frame(struct rwake *a, size_t k)
{
	const struct replay_rec *r = a->r;
	const struct rframe *f = &r->fr[k];
	const unsigned char *p = r->up + f->off;
	/* at most: the packet, each device name in it up to 10 bytes longer ("dev0" to
	 * "dev4294967295"), a longer length field */
	if (out_room(a, (size_t)f->len + 64 + ((size_t)f->len / r->devlen + 1) * 10) < 0)
		return -1;
	if (f->kind == F_OTHER) {
		out_put(a, p, f->len);
		return 0;
	}
	if (f->kind == F_AMQP || f->kind == F_TRANSFER) {
		uint32_t msg = f->msg;
		const unsigned char *pay;
		return amqp_patch(a, r, p, f->len, &msg, &pay);
	}
	if (f->kind == F_POST) {
		put_subst(a, p, f->head);
		wake_message(a->w, f->msg, a->out + a->out_len, r->payload);
		a->out_len += r->payload;
		return 0;
	}
	/* MQTT: the body is built after a gap for its fixed header, then moved into place */
	uint32_t rem;
	size_t h = 1 + mqtt_varint(p + 1, f->len - 1, &rem);
	size_t start = a->out_len;
	a->out_len += 5; /* room for the fixed header */
	size_t body = a->out_len;
	if (f->kind == F_CONNECT) {
		/* variable header: protocol name (a string), level, flags, keep-alive; then length-prefixed fields */
		size_t i = h;
		if (i + 2 > f->len || i + 2 + be16(p + i) + 4 > f->len)
			return -1;
		size_t vh = 2 + be16(p + i) + 4;
		out_put(a, p + i, vh);
		i += vh;
		while (i < f->len) {
			if (i + 2 > f->len || i + 2 + be16(p + i) > f->len)
				return -1;
			size_t n = be16(p + i);
			if (put_mqtt_string(a, p + i + 2, n) < 0)
				return -1;
			i += 2 + n;
		}
	} else {
		size_t tl = be16(p + h);
		if (put_mqtt_string(a, p + h + 2, tl) < 0)
			return -1;
		if (f->qos)
			out_put(a, p + h + 2 + tl, 2);
		wake_message(a->w, f->msg, a->out + a->out_len, r->payload);
		a->out_len += r->payload;
	}
	size_t blen = a->out_len - body;
	unsigned char fh[5];
	size_t fl = 0;
	fh[fl++] = p[0];
	uint32_t v = (uint32_t)blen;
	do {
		unsigned char b = v & 0x7f;
		v >>= 7;
		fh[fl++] = (unsigned char)(b | (v ? 0x80 : 0));
	} while (v && fl < 5);
	if (v)
		return -1;
	memmove(a->out + start + fl, a->out + body, blen);
	memcpy(a->out + start, fh, fl);
	a->out_len = start + fl + blen;
	return 0;
}

static void rw_fail(struct rwake *a, enum dormant_err err, const char *detail)
{
	if (a->failed || a->closed)
		return;
	a->failed = 1;
	a->closed = 1;
	modem_lib_close(a->w->mc);
	wake_adapter_done(a->w, err, detail);
}

/* Messages whose packets are all with the modem now: sent (QoS 0: and acknowledged, as written). */
static void mark_sent(struct rwake *a)
{
	const struct replay_rec *r = a->r;
	while (a->msg_frames_done < a->nfr_done && a->fend[a->msg_frames_done] <= a->written) {
		const struct rframe *f = &r->fr[a->msg_frames_done++];
		if (f->kind != F_PUBLISH && f->kind != F_POST && f->kind != F_TRANSFER)
			continue;
		wake_message_sent(a->w, f->msg);
		if ((f->kind == F_PUBLISH || f->kind == F_TRANSFER) && !f->qos)
			rw_acked(a, f->msg);
	}
}

/* Writes every chunk the server's packets so far allow, then closes where the library closed. */
static void pump(struct rwake *a)
{
	const struct replay_rec *r = a->r;
	struct modem_conn *mc = a->w->mc;
	while (!a->closed && !a->gone && a->next_chunk < r->nch && seen_covers(&a->seen, &r->ch[a->next_chunk].after)) {
		const struct rchunk *c = &r->ch[a->next_chunk];
		while (a->nfr_done <= c->frame) {
			if (patch_frame(a, a->nfr_done) < 0) {
				rw_fail(a, ERR_INTERNAL, "replay: a patched packet outgrew its length field (or memory ran out)");
				return;
			}
			a->fend[a->nfr_done++] = (uint32_t)a->out_len;
		}
		size_t end = a->fend[c->frame] - c->back;
		if (!a->partial)
			modem_lib_apart(mc); /* a piece of its own, as the library wrote it */
		size_t n = end - a->written;
		size_t took = modem_lib_write(mc, a->out + a->written, n);
		a->written += took;
		mark_sent(a);
		a->partial = took < n;
		if (a->partial)
			return; /* the modem is full: it calls deliver() again with room */
		a->next_chunk++;
	}
	/* Not waiting for the server's end even when the recorded library saw it
	 * first: that order is timing (nginx keeps the connection, curl closes
	 * it; under load the recording may see mosquitto's close first). */
	if (!a->closed && !a->gone && a->next_chunk == r->nch && seen_covers(&a->seen, &r->close_after)) {
		a->closed = 1;
		modem_lib_close(mc);
		wake_adapter_done(a->w, ERR_OK, NULL);
	}
}

/* A server packet: what the device must know of it. */
static void on_packet(void *arg, const unsigned char *p, size_t have, size_t len)
{
	struct rwake *a = arg;
	const struct replay_rec *r = a->r;
	char why[96];
	seen_add(&a->seen, r->proto, p, have);
	if (r->proto == PROTO_MQTT) {
		int type = p[0] >> 4;
		if (type == 2 && have >= 4 && p[3] != 0) {
			snprintf(why, sizeof(why), "CONNACK return code %d", p[3]);
			rw_fail(a, ERR_PROTOCOL, why);
		} else if (type == 4 && have >= 4) {
			uint16_t pid = be16(p + 2);
			for (size_t i = 0; i < r->nfr; i++)
				if (r->fr[i].kind == F_PUBLISH && r->fr[i].qos && r->fr[i].pid == pid) {
					rw_acked(a, r->fr[i].msg);
					break;
				}
		}
		return;
	}
	if (r->proto == PROTO_AMQP) {
		if (have < 8 || !memcmp(p, "AMQP", 4))
			return;
		size_t doff = (size_t)p[4] * 4;
		if (have < doff + 3 || p[doff] != 0x00 || p[doff + 1] != 0x53)
			return;
		const unsigned char *list = p + doff + 3, *end = p + have;
		unsigned code = p[doff + 2];
		if (p[5] == 1) { /* SASL: an outcome other than ok */
			const unsigned char *c = code == 0x44 ? amqp_field(list, end, 0) : NULL;
			uint64_t v;
			if (c && amqp_uint_at(c, end, &v) == 1 && v != 0) {
				snprintf(why, sizeof(why), "SASL outcome %u", (unsigned)v);
				rw_fail(a, ERR_PROTOCOL, why);
			}
			return;
		}
		if (code == 0x15) { /* disposition from the broker, the receiver: accepted settles our transfers */
			const unsigned char *role = amqp_field(list, end, 0), *fst = amqp_field(list, end, 1);
			const unsigned char *lst = amqp_field(list, end, 2), *st = amqp_field(list, end, 4);
			uint64_t first, last;
			if (!role || !(*role == 0x41 || (*role == 0x56 && role + 1 < end && role[1])) || !fst ||
			    amqp_uint_at(fst, end, &first) != 1)
				return;
			if (!lst || amqp_uint_at(lst, end, &last) != 1)
				last = first;
			int accepted = st && end - st >= 3 && st[0] == 0x00 && st[1] == 0x53 && st[2] == 0x24;
			for (size_t i = 0; i < r->nfr; i++) {
				const struct rframe *f = &r->fr[i];
				if (f->kind != F_TRANSFER || !f->qos || f->delivery < first || f->delivery > last)
					continue;
				if (!accepted) {
					snprintf(why, sizeof(why), "the broker did not accept delivery %llu",
					         (unsigned long long)f->delivery);
					rw_fail(a, ERR_PROTOCOL, why);
					return;
				}
				rw_acked(a, f->msg);
			}
			return;
		}
		if (code == 0x16 || code == 0x18) { /* detach or close with an error */
			const unsigned char *err = amqp_field(list, end, code == 0x16 ? 2 : 0);
			if (err && *err != 0x40) {
				snprintf(why, sizeof(why), "the broker's %s carried an error", code == 0x16 ? "detach" : "close");
				rw_fail(a, ERR_PROTOCOL, why);
			}
		}
		return;
	}
	/* HTTP/1.1 NNN: the k-th response answers the k-th POST */
	int status = have >= 12 && !memcmp(p, "HTTP/1.", 7) ? atoi((const char *)p + 9) : 0;
	uint32_t k = a->responses++;
	if (status >= 100 && status < 200) {
		a->responses--;
		return;
	}
	if (status < 200 || status >= 300) {
		snprintf(why, sizeof(why), "POST answered HTTP %d", status);
		rw_fail(a, ERR_PROTOCOL, why);
		return;
	}
	rw_acked(a, k);
	(void)len;
}

static size_t rw_deliver(void *arg, const unsigned char *p, size_t n)
{
	struct wake *w = arg;
	struct rwake *a = w->adapter;
	if (!a)
		return n; /* start() failed: the connection is being aborted */
	uint64_t cpu0 = clock_thread_cpu_ns();
	if (n && !a->closed) {
		dsplit_feed(&a->ds, a->r->proto, a->r->frame, p, n, on_packet, a);
		if (a->ds.bad)
			rw_fail(a, ERR_PROTOCOL, "replay: the server's bytes do not parse");
	}
	pump(a);
	w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	return n;
}

static void rw_closed(void *arg)
{
	struct wake *w = arg;
	struct rwake *a = w->adapter;
	if (!a)
		return;
	/* the connection itself has ended (aborted at the deadline, reset): what
	 * pump would write now goes nowhere and must not count as sent */
	if (modem_conn_counts(w->mc)->closed_ns)
		a->gone = 1;
	pump(a);
	if (!a->closed)
		rw_fail(a, ERR_CLOSED, a->next_chunk < a->r->nch ? "the server closed before the replay's last packet"
		                                                   : "the server closed before the library's answer came");
}

const struct modem_lib replay_lib = { .deliver = rw_deliver, .closed = rw_closed };

static enum dormant_err rw_start(struct wake *w)
{
	struct rwake *a = calloc(1, sizeof(*a));
	struct replay_rec *r = w->replay;
	if (!a || !r || !(a->fend = malloc((r->nfr ? r->nfr : 1) * sizeof(*a->fend))) ||
	    !(a->acked = calloc(r->nmsg ? r->nmsg : 1, 1))) {
		if (a)
			free(a->fend);
		free(a);
		snprintf(w->detail, sizeof(w->detail), "replay: %s", r ? "out of memory" : "no recording");
		return r ? ERR_NOMEM : ERR_INTERNAL;
	}
	a->w = w;
	a->r = r;
	a->devlen = (size_t)snprintf(a->dev, sizeof(a->dev), "dev%u", w->device);
	if (r->token[0])
		ingest_token(r->secret, r->secret_len, w->device, a->token);
	w->adapter = a;
	/* The library's first pieces (CONNECT, the first request) wait in the modem for the connection. */
	pump(a);
	return ERR_OK;
}

static void rw_abort(struct wake *w)
{
	struct rwake *a = w->adapter;
	if (a && !a->closed) {
		a->closed = 1;
		wake_adapter_done(w, ERR_TIMEOUT, "replay: the wake's deadline passed");
	}
}

static void rw_reap(struct wake *w)
{
	struct rwake *a = w->adapter;
	if (!a)
		return;
	free(a->out);
	free(a->fend);
	free(a->acked);
	free(a);
	w->adapter = NULL;
}

static enum dormant_err rw_init(const struct adapter_env *env, char *err, size_t errlen)
{
	(void)env;
	(void)err;
	(void)errlen;
	return ERR_OK;
}

static void rw_fini(void) {}

static void rw_version(char *buf, size_t len)
{
	snprintf(buf, len, "dormant replay");
}

const struct adapter_ops replay_adapter = {
	.name = "replay",
	.protocol = PROTO_COUNT,
	.init = rw_init,
	.fini = rw_fini,
	.start = rw_start,
	.direct = &replay_lib,
	.abort = rw_abort,
	.reap = rw_reap,
	.version = rw_version,
};
