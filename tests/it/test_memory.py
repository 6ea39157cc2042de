#!/usr/bin/env python3
"""What a sleeping device costs dormant: 10,000 MQTT devices over TLS
(ECDSA, resume: ticket) against mosquitto, each waking once and then
asleep with the ticket session it stored.

Checks: every wake ok and every device stored a session; summary.json's
client_memory adds up (RSS growth over the devices, by hand); a stored
session is under 512 B (serialized without the server's certificate);
dormant's state per device is under 128 B; and the RSS per sleeping device,
the run's per-wake records taken off, is within 1.5 KB (generous: the goal
is 1 KB and the figure is in README and the closing note; RSS moves with
the allocator's arenas). The printed summary shows the same line.

Run in the unsanitized build only: AddressSanitizer's shadow and quarantine
are most of the RSS there.
"""
import os
import sys

from itlib import Workdir, check, fail, need, run_dormant, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("memory")
N = 10000
scenario = wd.file("memory.yaml", f"""
name: memory
duration: 30s
concurrency: 64
fleets:
  - name: s
    count: {N}
    wake_every: 30s
    payload: 48B
    qos: 1
matrix:
  - protocol: mqtt
    tls: ecdsa
    resume: ticket
""")
rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "r"), timeout=800, extra=("--no-plot",))
print(out)
if rc != 0:
    fail(f"dormant exited {rc}: {err}")
v = summary(rundir)["variants"][0]
check(v["wakes"] == v["ok"] == N, f"{v['ok']} of {v['wakes']} wakes ok, {N} planned")
m = v.get("client_memory")
check(m is not None, "summary.json has no client_memory")
check(m["devices"] == N and m["sessions_stored"] == N, f"{m['sessions_stored']} sessions stored by {m['devices']} devices")
by_hand = round((m["rss_after_kib"] - m["rss_before_kib"]) * 1024 / N)
check(m["rss_per_device_b"] == by_hand, f"rss_per_device_b {m['rss_per_device_b']} against {by_hand} by hand")
check(0 < m["session_b_mean"] < 512, f"a stored session is {m['session_b_mean']} B")
check(0 < m["state_per_device_b"] < 128, f"state per device {m['state_per_device_b']} B")
asleep = m["rss_per_device_b"] - m["records_b_per_device"]
check(asleep <= 1536, f"a sleeping device costs {asleep} B of RSS ({m})")
check(f"with {N} devices asleep: {m['rss_per_device_b']} B a device" in out,
      "the printed summary does not show dormant's memory per device")
print(f"a sleeping device: {asleep} B of RSS ({m['rss_per_device_b']} B less {m['records_b_per_device']} B of per-wake "
      f"records), session {m['session_b_mean']} B, state {m['state_per_device_b']} B")
print("PASS")
