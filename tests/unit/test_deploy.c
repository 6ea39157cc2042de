/* test_deploy.c: deployment files: every shipped one loads with its link;
 * values, defaults and the link's sleep floor land where deploy.h says;
 * bad files give one FILE:LINE:COL message each.
 *
 * Run with the shipped deployments as arguments (tests/unit/CMakeLists.txt
 * globs scenarios/deployments/). The buffers name a path in
 * scenarios/deployments/, so their links resolve to the shipped profiles. */
#include <stdlib.h>

#include "deploy.h"
#include "unit.h"

#ifndef DEPLOY_DIR
#error "DEPLOY_DIR must name scenarios/deployments"
#endif

#define PATH DEPLOY_DIR "/t.yaml"
#define BASE "name: t\ndevices: 1000\nwake_every: 15m\npayload: 48B\nlink: nbiot\nbattery_wh: 5\n"

static enum dormant_err load_text(const char *text, struct deployment *d, char *err, size_t n)
{
	return deploy_load_buffer(PATH, text, strlen(text), d, err, n);
}

#define CHECK_DEPLOY_ERROR(text, want)                                             \
	do {                                                                       \
		static struct deployment d_;                                       \
		char err_[1024];                                                   \
		CHECK_INT_EQ(load_text((text), &d_, err_, sizeof err_), ERR_SCENARIO); \
		CHECK_STR_EQ(err_, PATH ":" want);                                 \
	} while (0)

static void test_values(void)
{
	static struct deployment d;
	char err[1024] = "untouched";

	CHECK_INT_EQ(load_text(BASE, &d, err, sizeof err), ERR_OK);
	CHECK_STR_EQ(err, "");
	CHECK_STR_EQ(d.name, "t");
	CHECK_U64_EQ(d.devices, 1000);
	CHECK_U64_EQ(d.wake_every_us, UINT64_C(900000000));
	CHECK_U64_EQ(d.payload_bytes, 48);
	CHECK_STR_EQ(d.link.name, "nbiot");
	CHECK(d.battery_wh == 5);
	/* defaults */
	CHECK_U64_EQ(d.jitter_us, 0);
	CHECK_INT_EQ(d.encoding, ENC_BINARY);
	CHECK_INT_EQ(d.messages_per_wake, 1);
	CHECK(d.commands_per_day == 0);
	CHECK_U64_EQ(d.command_deadline_us, 0);
	CHECK(d.sleep_uw == d.link.sleep_uw); /* the link's floor when the file gives none */
	CHECK_U64_EQ(d.ram_budget, 0);
	CHECK_INT_EQ(d.encryption, ENCRYPT_REQUIRED);
	CHECK_INT_EQ(d.client_auth, AUTH_ANY);
	CHECK_INT_EQ(d.nports, 0);
	CHECK(deploy_port_ok(&d, 8883) && deploy_port_ok(&d, 443));
	CHECK_INT_EQ(d.inbound, 0);

	CHECK_INT_EQ(load_text(BASE "jitter: 1m\nencoding: json\nmessages_per_wake: 3\ncommands_per_day: 0.5\n"
	                            "command_deadline: 2s\nsleep_uw: 0\nram_budget: 64KiB\nflash_budget: 1MB\n"
	                            "encryption: optional\nclient_auth: psk\nports: [443, 8883]\ninbound: true\n"
	                            "price_per_mb: 0.25\n",
	                       &d, err, sizeof err),
	             ERR_OK);
	CHECK_STR_EQ(err, "");
	CHECK_U64_EQ(d.jitter_us, UINT64_C(60000000));
	CHECK_INT_EQ(d.encoding, ENC_JSON);
	CHECK_INT_EQ(d.messages_per_wake, 3);
	CHECK(d.commands_per_day == 0.5);
	CHECK_U64_EQ(d.command_deadline_us, 2000000);
	CHECK(d.sleep_uw == 0); /* given, even as 0 */
	CHECK_U64_EQ(d.ram_budget, 65536);
	CHECK_U64_EQ(d.flash_budget, 1000000);
	CHECK_INT_EQ(d.encryption, ENCRYPT_OPTIONAL);
	CHECK_INT_EQ(d.client_auth, AUTH_PSK);
	CHECK_INT_EQ(d.nports, 2);
	CHECK(deploy_port_ok(&d, 443) && deploy_port_ok(&d, 8883) && !deploy_port_ok(&d, 1883));
	CHECK_INT_EQ(d.inbound, 1);
	CHECK(d.price_per_mb == 0.25);
	CHECK_STR_EQ(deploy_encoding_name(d.encoding), "json");
	CHECK_STR_EQ(deploy_auth_name(d.client_auth), "psk");

	CHECK_INT_EQ(load_text(BASE "ports: 443\n", &d, err, sizeof err), ERR_OK);
	CHECK(d.nports == 1 && deploy_port_ok(&d, 443) && !deploy_port_ok(&d, 8883));
}

