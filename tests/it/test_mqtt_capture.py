#!/usr/bin/env python3
"""A small MQTT run against a real mosquitto, QoS 0 and 1, captured on lo.

Checks: exactly the expected number of rows, every wake ok, no loss and no
duplicates at QoS 1, and for every wake the IP-level bytes and segment
counts dormant derived from TCP_INFO equal what the capture saw on that
wake's connection (matched by device address and port), to the byte.
"""
import os
import sys

from itlib import (Capture, Workdir, check, fail, need, per_connection, rows, run_dormant, show_server_logs,
                   summary)

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
cap = Capture(os.path.join(wd.path, "lo.pcapng"), "net 127.80.0.0/14")
rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "results"))
cap.stop()
if rc != 0:
    show_server_logs(rundir)
    fail(f"dormant exited {rc}: {err}")
print(out)

rs = rows(rundir)
sm = summary(rundir)
expected = sum(v["expected_wakes"] for v in sm["variants"])
check(len(rs) == expected, f"{len(rs)} rows, expected {expected}")
bad = [r for r in rs if r["outcome"] != "ok"]
check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")
for v in sm["variants"]:
    m = v["messages"]
    check(m["sent"] > 0, f"{v['name']}: no messages sent")
    if v["qos"] == 1:
        check(m["lost"] == 0 and m["received"] == m["sent"], f"{v['name']}: loss at QoS 1: {m}")
    check(m["duplicates"] == 0, f"{v['name']}: duplicates: {m}")

conns = per_connection(cap.packets())
mismatch = 0
for r in rs:
    key = (r["local_addr"], int(r["local_port"]))
    c = conns.get(key)
    if not c:
        fail(f"wake {r['device']}/{r['seq']} ({key}) not in the capture")
    want = (c["up"], c["down"], c["segs_up"], c["segs_down"])
    got = (int(r["ip_up"]), int(r["ip_down"]), int(r["segs_up"]), int(r["segs_down"]))
    if want != got:
        mismatch += 1
        print(f"MISMATCH {r['variant']} device {r['device']} seq {r['seq']} {key}: "
              f"capture up/down/segs {want}, dormant {got}")
check(mismatch == 0, f"{mismatch} of {len(rs)} wakes differ from the capture")
check(len(conns) == len(rs), f"capture has {len(conns)} device connections, wakes.csv {len(rs)}")
print(f"OK: {len(rs)} wakes, IP bytes and segments equal the capture for every one")
