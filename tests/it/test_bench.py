#!/usr/bin/env python3
"""`dormant bench` runs and its arithmetic is right (no timing thresholds:
the machine is shared and noisy; the figures are in the closing note).

A small bench (640 plaintext wakes, 8 in flight, one repetition) against
the real mosquitto it starts: every row but the TLS bare loop ran with no
failed wake; each row's median over one repetition is that repetition's
value; the printed ratios are the medians' ratios; TLS handshakes are each
device's first wake full and every later one resumed, for the floor
(counted from the server's flight) and for dormant (proven per wake);
dormant's replay row replays all but its recorded wake;
bench.json and dormant's own run directories are there; nothing is left
running, Tsung's Erlang VM and its epmd included.
"""
import glob
import json
import os
import re
import subprocess
import sys

from itlib import Workdir, check, fail, need

need("mosquitto", "mosquitto_sub", "tsung")
dormant = sys.argv[1]
wd = Workdir("bench")
out_root = os.path.join(wd.path, "r")
p = subprocess.run([dormant, "bench", "--wakes", "640", "--repeat", "1", "--concurrency", "8", "-o", out_root],
                   capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
print(p.stdout)
if p.returncode != 0:
    fail(f"dormant bench exited {p.returncode}: {p.stderr}")
dirs = glob.glob(os.path.join(out_root, "bench-*"))
check(len(dirs) == 1, f"one bench directory, found {dirs}")
b = json.load(open(os.path.join(dirs[0], "bench.json")))

plain, tls = b["plain"], b["tls"]
check(plain["devices"] == 64 and plain["wakes"] == 640, f"plain plan {plain['devices']} devices, {plain['wakes']} wakes")
check(tls["devices"] == 32 and tls["wakes"] == 320 and tls["long_pass_wakes"] == 1280,
      f"TLS plan {tls['devices']} devices, passes of {tls['wakes']} and {tls['long_pass_wakes']} wakes")
for mode, m in (("plain", plain), ("tls", tls)):
    for row in ("floor", "tsung", "bare_paho", "dormant", "replay"):
        r = m[row]
        if mode == "tls" and row in ("bare_paho", "tsung"):
            check(r["repetitions"] == 0 and r["note"].startswith("not run"), f"TLS {row}: {r}")
            continue
        if row == "tsung":
            check(r["repetitions"] == 1, f"tsung: {r['repetitions']} repetitions ({r['note']})")
            check(r["p50_ms"]["median"] is None and r["wakes_per_s"]["median"] > 0, f"tsung: {r}")
            continue
        check(r["repetitions"] == 1, f"{mode} {row}: {r['repetitions']} repetitions ({r['note']})")
        check(r["failed"] == 0, f"{mode} {row}: {r['failed']} wakes failed: {r['note']}")
        for k in ("wakes_per_s", "client_us_per_wake", "server_us_per_wake", "p50_ms", "p99_ms"):
            check(r[k]["median"] == r[k]["each"][0], f"{mode} {row} {k}: median {r[k]['median']} of {r[k]['each']}")
            check(r[k]["median"] > 0, f"{mode} {row} {k} is {r[k]['median']}")
        check(r["p50_ms"]["median"] <= r["p99_ms"]["median"], f"{mode} {row}: p50 over p99")
for row in ("floor", "dormant", "replay"):
    r = tls[row]
    check(r["full_handshakes"] == tls["devices"], f"TLS {row}: {r['full_handshakes']} full handshakes, one a device")
    want = tls["long_pass_wakes"] - tls["devices"]
    check(r["resumed_handshakes"] == want, f"TLS {row}: {r['resumed_handshakes']} resumed, {want} in the long pass")

# The printed table: each row's figures and ratios from the medians.
def printed(mode, name):
    for line in p.stdout.splitlines():
        if line.startswith(mode) and name in line:
            return line
    fail(f"no printed row {mode} {name}")

for mode, m in (("plain", plain), ("TLS", tls)):
    f = m["floor"]
    for row, name in (("floor", "floor"), ("tsung", "Tsung 1.7"), ("bare_paho", "bare loop"), ("dormant", "dormant, paho"),
                      ("replay", "replay engine")):
        r = m[row]
        if not r["repetitions"]:
            continue
        nums = re.findall(r"(\d+(?:\.\d+)?)x?", printed(mode, name).split(name, 1)[1].replace("ts_mqtt", ""))
        if row == "tsung":
            nums[3:3] = ["0", "0"]  # its p50 and p99 print as "-"
        wps, cpu, srv = float(nums[0]), float(nums[1]), float(nums[2])
        check(abs(wps - r["wakes_per_s"]["median"]) <= 0.5, f"{mode} {row}: printed {wps} wakes/s")
        check(abs(cpu - r["client_us_per_wake"]["median"]) <= 0.5, f"{mode} {row}: printed {cpu} us")
        rate_vs = float(nums[5])
        want = r["wakes_per_s"]["median"] / f["wakes_per_s"]["median"]
        check(abs(rate_vs - want) <= 0.006, f"{mode} {row}: rate vs floor printed {rate_vs}, is {want:.3f}")
        cpu_vs = float(nums[6])
        want = r["client_us_per_wake"]["median"] / f["client_us_per_wake"]["median"]
        check(abs(cpu_vs - want) <= 0.006, f"{mode} {row}: CPU vs floor printed {cpu_vs}, is {want:.3f}")
        if mode == "plain" and row in ("dormant", "replay"):
            want = r["client_us_per_wake"]["median"] / m["bare_paho"]["client_us_per_wake"]["median"]
            check(abs(float(nums[7]) - want) <= 0.006, f"dormant CPU vs bare printed {nums[7]}, is {want:.3f}")

# dormant against Tsung, the line under dormant's plaintext row
m = re.search(r"(\d+\.\d+)x Tsung's wakes/s, (\d+\.\d+)x its client CPU per wake", p.stdout)
check(m, "no dormant-against-Tsung line")
want = plain["dormant"]["wakes_per_s"]["median"] / plain["tsung"]["wakes_per_s"]["median"]
check(abs(float(m.group(1)) - want) <= 0.006, f"dormant/Tsung printed {m.group(1)}, is {want:.3f}")
runs = glob.glob(os.path.join(dirs[0], "dormant", "bench-*", "summary.json"))
check(len(runs) == 6, f"dormant's six runs (paho and replay: plain, two TLS passes), found {runs}")
for s in runs:
    sm = json.load(open(s))
    v = sm["variants"][0]
    if "stack=replay" in v["name"]:
        check(v["replay"]["wakes_replayed"] == v["wakes"] - 1, f"{s}: {v['replay']['wakes_replayed']} of "
              f"{v['wakes']} wakes replayed, all but the recorded one")
left = subprocess.run(["pgrep", "-af", dirs[0]], capture_output=True, text=True).stdout.strip()
check(not left, f"processes left running: {left}")
# Tsung's VM used the bench's epmd on loopback and started none of its own (`epmd -daemon` would outlive it)
left = [l for l in subprocess.run(["pgrep", "-af", "epmd|tsung"], capture_output=True, text=True).stdout.splitlines()
        if "-daemon" in l or "tsung" in l]
check(not left, f"Erlang processes left running: {left}")
print("PASS")
