/* columns.c: the wakes.csv column table, and formatting and parsing rows through it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"

#define T(name, unit, doc) { #name, unit, COLUMN_TEXT, offsetof(struct wake_row, name), \
	                     sizeof(((struct wake_row *)0)->name), doc }
#define I(name, unit, doc) { #name, unit, COLUMN_INT, offsetof(struct wake_row, name), 0, doc }
#define R(name, unit, doc) { #name, unit, COLUMN_REAL1, offsetof(struct wake_row, name), 0, doc }
/* <counter>_<phase>: the eight per-phase counters of phase P (index K in ph[]) */
#define PH1(ctr, p, k, unit) { #ctr "_" p, unit, COLUMN_INT, offsetof(struct wake_row, ph[k].ctr), 0, \
	                       #ctr " in the " p " phase" }
#define PH(p, k) PH1(plain_up, p, k, "B"), PH1(plain_down, p, k, "B"), PH1(stream_up, p, k, "B"), \
	PH1(stream_down, p, k, "B"), PH1(ip_up, p, k, "B"), PH1(ip_down, p, k, "B"),                 \
	PH1(segs_up, p, k, "segments"), PH1(segs_down, p, k, "segments")

const char *const columns_phase_names[WAKE_ROW_PHASES] = { "tcp", "tls", "setup", "data", "downlink", "teardown" };

/* In file order: a new column goes where its neighbours make sense, and
 * tests and readers find it by name. */
