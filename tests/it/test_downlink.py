#!/usr/bin/env python3
"""Commands from the backend to sleeping devices: MQTT (persistent session,
QoS 1) against mosquitto, AMQP 1.0 (a receiver link on a durable queue)
against RabbitMQ and HTTP (a poll per wake) through nginx and the ingest,
over a capture.

Checks: every wake ok; every command the backend sent reached its device
exactly once, at the device's next wake (about half a wake period later),
but the last of each device, which may still be pending; MQTT subscribes
on a device's first wake only and spends no downlink byte on a wake
without a command, exactly one PUBLISH and its PUBACK on a wake with one;
AMQP spends the same bytes on every wake without a command (attach and
flow) and the same more on every wake with one (its transfer and
disposition); HTTP spends a GET and its answer on every wake; IP bytes
equal the capture.
"""
import os
import sys

from itlib import Workdir, check, check_bytes_equal_capture, first_wakes, need, run_captured

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
          c["issued"] == c["delivered"] + c["pending"], f"{v['name']}: commands {c}")
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
    # SUBSCRIBE on the first wake (no session yet), and every wake at QoS 0 (its SUBACK marks the end)
    again = int(r["seq"]) == first[(r["variant"], r["device"])] or r["qos"] == "0"
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
check_bytes_equal_capture(rs, cap)
html = open(os.path.join(rundir, "report.html")).read()
section = html.split('id="downlink"', 1)[1].split("</table>", 1)[0] if 'id="downlink"' in html else ""
check(section and all(f">{v['name']}<" in section for v in sm["variants"]),
      "report.html lacks the downlink table or one of its variants")
print(f"OK: {got} commands delivered to {len(rs)} wakes; MQTT at QoS 1 spends downlink bytes only when a command is "
      f"there, AMQP {e_up}/{e_down} B without one and {c_up}/{c_down} B with one; IP bytes equal the capture")
