/* test_columns.c: a wakes.csv row written through the column table reads
 * back equal, column by column: labels, counters, absent figures, text
 * that needs quoting; and the header is the table's names in order. */
#include <math.h>
#include <stdlib.h>

#include "columns.h"
#include "unit.h"

/* Splits B's line (its '\n' cut off) and parses every field into OUT by
 * the header's names, as sim/report/rundata.c does. Returns the field count. */
static int read_back(const char *header, const char *line, struct wake_row *out)
{
	char *h = strdup(header), *l = strdup(line);
	h[strcspn(h, "\n")] = 0;
	l[strcspn(l, "\n")] = 0;
	char *hf[256], *lf[256];
	int nh = columns_split(h, hf, 256), nl = columns_split(l, lf, 256);
	CHECK_INT_EQ(nh, nl);
	wake_row_clear(out);
	for (int i = 0; i < nh && i < nl; i++) {
		int c = columns_find(hf[i]);
		CHECK(c >= 0);
		if (c >= 0)
			CHECK_INT_EQ(columns_parse(c, lf[i], out), 0);
	}
	free(h);
	free(l);
	return nl;
}

/* Every column of A and B equal, NaN equal to NaN. */
static void check_equal(const struct wake_row *a, const struct wake_row *b)
{
	for (size_t i = 0; i < columns_count; i++) {
		const struct column *c = &columns_table[i];
		const char *pa = (const char *)a + c->offset, *pb = (const char *)b + c->offset;
		switch (c->type) {
		case COLUMN_TEXT:
			if (strcmp(pa, pb))
				UNIT_FAIL_("column %s: \"%s\" read back as \"%s\"", c->name, pa, pb);
			break;
		case COLUMN_INT:
			if (*(const int64_t *)pa != *(const int64_t *)pb)
				UNIT_FAIL_("column %s: %lld read back as %lld", c->name, (long long)*(const int64_t *)pa,
				           (long long)*(const int64_t *)pb);
			break;
		case COLUMN_REAL1: {
			double x = *(const double *)pa, y = *(const double *)pb;
			if (!(isnan(x) && isnan(y)) && x != y)
				UNIT_FAIL_("column %s: %.3f read back as %.3f", c->name, x, y);
			break;
		}
		}
	}
}

/* A value for every column, distinct per column, reals with one decimal. */
static void fill_all(struct wake_row *r)
{
	wake_row_clear(r);
	for (size_t i = 0; i < columns_count; i++) {
		const struct column *c = &columns_table[i];
		char *p = (char *)r + c->offset;
		if (c->type == COLUMN_TEXT)
			snprintf(p, c->size, "t%zu", i);
		else if (c->type == COLUMN_INT)
			*(int64_t *)p = (int64_t)(i * 1000003u) - 7;
		else
			*(double *)p = (double)i + 0.5;
	}
}

static void test_header_is_the_table(void)
{
	struct column_buf b = { 0 };
	CHECK_INT_EQ(columns_format_header(&b), 0);
	char *h = strdup(b.p), *f[256];
	h[strcspn(h, "\n")] = 0;
	int n = columns_split(h, f, 256);
	CHECK_INT_EQ(n, (long long)columns_count);
	for (int i = 0; i < n && (size_t)i < columns_count; i++)
		CHECK_STR_EQ(f[i], columns_table[i].name);
	/* the columns readers and tests look for, where they have always been */
	CHECK_STR_EQ(columns_table[0].name, "variant");
	CHECK_INT_EQ(columns_find("tcp_info_ok") + 1, columns_find("ip_lower_bound"));
	CHECK_INT_EQ(columns_find("ip_lower_bound") + 1, columns_find("ip_rst_unsure"));
	CHECK_INT_EQ(columns_find("ip_rst_unsure") + 1, columns_find("tls_suite"));
	CHECK_STR_EQ(columns_table[columns_count - 1].name, "segs_down_teardown");
	CHECK_INT_EQ(columns_find("no_such_column"), -1);
	free(h);
	column_buf_free(&b);
}

static void test_every_column_round_trips(void)
{
	struct wake_row w, r;
	struct column_buf hb = { 0 }, rb = { 0 };
	fill_all(&w);
	CHECK_INT_EQ(columns_format_header(&hb), 0);
	CHECK_INT_EQ(columns_format_row(&w, &rb), 0);
	CHECK(rb.len && rb.p[rb.len - 1] == '\n');
	CHECK_INT_EQ(read_back(hb.p, rb.p, &r), (long long)columns_count);
	check_equal(&w, &r);
	column_buf_free(&hb);
	column_buf_free(&rb);
}