const struct column columns_table[] = {
	T(variant, "", "the variant's name"),
	T(protocol, "", "mqtt, amqp or http"),
	T(broker, "", "the server kind"),
	T(tls, "", "TLS mode"),
	T(resume, "", "resumption asked for"),
	I(qos, "", "QoS of the variant (0 or 1)"),
	T(fleet, "", "the device's fleet"),
	I(device, "", "device number in the run"),
	I(seq, "", "the device's wake number in the variant"),
	I(due_us, "us", "scheduled start, from the window's start"),
	I(start_unix_us, "us", "wall-clock start: a label only"),
	I(sched_lag_us, "us", "start minus due: the device or the concurrency limit was busy"),
	T(local_addr, "", "the device's source address"),
	I(local_port, "", "the device's source port"),
	I(server_port, "", "the server's port: with the two above, the capture's 4-tuple"),
	T(outcome, "", "ok or failed"),
	T(error_kind, "", "what failed (error.h's names); empty when ok"),
	T(error_detail, "", "the failure site's detail; empty when ok"),
	I(messages, "", "messages the wake sent"),
	I(acked, "", "messages acknowledged (QoS 0: written)"),
	I(t_wake_us, "us", "adapter start to connection closed and accounted (persistent: to the last acknowledgement)"),
	I(t_acked_us, "us", "adapter start to the last acknowledgement"),
	I(t_tcp_us, "us", "the TCP handshake's wire time"),
	I(t_setup_us, "us", "protocol set-up's wire time"),
	I(t_data_us, "us", "the messages' wire time"),
	I(t_teardown_us, "us", "the close's wire time"),
	I(t_wire_us, "us", "union of the phases' wire times"),
	I(t_client_us, "us", "t_wake_us - t_wire_us: library and dormant"),
	I(t_pre_us, "us", "start to the library's connect reaching the modem"),
	I(t_conn_idle_us, "us", "that connect to the first protocol byte"),
	I(t_post_us, "us", "the library's close to its last callback"),
	I(e2e_us, "us", "publish to the backend's receipt, slowest message; empty unless all arrived"),
	R(cpu_us, "us", "client library CPU; empty unless the wake ran alone"),
	I(commands, "", "commands the wake received"),
	R(cmd_delay_us, "us", "the longest a received command waited; empty without commands"),
	I(t_downlink_us, "us", "the command poll's wire time"),
	I(plain_up, "B", "plaintext the protocol stack wrote"),
	I(plain_down, "B", "plaintext it read"),
	I(stream_up, "B", "TCP payload sent"),
	I(stream_down, "B", "TCP payload received"),
	I(ip_up, "B", "IP bytes sent, headers included"),
	I(ip_down, "B", "IP bytes received, headers included"),
	I(segs_up, "segments", "segments sent"),
	I(segs_down, "segments", "segments received"),
	I(retrans, "segments", "tcpi_total_retrans"),
	I(dsack_in, "", "server ACKs reporting a segment of ours twice (12 B each in ip_down)"),
	I(fin_in, "", "1: the server sent FIN"),
	I(rst_in, "", "1: the connection was reset"),
	I(tcp_info_ok, "", "1: the final TCP_INFO was read in TCP_CLOSE"),
	I(ip_lower_bound, "", "1: ip_* may fall short of the wire (a duplicate the kernel does not count)"),
	I(ip_rst_unsure, "", "1: ip_down may be one bare RST off: 40 B and a segment short, or 12 B over"),
	T(tls_suite, "", "the pinned cipher suite; empty without TLS"),
	I(resume_offered, "", "1: a stored session was offered"),
	I(resumed, "", "1: resumption proven on the wire"),
	I(resume_refused, "", "1: offered, but the server did a full handshake"),
	I(sid_echo, "", "1: the server echoed the offered session id"),
	I(cert_msgs, "", "Certificate messages from the server"),
	I(tickets, "", "NewSessionTicket messages from the server"),
	T(tls_hs_server, "", "the server's handshake message types in order"),
	I(t_tls_us, "us", "the TLS handshake's wire time"),
	R(tls_hs_cpu_us, "us", "CPU in the handshake"),
	R(tls_cpu_us, "us", "CPU in all TLS calls of the wake"),
	I(tls_heap_peak, "B", "the TLS context's heap high-water; empty when unknown"),
	I(tls_session_bytes, "B", "the stored session's size; empty when none"),
	T(resumed_by, "", "ticket or session-id when resumed"),
	T(link, "", "the emulated link's profile; empty on loopback (then every column to energy_mj is)"),
	I(ti_ip_up, "B", "TCP_INFO's IP bytes sent by the loopback formula: a cross-check of ip_up, the link's count"),
	I(ti_ip_down, "B", "likewise of ip_down"),
	I(ti_segs_up, "segments", "TCP_INFO's segments sent: a cross-check of segs_up"),
	I(ti_segs_down, "segments", "likewise of segs_down"),
	I(link_lost_up, "packets", "the device's packets the link dropped (loss, full queue, MTU); in ip_up: they were sent"),
	I(link_lost_down, "packets", "the server's packets the link dropped; not in ip_down: they never arrived"),
	I(link_overhead_up, "B", "the radio's own header bytes (the profile's link_overhead_bytes a packet), apart from ip_up"),
	I(link_overhead_down, "B", "likewise of ip_down"),
	I(radio_attaches, "", "attaches or PSM exits in the wake: 1, more when a gap outlasted the inactivity tail"),
	R(radio_on_ms, "ms", "radio out of sleep: attach, connected (TX, RX, idle) and the tail"),
	R(attach_ms, "ms", "attach or PSM exit"),
	R(tx_ms, "ms", "transmitting: the device's packets on the air"),
	R(rx_ms, "ms", "receiving: the server's packets on the air"),
	R(idle_ms, "ms", "connected, neither sending nor receiving, before the last packet"),
	R(tail_ms, "ms", "the inactivity tail after the last packet (0 with release assistance)"),
	R(energy_mj, "mJ", "the radio's energy in the wake: attach, TX, RX, idle and tail (sim/core/energy.h)"),
	T(connection, "", "per-wake or persistent (a device that stays connected through its sleeps)"),
	I(connected, "", "1 if this wake opened its connection (per-wake: always; persistent: its first, or after a loss), 0 if it reused the kept one"),
	I(reconnected, "", "persistent: 1 if it opened it because the kept one was lost (reconnect_why says how); per-wake: 0"),
	T(reconnect_why, "", "persistent: how the kept connection was lost (paho, the modem); empty otherwise"),
	I(sleep_us, "us", "persistent: the sleep before this wake, from the last wake's end (empty for the first)"),
	I(sleep_ip_up, "B", "persistent: IP bytes the device sent while asleep: keep-alives, trailing ACKs, retransmissions"),
	I(sleep_ip_down, "B", "likewise received"),
	I(sleep_pkts_up, "packets", "persistent: the segments (behind a link: packets) of sleep_ip_up"),
	I(sleep_pkts_down, "packets", "likewise of sleep_ip_down"),
	I(keepalives, "", "persistent: keep-alives the device sent while asleep (MQTT PINGREQs, AMQP empty frames, HTTP command polls)"),
	I(sleep_commands, "", "persistent with downlink: commands pushed to it while asleep (in commands too; their bytes in sleep_ip_*)"),
	R(sleep_radio_on_ms, "ms", "persistent, behind a link: radio out of sleep for the sleep's packets"),
	R(sleep_energy_mj, "mJ", "persistent, behind a link: the radio's energy for them (attach, TX, RX, tail)"),
	I(nat_drops, "packets", "behind a link: packets of the device's connections the NAT dropped (idle past nat_timeout_s)"),
	PH("tcp", 0), PH("tls", 1), PH("setup", 2), PH("data", 3), PH("downlink", 4), PH("teardown", 5),
};
const size_t columns_count = sizeof(columns_table) / sizeof(columns_table[0]);

#undef T
#undef I
#undef R
#undef PH
#undef PH1

static void *field(const struct wake_row *r, const struct column *c)
{
	return (char *)r + c->offset;
}

