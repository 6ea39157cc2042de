/* trace.c: packets.csv's columns, rows formatted and parsed (see trace.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

const char *const trace_col_names[TRACE_COLS] = {
	[TRACE_VARIANT] = "variant",     [TRACE_DEVICE] = "device", [TRACE_SEQ] = "seq",
	[TRACE_OFFSET_US] = "offset_us", [TRACE_AIR_US] = "air_us", [TRACE_DIR] = "dir",
	[TRACE_IP_BYTES] = "ip_bytes",   [TRACE_LOST] = "lost",     [TRACE_FLAGS] = "flags",
	[TRACE_DATA] = "data",           [TRACE_DELAY_US] = "delay_us", [TRACE_SETTLE_US] = "settle_us",
};

/* The flag letters, by bit (FIN is bit 0), and the order they are written in. */
static const char flag_letter[8] = { 'F', 'S', 'R', 'P', 'A', 'U', 'E', 'C' };
static const int flag_order[8] = { 1, 0, 2, 3, 4, 5, 6, 7 }; /* S F R P A U E C */

static void flags_text(unsigned f, char out[9])
{
	int n = 0;
	for (int i = 0; i < 8; i++)
		if (f >> flag_order[i] & 1)
			out[n++] = flag_letter[flag_order[i]];
	out[n] = 0;
}

static int flags_parse(const char *s, unsigned *f)
{
	*f = 0;
	for (; *s; s++) {
		const char *c = memchr(flag_letter, *s, sizeof(flag_letter));
		if (!c)
			return -1;
		*f |= 1u << (c - flag_letter);
	}
	return 0;
}

int trace_format_header(struct column_buf *b)
{
	b->len = 0;
	for (int i = 0; i < TRACE_COLS; i++)
		if ((i && column_buf_put(b, ",", 1) != 0) ||
		    column_buf_put(b, trace_col_names[i], strlen(trace_col_names[i])) != 0) {
			b->len = 0;
			return -1;
		}
	if (column_buf_put(b, "\n", 1) != 0) {
		b->len = 0;
		return -1;
	}
	return 0;
}

int trace_format_rows(const struct trace_wake *w, const struct trace_packet *p, size_t n, struct column_buf *b)
{
	b->len = 0;
	for (size_t i = 0; i < n; i++) {
		char num[200], fl[9];
		if (column_buf_put_text(b, w->variant) != 0)
			goto oom;
		flags_text(p[i].tcp_flags, fl);
		int len = snprintf(num, sizeof(num), ",%lld,%lld,%lld,%lld,%s,%lld,%d,%s,%d,%lld,%lld\n",
		                   (long long)w->device, (long long)w->seq, (long long)p[i].offset_us,
		                   (long long)p[i].air_us, p[i].up ? "up" : "down", (long long)p[i].bytes,
		                   p[i].lost ? 1 : 0, fl, p[i].data ? 1 : 0, (long long)w->delay_us,
		                   (long long)w->settle_us);
		if (column_buf_put(b, num, (size_t)len) != 0)
			goto oom;
	}
	return 0;
oom:
	b->len = 0;
	return -1;
}

int trace_map_header(char *const *fields, int nf, int *map, const char **missing)
{
	int seen[TRACE_COLS] = { 0 };
	for (int i = 0; i < nf; i++) {
		map[i] = -1;
		for (int c = 0; c < TRACE_COLS; c++)
			if (!strcmp(fields[i], trace_col_names[c])) {
				map[i] = c;
				seen[c] = 1;
			}
	}
	for (int c = 0; c < TRACE_COLS; c++)
		if (!seen[c]) {
			*missing = trace_col_names[c];
			return -1;
		}
	return 0;
}

static int int_field(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

int trace_parse_row(char *const *fields, int nf, const int *map, struct trace_wake *w, struct trace_packet *p)
{
	int got = 0;
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < nf; i++) {
		const char *s = fields[i];
		int64_t v = 0;
		switch (map[i]) {
		case TRACE_VARIANT:
			snprintf(w->variant, sizeof(w->variant), "%s", s);
			break;
		case TRACE_DIR:
			if (strcmp(s, "up") && strcmp(s, "down"))
				return -1;
			p->up = !strcmp(s, "up");
			break;
		case TRACE_FLAGS:
			if (flags_parse(s, &p->tcp_flags) != 0)
				return -1;
			break;
		case TRACE_DEVICE: case TRACE_SEQ: case TRACE_OFFSET_US: case TRACE_AIR_US: case TRACE_IP_BYTES:
		case TRACE_LOST: case TRACE_DATA: case TRACE_DELAY_US: case TRACE_SETTLE_US:
			if (int_field(s, &v) != 0)
				return -1;
			switch (map[i]) {
			case TRACE_DEVICE: w->device = v; break;
			case TRACE_SEQ: w->seq = v; break;
			case TRACE_OFFSET_US: p->offset_us = v; break;
			case TRACE_AIR_US: if (v < 0) return -1; p->air_us = v; break;
			case TRACE_IP_BYTES: if (v < 0) return -1; p->bytes = v; break;
			case TRACE_LOST: if (v != 0 && v != 1) return -1; p->lost = (int)v; break;
			case TRACE_DATA: if (v != 0 && v != 1) return -1; p->data = (int)v; break;
			case TRACE_DELAY_US: if (v < 0) return -1; w->delay_us = v; break;
			default: if (v < 0) return -1; w->settle_us = v; break;
			}
			break;
		default:
			continue; /* a column this dormant does not know */
		}
		got++;
	}
	return got == TRACE_COLS ? 0 : -1;
}
