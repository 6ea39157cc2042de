#!/usr/bin/env python3
"""Commands from the backend to sleeping devices: MQTT (persistent session,
QoS 1) against mosquitto, AMQP 1.0 (a receiver link on a durable queue)
against RabbitMQ and HTTP (a poll per wake) through nginx and the ingest,
over a capture.

Checks: every wake ok; every command the backend sent reached its device
exactly once, at the device's next wake (about half a wake period later),
but the last of each device, which may still be pending, issued after its
last wake; none dropped: with session: before-window (the default) each
MQTT device's session is made before the window on a set-up connection
that is in the capture but is no row; so no MQTT wake subscribes at QoS 1,
and MQTT spends no downlink byte on a wake
without a command, exactly one PUBLISH and its PUBACK on a wake with one;
AMQP spends the same bytes on every wake without a command (attach and
flow) and the same more on every wake with one (its transfer and
disposition); HTTP spends a GET and its answer on every wake; IP bytes
equal the capture.

Then session: first-wake, with wakes up to 900 ms late in their slot: a
device's first wake makes its MQTT session, the commands the broker got
before that wake's SUBACK are counted dropped (as many as the schedule
says: those due before the first wake began), AMQP and HTTP drop none,
and issued = delivered + pending + dropped exactly, per variant.
"""
import os
import sys

from itlib import (Workdir, check, check_bytes_equal_capture, first_wakes, need, per_connection, row_key,
                   run_captured)

need("mosquitto", "nginx", "tshark", "/usr/lib/rabbitmq/bin/rabbitmq-server")
dormant = sys.argv[1]
wd = Workdir("downlink")
scenario = wd.file("downlink.yaml", """
name: downlink
seed: 11
duration: 6s
fleets:
  - name: a
    count: 3
    wake_every: 1s
    downlink: true
    command_every: 2s
matrix:
  - protocol: [mqtt, amqp, http]
  - protocol: [mqtt, amqp]   # QoS 0: no telemetry ack to mark the end of the queued commands
    qos: 0
  - protocol: [mqtt, amqp]   # AMQP over TLS with a receiver link: RabbitMQ sends a last TLS record
    tls: ecdsa               # after the device's close (79 B), which stream_down must count
    resume: session-id
""")
cap, rundir, rs, sm = run_captured(dormant, wd, scenario)
for v in sm["variants"]:
    c, d = v["commands"], v["command_delay_ms"]
    check(c["issued"] == 9 and c["duplicates"] == 0 and c["not_sent"] == 0 and c["pending"] <= 3 and
          c["dropped"] == 0 and c["pending_missed"] == 0 and
          c["issued"] == c["delivered"] + c["pending"] + c["dropped"], f"{v['name']}: commands {c}")
    # MQTT's sessions were made before the window; AMQP's queues and HTTP's ingest need none
    want = {"made_before_window": 3, "failed": 0} if v["protocol"] == "mqtt" else None
    got = {k: v["sessions"][k] for k in ("made_before_window", "failed")} if "sessions" in v else None
    check(got == want, f"{v['name']}: sessions {v.get('sessions')}, expected {want}")
    check(300 < d["p50"] < 800 and d["max"] < 1200, f"{v['name']}: command delay {d}, expected about 500 ms")
    check(v["messages"]["lost"] == 0, f"{v['name']}: messages {v['messages']}")

# dormant/dev<N>/commands with a 24-byte command: fixed header 2, topic length 2, topic, packet id 2.
first = first_wakes(rs)
got = 0
amqp = {}  # commands in the wake -> the set of (up, down) downlink bytes seen
for r in rs:
    where = f"{r['variant']} device {r['device']} seq {r['seq']}"
    n, up, down = int(r["commands"]), int(r["plain_up_downlink"]), int(r["plain_down_downlink"])
    got += n
    if r["protocol"] == "http":
        check(up > 0 and down > 0, f"{where}: a poll costs bytes both ways, got {up}/{down}")
        continue
    if r["protocol"] == "amqp":
        if "tls=" not in r["variant"]:  # the TLS variant is here for its stream bytes (itlib)
            amqp.setdefault((r["qos"], n), set()).add((up, down))
        continue
    topic = len(f"dormant/dev{r['device']}/commands")
    # The session was made before the window: SUBSCRIBE only at QoS 0, every wake (its SUBACK marks the end)
    again = r["qos"] == "0"
    sub = 2 + 2 + 2 + topic + 1 if again else 0
    suback = 5 if sub else 0
    publish = 2 + 2 + topic + 2 + 24
    want = (sub + 4 * n, suback + publish * n)
    check((up, down) == want, f"{where}: {n} commands, downlink bytes up/down {up}/{down}, expected {want}")
check(got == sum(v["commands"]["delivered"] for v in sm["variants"]), "rows and summary disagree on commands")
check(set(amqp) == {("0", 0), ("0", 1), ("1", 0), ("1", 1)} and all(len(s) == 1 for s in amqp.values()),
      f"AMQP downlink bytes per wake should depend on the command count only: {amqp}")
