/* test_link.c: link profiles: every shipped profile loads and cites a source
 * for every figure; bad profiles give FILE:LINE:COL messages; per-device
 * delays are deterministic and within the range.
 *
 * Run with the shipped profiles as arguments (tests/unit/CMakeLists.txt
 * globs scenarios/links/). */
#include <math.h>
#include <stdlib.h>

#include "link.h"
#include "unit.h"

#ifndef BAD_LINKS_DIR
#error "BAD_LINKS_DIR must name tests/unit/bad/links"
#endif

#define PROFILE_HEAD "name: t\ndelay_ms: [200, 1500]\n"
#define PROFILE_BODY                                                                               \
	"up_kbps: 20\ndown_kbps: 25.5\nloss_up: 0.001\nloss_down: 0.01\nqueue_packets: 50\nmtu: 1358\n" \
	"link_overhead_bytes: 5\nattach_ms: 2700\nattach_mj: 550\nnat_timeout_s: 300\ntx_mw: 792\n"    \
	"rx_mw: 165.6\nidle_mw: 21.6\ntail_ms: 20000\ntail_mw: 21.6\nrelease_assist: true\nsleep_uw: 15\n"

static enum dormant_err load_text(const char *text, struct link_profile *p, char *err, size_t n)
{
	return link_profile_load_buffer("l.yaml", text, strlen(text), p, err, n);
}

#define CHECK_PROFILE_ERROR(text, want)                                            \
	do {                                                                       \
		struct link_profile p_;                                            \
		char err_[512];                                                    \
		CHECK_INT_EQ(load_text((text), &p_, err_, sizeof err_), ERR_SCENARIO); \
		CHECK_STR_EQ(err_, (want));                                        \
	} while (0)

static void test_values(void)
{
	struct link_profile p;
	char err[512] = "untouched";

	CHECK_INT_EQ(load_text(PROFILE_HEAD PROFILE_BODY, &p, err, sizeof err), ERR_OK);
	CHECK_STR_EQ(err, "");
	CHECK_STR_EQ(p.name, "t");
	CHECK_STR_EQ(p.path, "l.yaml");
	CHECK(p.delay_ms_min == 200 && p.delay_ms_max == 1500);
	CHECK(p.up_kbps == 20 && p.down_kbps == 25.5);
	CHECK(p.loss_up == 0.001 && p.loss_down == 0.01);
	CHECK_INT_EQ(p.queue_packets, 50);
	CHECK_INT_EQ(p.mtu, 1358);
	CHECK_INT_EQ(p.link_overhead_bytes, 5);
	CHECK(p.attach_ms == 2700 && p.attach_mj == 550 && p.nat_timeout_s == 300);
	CHECK(p.tx_mw == 792 && p.rx_mw == 165.6 && p.idle_mw == 21.6);
	CHECK(p.tail_ms == 20000 && p.tail_mw == 21.6 && p.sleep_uw == 15);
	CHECK_INT_EQ(p.release_assist, 1);

	CHECK_INT_EQ(load_text("name: t\ndelay_ms: 300\n" PROFILE_BODY, &p, err, sizeof err), ERR_OK);
	CHECK(p.delay_ms_min == 300 && p.delay_ms_max == 300);

	/* the listening figures: none given, no listening device */
	struct link_profile l;
	CHECK_INT_EQ(p.can_listen, 0);
	CHECK_INT_EQ(link_listening(&p, &l), -1);
	CHECK_INT_EQ(load_text(PROFILE_HEAD PROFILE_BODY "listen_uw: 11022\nlisten_ms: 102.4\nlisten_attach_ms: 1\n"
	                                                 "listen_attach_mj: 0.33\n", &p, err, sizeof err), ERR_OK);
	CHECK_INT_EQ(p.can_listen, 1);
	CHECK(p.listen_uw == 11022 && p.listen_ms == 102.4 && p.listen_attach_ms == 1 && p.listen_attach_mj == 0.33);
	CHECK_INT_EQ(link_listening(&p, &l), 0);
	/* a listening device's radio: the listening floor and attach, everything else the link's */
	CHECK(l.sleep_uw == 11022 && l.attach_ms == 1 && l.attach_mj == 0.33);
	CHECK(l.tx_mw == 792 && l.tail_ms == 20000 && l.idle_mw == 21.6 && l.listen_ms == 102.4);
}

