/* columns.h: wakes.csv, described once.
 *
 * Every column of wakes.csv is one entry of columns_table: its name, its
 * unit, its type and where its value lives in a struct wake_row. The writer
 * (sim/results.c, the runtime) fills a wake_row and formats it through the
 * table; the reader (sim/report/rundata.c, the analysis) maps a header's
 * names onto the table and parses each field back into a wake_row. So the
 * two cannot disagree on a name, an order or a format, and a column is
 * added in one place.
 *
 * Absent figures (no end-to-end latency because a message was lost, no CPU
 * because the wake did not run alone, no TLS on a plaintext wake) are empty
 * fields. In a wake_row they are COLUMN_NONE for an integer column, NaN for
 * a real one and "" for text; wake_row_clear() makes every column absent,
 * which is also what a reader gets for a column its file does not have.
 *
 * Text is quoted as RFC 4180 says when it holds a comma or a quote; line
 * breaks become spaces (a row is one line). Reals are written with one
 * decimal (microseconds of CPU), integers in full.
 *
 * Pure: no I/O, no allocation except what the caller's buffer needs.
 */
#ifndef DORMANT_COLUMNS_H
#define DORMANT_COLUMNS_H

#include <stddef.h>
#include <stdint.h>

#define COLUMN_NONE INT64_MIN   /* an absent integer figure */
#define WAKE_ROW_PHASES 6       /* tcp tls setup data downlink teardown, as enum phase in sim/modem.h */
#define WAKE_ROW_COUNTERS 8     /* the fields of struct wake_row_phase */

enum column_type {
	COLUMN_TEXT,  /* char array in the row */
	COLUMN_INT,   /* int64_t */
	COLUMN_REAL1, /* double, written with one decimal */
};

/* The per-phase counters: wakes.csv has <counter>_<phase> for each. */
struct wake_row_phase {
	int64_t plain_up, plain_down, stream_up, stream_down, ip_up, ip_down, segs_up, segs_down;
};

/* One wake, every column a typed field, in column order. */
struct wake_row {
	char variant[128], protocol[16], broker[24], tls[16], resume[16];
	int64_t qos;
	char fleet[64];
	int64_t device, seq, due_us, start_unix_us, sched_lag_us;
	char local_addr[16];
	int64_t local_port, server_port;
	char outcome[8], error_kind[32], error_detail[160];
	int64_t messages, acked;
	int64_t t_wake_us, t_acked_us, t_tcp_us, t_setup_us, t_data_us, t_teardown_us, t_wire_us, t_client_us;
	int64_t t_pre_us, t_conn_idle_us, t_post_us, e2e_us;
	double cpu_us;
	int64_t commands;
	double cmd_delay_us;
	int64_t t_downlink_us;
	int64_t plain_up, plain_down, stream_up, stream_down, ip_up, ip_down, segs_up, segs_down;
	int64_t retrans, dsack_in, fin_in, rst_in, tcp_info_ok, ip_lower_bound, ip_rst_unsure;
	char tls_suite[64];
	int64_t resume_offered, resumed, resume_refused, sid_echo, cert_msgs, tickets;
	char tls_hs_server[48];
	int64_t t_tls_us;
	double tls_hs_cpu_us, tls_cpu_us;
	int64_t tls_heap_peak, tls_session_bytes;
	char resumed_by[12];
	char link[32];
	int64_t ti_ip_up, ti_ip_down, ti_segs_up, ti_segs_down;
	int64_t link_lost_up, link_lost_down, link_overhead_up, link_overhead_down, radio_attaches;
	double radio_on_ms, attach_ms, tx_ms, rx_ms, idle_ms, tail_ms, energy_mj;
	char connection[16];
	int64_t connected, reconnected;
	char reconnect_why[120];
	int64_t sleep_us, sleep_ip_up, sleep_ip_down, sleep_pkts_up, sleep_pkts_down, keepalives, sleep_commands;
	double sleep_radio_on_ms, sleep_energy_mj;
	int64_t nat_drops;
	struct wake_row_phase ph[WAKE_ROW_PHASES];
};

struct column {
	const char *name;      /* the header, byte for byte */
	const char *unit;      /* "us", "B", "segments", "" for a label or a count */
	enum column_type type;
	size_t offset;         /* of the field in struct wake_row */
	size_t size;           /* COLUMN_TEXT: the array's size */
	const char *doc;       /* what the figure is, for the README and readers */
};

/* The per-phase columns come last: WAKE_ROW_PHASES groups of WAKE_ROW_COUNTERS. */
extern const struct column columns_table[];
extern const size_t columns_count;
/* The phases' names as the <counter>_<phase> columns spell them. */
extern const char *const columns_phase_names[WAKE_ROW_PHASES];

/* Every column absent. */
void wake_row_clear(struct wake_row *r);

/* The column called NAME, or -1. */
int columns_find(const char *name);

/* A growable text buffer for one header or row. */
struct column_buf {
	char *p;
	size_t len, cap;
};
void column_buf_free(struct column_buf *b);
/* Appends N bytes / TEXT as a field (quoted as a wakes.csv text field is).
 * 0, or -1 when out of memory (B keeps what it had). Other files written the
 * same way (packets.csv, sim/core/trace.h) share this. */
int column_buf_put(struct column_buf *b, const char *s, size_t n);
int column_buf_put_text(struct column_buf *b, const char *text);

/* Replaces B's text with the header line / R's row, each ending in '\n'.
 * 0, or -1 when out of memory (B then holds no line). */
int columns_format_header(struct column_buf *b);
int columns_format_row(const struct wake_row *r, struct column_buf *b);

/* Splits LINE (no line break) in place into at most MAX fields, undoing the
 * writer's quoting. Returns the number of fields. */
int columns_split(char *line, char **fields, int max);

/* Parses TEXT as column COL into R. An empty TEXT leaves the column absent.
 * 0, or -1 when TEXT is not a value of the column's type (the column is
 * then left absent too). Text longer than its field is cut. */
int columns_parse(int col, const char *text, struct wake_row *r);

/* The column's value as text the writer would write ("" when absent). */
void columns_value(const struct wake_row *r, int col, char *buf, size_t len);

#endif