static void test_errors(void)
{
	CHECK_DEPLOY_ERROR(BASE "colour: red\n",
	                   "7:1: colour: unknown key; valid deployment keys: name, devices, wake_every, jitter, payload, "
	                   "encoding, messages_per_wake, commands_per_day, command_deadline, link, battery_wh, sleep_uw, "
	                   "ram_budget, flash_budget, encryption, client_auth, ports, inbound, price_per_mb");
	CHECK_DEPLOY_ERROR("name: t\ndevices: 10\nwake_every: 1m\npayload: 48B\nlink: nbiot\n",
	                   "1:1: missing required key \"battery_wh\"");
	CHECK_DEPLOY_ERROR(BASE "wake_every: 1m\n", "7:1: wake_every: duplicate key (first at line 3)");
	CHECK_DEPLOY_ERROR("name: t\ndevices: 0\n", "2:10: devices: must be at least 1, got \"0\"");
	CHECK_DEPLOY_ERROR("name: t\ndevices: 10\nwake_every: 500ms\n",
	                   "3:13: wake_every: must be at least 1s, got \"500ms\"");
	CHECK_DEPLOY_ERROR("name: t\ndevices: 10\nwake_every: 15 minutes\n",
	                   "3:13: wake_every: expected a duration like 15m, got \"15 minutes\"");
	CHECK_DEPLOY_ERROR(BASE "encoding: xml\n",
	                   "7:11: encoding: expected one of binary, cbor, json, text, got \"xml\"");
	CHECK_DEPLOY_ERROR(BASE "client_auth: mutual\n",
	                   "7:14: client_auth: expected one of any, token, certificate, psk, got \"mutual\"");
	CHECK_DEPLOY_ERROR(BASE "ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
	                   "7:8: ports: expected a port like 443 or a list like [443, 8883] (at most 8), got more");
	CHECK_DEPLOY_ERROR(BASE "ports: [443, 70000]\n", "7:14: ports: must be at most 65535, got \"70000\"");
	CHECK_DEPLOY_ERROR(BASE "ports: {a: 1}\n",
	                   "7:8: ports: expected a port like 443 or a list like [443, 8883] (at most 8), got a mapping");
	CHECK_DEPLOY_ERROR(BASE "jitter: 8m\n",
	                   "7:9: jitter: must be at most half of wake_every (wakes would overtake each other), got 480 s");
	CHECK_DEPLOY_ERROR("name: t\ndevices: 1000\nwake_every: 15m\npayload: 48B\nlink: moon\nbattery_wh: 5\n",
	                   "5:7: link: no link profile \"moon\": neither " DEPLOY_DIR "/links/moon.yaml nor " DEPLOY_DIR
	                   "/../links/moon.yaml exists (No such file or directory)");
	CHECK_DEPLOY_ERROR("- a\n", "1:1: expected a mapping of deployment keys at the top level, got a sequence");
}

int main(int argc, char **argv)
{
	RUN(test_values);
	RUN(test_errors);
	/* every shipped deployment loads, with its link */
	CHECK(argc > 4);
	for (int i = 1; i < argc; i++) {
		static struct deployment d;
		char err[1024];
		enum dormant_err rc = deploy_load(argv[i], &d, err, sizeof err);
		CHECK_INT_EQ(rc, ERR_OK);
		if (rc != ERR_OK)
			fprintf(stderr, "  %s: %s\n", argv[i], err);
		CHECK(d.link.name[0] != '\0');
	}
	return UNIT_EXIT();
}