static void test_errors(void)
{
	CHECK_PROFILE_ERROR(PROFILE_HEAD PROFILE_BODY "colour: blue\n",
	                    "l.yaml:20:1: colour: unknown key; valid link profile keys: name, delay_ms, up_kbps, "
	                    "down_kbps, loss_up, loss_down, queue_packets, mtu, link_overhead_bytes, attach_ms, "
	                    "attach_mj, nat_timeout_s, tx_mw, rx_mw, idle_mw, tail_ms, tail_mw, release_assist, sleep_uw, "
	                    "listen_uw, listen_ms, listen_attach_ms, listen_attach_mj");
	CHECK_PROFILE_ERROR(PROFILE_HEAD PROFILE_BODY "tx_mw: 1\n", "l.yaml:20:1: tx_mw: duplicate key (first at line 13)");
	CHECK_PROFILE_ERROR("name: t\n" PROFILE_BODY,
	                    "l.yaml:1:1: missing required key \"delay_ms\" (a profile gives every figure, with its source)");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: [1, 2, 3]\n" PROFILE_BODY,
	                    "l.yaml:2:11: delay_ms: expected a one-way delay in ms like 300 or a range like [200, 1500], "
	                    "got a sequence not of two values");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: {a: 1}\n" PROFILE_BODY,
	                    "l.yaml:2:11: delay_ms: expected a one-way delay in ms like 300 or a range like [200, 1500], "
	                    "got a mapping");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: [300, x]\n" PROFILE_BODY,
	                    "l.yaml:2:17: delay_ms: expected a one-way delay in ms like 300 or a range like [200, 1500], "
	                    "got \"x\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: [300, 100]\n" PROFILE_BODY,
	                    "l.yaml:2:17: delay_ms: the range's maximum must not be below its minimum (300), got \"100\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: -5\n" PROFILE_BODY, "l.yaml:2:11: delay_ms: must not be negative, got \"-5\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 90000\n" PROFILE_BODY,
	                    "l.yaml:2:11: delay_ms: must be at most 60000, got \"90000\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1e3\n" PROFILE_BODY,
	                    "l.yaml:2:11: delay_ms: expected a one-way delay in ms like 300 or a range like [200, 1500], "
	                    "got \"1e3\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1\nup_kbps: 0\n",
	                    "l.yaml:3:10: up_kbps: must be at least 0.001, got \"0\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1\nloss_up: 0.6\n",
	                    "l.yaml:3:10: loss_up: must be at most 0.5 (TCP makes no progress beyond), got \"0.6\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1\nmtu: 100\n", "l.yaml:3:6: mtu: must be at least 576, got \"100\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1\nmtu: 1500.5\n",
	                    "l.yaml:3:6: mtu: expected a size in bytes like 1500, got \"1500.5\"");
	CHECK_PROFILE_ERROR("name: t\ndelay_ms: 1\nrelease_assist: yes\n",
	                    "l.yaml:3:17: release_assist: expected true or false, got \"yes\"");
	CHECK_PROFILE_ERROR("name: t b\n", "l.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got \"t b\"");
	CHECK_PROFILE_ERROR("name: [t]\n",
	                    "l.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-', got a sequence");
	CHECK_PROFILE_ERROR("name: abcdefghijklmnopqrstuvwxyz0123456\n",
	                    "l.yaml:1:7: name: must be at most 31 characters, got \"abcdefghijklmnopqrstuvwxyz0123456\"");
	CHECK_PROFILE_ERROR("", "l.yaml:1:1: empty file, expected a mapping of link profile keys (required: name, "
	                        "delay_ms, up_kbps, down_kbps, loss_up, loss_down, queue_packets, mtu, link_overhead_bytes, "
	                        "attach_ms, attach_mj, nat_timeout_s, tx_mw, rx_mw, idle_mw, tail_ms, tail_mw, "
	                        "release_assist, sleep_uw)");
	CHECK_PROFILE_ERROR("- 1\n", "l.yaml:1:1: expected a mapping of link profile keys at the top level, got a sequence");
	CHECK_PROFILE_ERROR(PROFILE_HEAD PROFILE_BODY "listen_uw: 11022\nlisten_ms: 102.4\n",
	                    "l.yaml:1:1: listen_attach_ms: missing: listen_uw, listen_ms, listen_attach_ms and "
	                    "listen_attach_mj go together (a device that stays reachable asleep): give all four or none");
	CHECK_PROFILE_ERROR("name: t\n---\nname: u\n", "l.yaml:2:1: a link profile file holds one YAML document, found a second");
	CHECK_PROFILE_ERROR("name: &n t\ntx_mw: *n\n", "l.yaml:2:8: aliases (*n) are not supported, write the value out");
}

static void check_file(const char *name, const char *want_after_path)
{
	char path[1024], want[2048], err[512];
	struct link_profile p;

	snprintf(path, sizeof path, "%s/%s", BAD_LINKS_DIR, name);
	snprintf(want, sizeof want, "%s%s", path, want_after_path);
	CHECK_INT_EQ(link_profile_load(path, &p, err, sizeof err), ERR_SCENARIO);
	CHECK_STR_EQ(err, want);
}