(e_up, e_down), (c_up, c_down) = next(iter(amqp[("1", 0)])), next(iter(amqp[("1", 1)]))
check(amqp[("0", 0)] == amqp[("1", 0)] and amqp[("0", 1)] == amqp[("1", 1)], f"AMQP QoS 0 and 1 differ: {amqp}")
check(e_up > 0 and e_down > 0 and c_up > e_up and c_down > e_down + 24,
      f"AMQP downlink bytes: without a command {e_up}/{e_down}, with one {c_up}/{c_down}")
# The set-up connections are real connections of the devices (one per MQTT variant and device), but no rows.
n_mqtt = sum(v["protocol"] == "mqtt" for v in sm["variants"])
check_bytes_equal_capture(rs, cap, setups=3 * n_mqtt)
extra = len(per_connection(cap)) - len(rs)  # connections, told apart by tcp.stream
check(extra == 3 * n_mqtt, f"{extra} device connections without a row, expected {3 * n_mqtt} set-ups")
html = open(os.path.join(rundir, "report.html")).read()
section = html.split('id="downlink"', 1)[1].split("</table>", 1)[0] if 'id="downlink"' in html else ""
check(section and all(f">{v['name']}<" in section for v in sm["variants"]),
      "report.html lacks the downlink table or one of its variants")

# session: first-wake. Wakes start up to 900 ms into their slot; the first command is due half a period in.
# Seed 1 puts 3 of the 4 devices' first wakes after their first command, none within 50 ms of it.
scenario = wd.file("first-wake.yaml", """
name: first-wake
seed: 1
duration: 4s
fleets:
  - name: a
    count: 4
    wake_every: 1s
    jitter: 900ms
    downlink: true
    command_every: 1s
    session: first-wake
matrix:
  protocol: [mqtt, amqp, http]
""")
cap, rundir, rs, sm = run_captured(dormant, wd, scenario)
first = {}  # (variant, device) -> its first wake's start in the window, us
last = {}
for r in rs:
    k, start = (r["variant"], int(r["device"])), int(r["due_us"]) + int(r["sched_lag_us"])
    first[k], last[k] = min(first.get(k, 10**12), start), max(last.get(k, -1), start)
dropped_total = 0
for v in sm["variants"]:
    c = v["commands"]
    # The schedule: device j's commands are due at j/4 s + 0.5 s + k s, within the window (timeline.c).
    due = [(j, t) for j in range(4) for t in range(j * 250000 + 500000, 4000000, 1000000)]
    # An HTTP poll takes one command: two queued between wakes (jitter) leave one for a later wake.
    check(c["issued"] == len(due) and c["not_sent"] == 0 and c["duplicates"] == 0 and
          (c["pending_missed"] == 0 or v["protocol"] == "http") and
          c["issued"] == c["delivered"] + c["pending"] + c["dropped"], f"{v['name']}: commands {c}")
    check("sessions" not in v, f"{v['name']}: no session is made before the window with first-wake: {v}")
    if v["protocol"] != "mqtt":
        check(c["dropped"] == 0, f"{v['name']}: AMQP and HTTP queue per device from before the window: {c}")
        continue
    # Dropped: those due before the device's first wake began (a command within 20 ms of it may go either way).
    lo = sum(t < first[(v["name"], j)] - 20000 for j, t in due)
    hi = sum(t < first[(v["name"], j)] + 20000 for j, t in due)
    check(lo <= c["dropped"] <= hi and c["dropped"] > 0,
          f"{v['name']}: {c['dropped']} dropped, the schedule says {lo}..{hi} (and some, for this test to mean it)")
    pend_hi = sum(t > last[(v["name"], j)] - 20000 for j, t in due)
    check(c["pending"] - c["pending_missed"] <= pend_hi, f"{v['name']}: {c['pending']} pending, at most {pend_hi} due after a last wake")
    dropped_total += c["dropped"]
    # Each device's first wake subscribes (its CONNACK said no session), later ones do not.
    firsts = first_wakes(rs)
    for r in rs:
        if r["variant"] != v["name"]:
            continue
        topic = len(f"dormant/dev{r['device']}/commands")
        sub = 2 + 2 + 2 + topic + 1 if int(r["seq"]) == firsts[(r["variant"], r["device"])] else 0
        n, up = int(r["commands"]), int(r["plain_up_downlink"])
        check(up == sub + 4 * n, f"{r['variant']} {r['device']}/{r['seq']}: downlink bytes up {up}, want {sub + 4 * n}")
out = open(os.path.join(rundir, "report.html")).read()
check("dropped by the broker: no session for the device yet" in out, "report.html does not say why commands dropped")
print(f"OK: {got} commands delivered to {len(rs)} wakes; MQTT at QoS 1 spends downlink bytes only when a command is "
      f"there, AMQP {e_up}/{e_down} B without one and {c_up}/{c_down} B with one; IP bytes equal the capture; "
      f"with session: first-wake MQTT counted {dropped_total} dropped, as the schedule says")