void wake_row_clear(struct wake_row *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < columns_count; i++) {
		const struct column *c = &columns_table[i];
		if (c->type == COLUMN_INT)
			*(int64_t *)field(r, c) = COLUMN_NONE;
		else if (c->type == COLUMN_REAL1)
			*(double *)field(r, c) = NAN;
	}
}

int columns_find(const char *name)
{
	for (size_t i = 0; i < columns_count; i++)
		if (!strcmp(columns_table[i].name, name))
			return (int)i;
	return -1;
}

void column_buf_free(struct column_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int reserve(struct column_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int put(struct column_buf *b, const char *s, size_t n)
{
	if (reserve(b, n) != 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* Quoted when it has a comma, quote or line break; line breaks become spaces. */
static int put_text(struct column_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\n\r"))
		return put(b, s, strlen(s));
	if (put(b, "\"", 1) != 0)
		return -1;
	for (; *s; s++) {
		char ch = *s == '\n' || *s == '\r' ? ' ' : *s;
		if ((*s == '"' && put(b, "\"", 1) != 0) || put(b, &ch, 1) != 0)
			return -1;
	}
	return put(b, "\"", 1);
}

int column_buf_put(struct column_buf *b, const char *s, size_t n)
{
	return put(b, s, n);
}

int column_buf_put_text(struct column_buf *b, const char *text)
{
	return put_text(b, text);
}

void columns_value(const struct wake_row *r, int col, char *buf, size_t len)
{
	const struct column *c = &columns_table[col];
	buf[0] = 0;
	switch (c->type) {
	case COLUMN_TEXT:
		snprintf(buf, len, "%s", (const char *)field(r, c));
		break;
	case COLUMN_INT: {
		int64_t v = *(const int64_t *)field(r, c);
		if (v != COLUMN_NONE)
			snprintf(buf, len, "%lld", (long long)v);
		break;
	}
	case COLUMN_REAL1: {
		double v = *(const double *)field(r, c);
		if (isfinite(v))
			snprintf(buf, len, "%.1f", v);
		break;
	}
	}
}

int columns_format_header(struct column_buf *b)
{
	b->len = 0;
	for (size_t i = 0; i < columns_count; i++)
		if ((i && put(b, ",", 1) != 0) || put(b, columns_table[i].name, strlen(columns_table[i].name)) != 0)
			goto oom;
	if (put(b, "\n", 1) != 0)
		goto oom;
	return 0;
oom:
	b->len = 0;
	return -1;
}

int columns_format_row(const struct wake_row *r, struct column_buf *b)
{
	b->len = 0;
	for (size_t i = 0; i < columns_count; i++) {
		const struct column *c = &columns_table[i];
		if (i && put(b, ",", 1) != 0)
			goto oom;
		if (c->type == COLUMN_TEXT) {
			if (put_text(b, (const char *)field(r, c)) != 0)
				goto oom;
			continue;
		}
		char num[32];
		columns_value(r, (int)i, num, sizeof(num));
		if (put(b, num, strlen(num)) != 0)
			goto oom;
	}
	if (put(b, "\n", 1) != 0)
		goto oom;
	return 0;
oom:
	b->len = 0;
	return -1;
}

int columns_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return n;
		if (*p == '"') {
			char *o = ++p;
			fields[n++] = o;
			while (*p) {
				if (*p == '"' && p[1] == '"') {
					*o++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*o++ = *p++;
				}
			}
			while (*p && *p != ',')
				p++;
			char end = *p;
			*o = 0;
			if (!end)
				return n;
			p++;
		} else {
			fields[n++] = p;
			p += strcspn(p, ",");
			if (!*p)
				return n;
			*p++ = 0;
		}
	}
}

int columns_parse(int col, const char *text, struct wake_row *r)
{
	if (col < 0 || (size_t)col >= columns_count)
		return -1;
	const struct column *c = &columns_table[col];
	if (c->type == COLUMN_TEXT) {
		snprintf((char *)field(r, c), c->size, "%s", text);
		return 0;
	}
	if (!text[0])
		return 0; /* absent: as cleared */
	char *end;
	errno = 0;
	if (c->type == COLUMN_INT) {
		long long v = strtoll(text, &end, 10);
		if (end != text && (*end == '.' || *end == 'e' || *end == 'E')) {
			/* a hand-made file may write 1000.0: take a whole number in range */
			double d = strtod(text, &end);
			if (*end || !(d > -9.2e18 && d < 9.2e18) || d != (double)(long long)d)
				return -1;
			v = (long long)d;
		}
		if (end == text || *end || errno || v == COLUMN_NONE)
			return -1;
		*(int64_t *)field(r, c) = v;
		return 0;
	}
	double v = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(v))
		return -1;
	*(double *)field(r, c) = v;
	return 0;
}