/* A failed wake without TLS and without a modem: most figures absent. */
static void test_absent_figures_stay_absent(void)
{
	struct wake_row w, r;
	struct column_buf hb = { 0 }, rb = { 0 };
	wake_row_clear(&w);
	snprintf(w.variant, sizeof(w.variant), "mqtt qos=1");
	snprintf(w.outcome, sizeof(w.outcome), "failed");
	w.qos = 1;
	w.t_wake_us = 0;  /* a zero is a figure, not an absence */
	w.cpu_us = 0.0;
	CHECK_INT_EQ(columns_format_header(&hb), 0);
	CHECK_INT_EQ(columns_format_row(&w, &rb), 0);
	CHECK_STR_CONTAINS(rb.p, "mqtt qos=1,,,,,1,");
	read_back(hb.p, rb.p, &r);
	check_equal(&w, &r);
	CHECK(r.e2e_us == COLUMN_NONE);
	CHECK(isnan(r.cmd_delay_us));
	CHECK_INT_EQ(r.t_wake_us, 0);
	CHECK(r.cpu_us == 0.0);
	CHECK(r.ph[5].segs_down == COLUMN_NONE);
	column_buf_free(&hb);
	column_buf_free(&rb);
}

/* An error detail with commas and quotes is one quoted field; a line break becomes a space. */
static void test_detail_with_commas_and_quotes(void)
{
	struct wake_row w, r;
	struct column_buf hb = { 0 }, rb = { 0 };
	fill_all(&w);
	snprintf(w.error_detail, sizeof(w.error_detail), "no CONNACK, \"rc\" 7, then \"\"");
	snprintf(w.variant, sizeof(w.variant), "a,b");
	snprintf(w.fleet, sizeof(w.fleet), "\"");
	CHECK_INT_EQ(columns_format_header(&hb), 0);
	CHECK_INT_EQ(columns_format_row(&w, &rb), 0);
	CHECK_STR_CONTAINS(rb.p, "\"no CONNACK, \"\"rc\"\" 7, then \"\"\"\"\"");
	CHECK(!strncmp(rb.p, "\"a,b\",", 6));
	read_back(hb.p, rb.p, &r);
	check_equal(&w, &r);

	snprintf(w.error_detail, sizeof(w.error_detail), "line one\nline two");
	CHECK_INT_EQ(columns_format_row(&w, &rb), 0);
	CHECK(!strchr(rb.p, '\n') || strchr(rb.p, '\n') == rb.p + rb.len - 1);
	read_back(hb.p, rb.p, &r);
	CHECK_STR_EQ(r.error_detail, "line one line two");
	column_buf_free(&hb);
	column_buf_free(&rb);
}

/* The reader takes what hand-made files hold and refuses what is not a number. */
static void test_parse_rules(void)
{
	struct wake_row r;
	wake_row_clear(&r);
	int c = columns_find("t_wake_us");
	CHECK_INT_EQ(columns_parse(c, "1000.0", &r), 0);
	CHECK_INT_EQ(r.t_wake_us, 1000);
	CHECK_INT_EQ(columns_parse(c, "12x", &r), -1);
	CHECK_INT_EQ(columns_parse(c, "1.5", &r), -1);
	CHECK_INT_EQ(columns_parse(c, "", &r), 0);
	int k = columns_find("cpu_us");
	CHECK_INT_EQ(columns_parse(k, "nan", &r), -1);
	CHECK(isnan(r.cpu_us));
	CHECK_INT_EQ(columns_parse(k, "12.25", &r), 0);
	CHECK(r.cpu_us == 12.25);
	/* text longer than its field is cut, never overflows */
	char big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK_INT_EQ(columns_parse(columns_find("local_addr"), big, &r), 0);
	CHECK_INT_EQ(strlen(r.local_addr), sizeof(r.local_addr) - 1);
	CHECK_INT_EQ(columns_parse(-1, "1", &r), -1);
}

int main(void)
{
	RUN(test_header_is_the_table);
	RUN(test_every_column_round_trips);
	RUN(test_absent_figures_stay_absent);
	RUN(test_detail_with_commas_and_quotes);
	RUN(test_parse_rules);
	return UNIT_EXIT();
}