static void test_files(void)
{
	check_file("unknown_key.yaml", ":4:1: colour: unknown key; valid link profile keys: name, delay_ms, up_kbps, "
	                               "down_kbps, loss_up, loss_down, queue_packets, mtu, link_overhead_bytes, attach_ms, "
	                               "attach_mj, nat_timeout_s, tx_mw, rx_mw, idle_mw, tail_ms, tail_mw, release_assist, "
	                               "sleep_uw, listen_uw, listen_ms, listen_attach_ms, listen_attach_mj");
	check_file("range.yaml", ":3:18: delay_ms: the range's maximum must not be below its minimum (1500), got \"200\"");
	check_file("missing.yaml",
	           ":2:1: missing required key \"sleep_uw\" (a profile gives every figure, with its source)");
	check_file("loss_percent.yaml",
	           ":7:12: loss_down: must be at most 0.5 (TCP makes no progress beyond), got \"2\"");
	check_file("unit.yaml", ":14:8: tx_mw: expected a power in mW like 792, got \"360mW\"");
	check_file("does-not-exist.yaml", ": cannot open: No such file or directory");
	check_file("", ": not a regular file (a directory); a link profile is a YAML file");
}

/* Every key line of a shipped profile carries its source as a comment. */
static void check_cited(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		n++;
		if (line[0] == '#' || line[0] == ' ' || line[0] == '\n' || strncmp(line, "name:", 5) == 0)
			continue;
		if (!strchr(line, '#'))
			UNIT_FAIL_("%s:%d: a figure without its source: %s", path, n, line);
	}
	fclose(f);
}

static void test_shipped(int argc, char **argv)
{
	CHECK(argc > 8); /* nbiot, ltem, gprs, wifi, ethernet and the three poor ones */
	for (int i = 1; i < argc; i++) {
		struct link_profile p;
		char err[512] = "";
		CHECK_INT_EQ(link_profile_load(argv[i], &p, err, sizeof err), ERR_OK);
		CHECK_STR_EQ(err, "");
		/* The name is the file's: links are named by file in scenarios. */
		const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		char want[64];
		snprintf(want, sizeof want, "%s.yaml", p.name);
		CHECK_STR_EQ(base, want);
		CHECK(p.delay_ms_min <= p.delay_ms_max);
		check_cited(argv[i]);
	}
}

static void test_delay(void)
{
	struct link_profile p = { .delay_ms_min = 200, .delay_ms_max = 1500 };
	double lo = 1e9, hi = 0, sum = 0;
	int same_as_other_seed = 0;
	const int n = 10000;

	for (uint32_t d = 0; d < (uint32_t)n; d++) {
		double v = link_delay_ms(&p, 42, d);
		CHECK(v == link_delay_ms(&p, 42, d));
		if (v < 200 || v > 1500)
			UNIT_FAIL_("device %u: delay %.3f outside [200, 1500]", d, v);
		if (v == link_delay_ms(&p, 43, d))
			same_as_other_seed++;
		lo = fmin(lo, v);
		hi = fmax(hi, v);
		sum += v;
	}
	/* Uniform: the mean of 10,000 draws is within 1.5% of 850 (its standard
	 * error is 1300/sqrt(12 n) = 3.75 ms, so 13 ms is 3.5 of them), and the
	 * draws reach both ends. */
	CHECK(fabs(sum / n - 850) < 13);
	CHECK(lo < 201 && hi > 1499);
	CHECK(same_as_other_seed == 0);
	/* A fixed delay is returned as is. */
	p.delay_ms_max = 200;
	CHECK(link_delay_ms(&p, 42, 7) == 200);
}

static void test_serialise(void)
{
	/* 1358 bytes at 20 kbit/s: 10,864 bits / 20,000 bit/s = 543.2 ms. */
	CHECK(fabs(link_serialise_us(20, 1358) - 543200) < 1e-6);
	/* 1500 bytes at 100 Mbit/s: 120 us. */
	CHECK(fabs(link_serialise_us(100000, 1500) - 120) < 1e-9);
}

int main(int argc, char **argv)
{
	RUN(test_values);
	RUN(test_errors);
	RUN(test_files);
	int before = unit_failures;
	test_shipped(argc, argv);
	printf("%s test_shipped (%d profiles)\n", unit_failures == before ? "ok  " : "FAIL", argc - 1);
	RUN(test_delay);
	RUN(test_serialise);
	return UNIT_EXIT();
}
