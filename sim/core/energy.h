/* energy.h: the radio's energy per wake, from the packets on the air, and
 * battery life from energy per wake and the sleep floor.
 *
 * The state machine, per link profile (link.h):
 *
 *   sleep --attach--> connected --(no packet for tail_ms)--> sleep
 *
 * - The wake starts at wake_start_us with the radio asleep. It attaches
 *   first (registration, RRC resume after PSM, Wi-Fi association):
 *   attach_ms of time, attach_mj of energy in all, whatever else happens
 *   meanwhile. A packet on the air before the attach ends is counted as
 *   attach (the part of it that overlaps).
 * - Connected, at each instant the radio is
 *     TX   (tx_mw)   while any uplink packet is on the air,
 *     RX   (rx_mw)   while a downlink packet is and no uplink one is: TX wins
 *                    when both overlap (NB-IoT is half-duplex; a full-duplex
 *                    radio is charged for TX alone, which it mostly spends),
 *     idle (idle_mw) otherwise, up to the last packet of a connected period.
 * - The inactivity timer starts at the end of every packet and is reset by
 *   the next one. A gap of at most tail_ms between the end of what is on the
 *   air and the next packet is connected idle. A longer gap releases the
 *   radio: tail_ms at tail_mw, then asleep, then a new attach (attach_ms at
 *   attach_mj, counted in attaches) that ends as the next packet starts, or
 *   starts right at the release when there is less time than attach_ms.
 *   The timer also starts when the attach ends, so a first packet more than
 *   tail_ms after it finds the radio released again. A link whose attach
 *   costs nothing (attach_ms and attach_mj 0: Ethernet) is never released
 *   inside a wake; its gaps are idle.
 * - After the last packet of the wake: tail_ms at tail_mw, then asleep;
 *   with release_assist the radio releases at the last packet (no tail).
 *   The same holds after the attach of a wake with no packets at all.
 *   release_assist does not touch gaps inside the wake: the device sends
 *   the indication with what it knows to be its last packet.
 * - Asleep at sleep_uw: outside radio-on time, including the released parts
 *   of a wake (released_ms). energy_wake() charges radio-on time only;
 *   energy_day_mj() charges the sleep.
 *
 *   energy_mj = attaches * attach_mj
 *             + (tx_mw * tx_ms + rx_mw * rx_ms + idle_mw * idle_ms + tail_mw * tail_ms) / 1000
 *   radio_on_ms = attach_ms + tx_ms + rx_ms + idle_ms + tail_ms
 *   span_ms     = radio_on_ms + released_ms  (wake start to the last release)
 *
 * (mW x ms / 1000 = mJ.) Times are microseconds on any one clock; bursts are
 * sorted by start (ends may overlap in any way) and need not start after the
 * wake start. All functions are pure.
 */
#ifndef DORMANT_ENERGY_H
#define DORMANT_ENERGY_H

#include <stddef.h>
#include <stdint.h>

#include "link.h"

/* One packet on the air at the radio: up = TX, else RX. end_us >= start_us. */
struct radio_burst {
	uint64_t start_us, end_us;
	int up;
};

struct energy_result {
	double radio_on_ms;   /* attach + tx + rx + idle + tail */
	double attach_ms;     /* all attaches */
	double tx_ms, rx_ms, idle_ms, tail_ms;
	double released_ms;   /* asleep between a release and the next attach, inside the wake */
	double span_ms;       /* radio_on_ms + released_ms */
	int attaches;         /* 1 + re-attaches after gaps longer than tail_ms */
	double energy_mj;     /* radio-on energy, sleep excluded */
};

/* The wake's figures into *out (always written). */
void energy_wake(const struct link_profile *p, uint64_t wake_start_us, const struct radio_burst *b,
                 size_t n, struct energy_result *out);

/* Energy per day in mJ: WAKES_PER_DAY wakes of WAKE_MJ each, and sleep at
 * SLEEP_UW for the rest of the day (86,400 s less AWAKE_MS_PER_WAKE per
 * wake, the wake's radio_on_ms; none if the wakes fill the day). */
double energy_day_mj(double sleep_uw, double wake_mj, double wakes_per_day, double awake_ms_per_wake);

/* Years a BATTERY_WH battery lasts at that: capacity / energy per day / 365,
 * the arithmetic of 3GPP TR 45.820 (5 Wh, 365-day years, no self-discharge).
 * INFINITY when nothing is drawn. */
double energy_battery_years(double battery_wh, double sleep_uw, double wake_mj, double wakes_per_day,
                            double awake_ms_per_wake);

/* connection: persistent. A kept connection's device, as measured: its
 * mean wake on the kept connection (energy, radio time, wake time) and
 * the mean keep-alive (what one added to a sleep's energy and radio time;
 * NaN when none was measured), at KEEPALIVE_S. */
struct energy_kept {
	double wake_mj, wake_on_ms, wake_s;
	double ka_mj, ka_on_ms;
	double keepalive_s;
	/* with downlink: what a command pushed to the sleeping device adds
	 * (NaN: none measured), and how many come a day */
	double cmd_mj, cmd_on_ms;
	double cmds_per_day;
};

/* One period of PERIOD_S of such a device: its wake and the
 * floor((PERIOD_S - wake_s) / keepalive_s) keep-alives of the sleep after
 * it, into *MJ and *ON_MS. Returns 0, or -1 when that cannot be told: the
 * link's NAT (NAT_TIMEOUT_S, 0: none) forgets the connection between
 * keep-alives (keepalive_s >= NAT_TIMEOUT_S and PERIOD_S > NAT_TIMEOUT_S),
 * no wake on a kept connection was measured (wake_mj NaN), or the period
 * needs keep-alives and none was measured. With cmds_per_day > 0, the
 * period's share of them (cmds_per_day * PERIOD_S / 86400) at cmd_mj and
 * cmd_on_ms each; -1 when none was measured. (A command also restarts the
 * keep-alive timer; the keep-alives are counted as if it did not, a little
 * over.) */
int energy_kept_period(const struct energy_kept *k, double nat_timeout_s, double period_s, double *mj,
                       double *on_ms);

#endif
