#!/usr/bin/env python3
"""A small MQTT run against a real mosquitto, QoS 0 and 1, captured on lo.

Checks: exactly the expected number of rows, every wake ok, no loss and no
duplicates at QoS 1, and for every wake the IP-level bytes and segment
counts dormant derived from TCP_INFO equal what the capture saw on that
wake's connection (matched by device address and port), to the byte.
"""
import os
import sys

from itlib import Workdir, check, check_bytes_equal_capture, need, run_captured

need("mosquitto", "tshark")
dormant = sys.argv[1]
wd = Workdir("capture")
scenario = wd.file("capture.yaml", """
name: capture
seed: 7
duration: 4s
fleets:
  - name: meters
    count: 6
    wake_every: 1s
    jitter: 100ms
    payload: 48B
  - name: cams
    count: 2
    wake_every: 2s
    payload: 3KiB
    messages_per_wake: 3
matrix:
  qos: [0, 1]
""")
cap, rundir, rs, sm = run_captured(dormant, wd, scenario)
for v in sm["variants"]:
    m = v["messages"]
    check(m["sent"] > 0, f"{v['name']}: no messages sent")
    if v["qos"] == 1:
        check(m["lost"] == 0 and m["received"] == m["sent"], f"{v['name']}: loss at QoS 1: {m}")
    check(m["duplicates"] == 0, f"{v['name']}: duplicates: {m}")

check_bytes_equal_capture(rs, cap)
print(f"OK: {len(rs)} wakes, IP bytes and segments equal the capture for every one")
