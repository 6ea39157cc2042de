#!/usr/bin/env python3
"""dormant compare on two hand-written run directories with known values.

Run A: "mqtt qos=0" wakes of 1, 2 and 3 ms (median 2 ms, nearest rank),
end-to-end 0.1/0.2/0.3 ms, 500 B up and 200 B down at the IP level; and
"mqtt qos=1", which run B does not have.
Run B: "mqtt qos=0" wakes of 1.5, 2.5 and 3.5 ms plus one failed wake
(timeout), end-to-end 0.15/0.25/0.35 ms, 450 B up and 300 B down, one lost
message in summary.json; and "amqp", which run A does not have. B's
wakes.csv has a column dormant does not know and lacks the per-phase ones:
compare reads by column name and must not care.
Checked by hand:  wake p50 2.000 -> 2.500 (+0.500, +25.0%);
e2e p50 0.200 -> 0.250 (+0.050, +25.0%); IP up 500.0 -> 450.0 (-50.0,
-10.0%); IP down 200.0 -> 300.0 (+100.0, +50.0%); failed 0.00 -> 25.00 %
(+25.00, n/a: A is 0); lost 0 -> 1.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

from itlib import Workdir, check, fail, need

need("gnuplot")
dormant = sys.argv[1]
wd = Workdir("compare")


def write_run(name, cols, rows, variants):
    d = os.path.join(wd.path, "results", name)
    os.makedirs(d)
    with open(os.path.join(d, "wakes.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(str(r.get(c, "")) for c in cols) + "\n")
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"scenario": "hand", "variants": variants}, f, indent=2)
    return d


def wake(variant, t_us, e2e_us, up, down, outcome="ok", kind="", protocol="mqtt", qos=0):
    return {"variant": variant, "protocol": protocol, "broker": "default", "tls": "none", "resume": "none",
            "qos": qos, "outcome": outcome, "error_kind": kind, "t_wake_us": t_us, "e2e_us": e2e_us,
            "cpu_us": 500, "plain_up": 95, "plain_down": 4, "ip_up": up, "ip_down": down, "segs_up": 7,
            "segs_down": 4, "ip_up_setup": up, "ip_down_setup": down}


def summary_variant(name, lost):
    return {"name": name, "protocol": "mqtt", "expected_wakes": 3, "wakes": 3,
            "messages": {"sent": 3, "acked": 3, "received": 3 - lost, "lost": lost, "duplicates": 0}}


COLS = ["variant", "protocol", "broker", "tls", "resume", "qos", "fleet", "device", "seq", "outcome", "error_kind",
        "error_detail", "t_wake_us", "e2e_us", "cpu_us", "plain_up", "plain_down", "ip_up", "ip_down", "segs_up",
        "segs_down", "ip_up_setup", "ip_down_setup"]
a = write_run("hand-A", COLS,
              [wake("mqtt qos=0", 1000, 100, 500, 200), wake("mqtt qos=0", 3000, 300, 500, 200),
               wake("mqtt qos=0", 2000, 200, 500, 200),
               wake("mqtt qos=1", 4000, 400, 520, 210, qos=1), wake("mqtt qos=1", 4000, 400, 520, 210, qos=1)],
              [summary_variant("mqtt qos=0", 0), summary_variant("mqtt qos=1", 0)])
b_cols = [c for c in COLS if not c.startswith("ip_up_") and not c.startswith("ip_down_")] + ["a_future_column"]
b = write_run("hand-B", b_cols,
              [wake("mqtt qos=0", 2500, 250, 450, 300), wake("mqtt qos=0", 1500, 150, 450, 300),
               dict(wake("mqtt qos=0", "", "", 0, 0, outcome="failed", kind="timeout"), error_detail='"no ""CONNACK"""'),
               wake("mqtt qos=0", 3500, 350, 450, 300),
               wake("amqp", 9000, 900, 800, 700, protocol="amqp")],
              [summary_variant("mqtt qos=0", 1), summary_variant("amqp", 0)])

out = os.path.join(wd.path, "cmp")
p = subprocess.run([dormant, "compare", a, b, "-o", out], capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"dormant compare exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
text = p.stdout

blocks = {m.group(1): m.group(2) for m in re.finditer(r'^variant "([^"]+)"(.*?)(?=^variant "|\Z)', text, re.M | re.S)}
check(set(blocks) == {"mqtt qos=0", "mqtt qos=1", "amqp"}, f"variants compared: {sorted(blocks)}\n{text}")
check(blocks["mqtt qos=1"].startswith(": only in A"), f"mqtt qos=1 should be only in A:\n{text}")
check(blocks["amqp"].startswith(": only in B"), f"amqp should be only in B:\n{text}")

q0 = blocks["mqtt qos=0"]
expected = [
    ("ok wakes", "3", "3", "+0", "+0.0%"),
    ("failed %", "0.00", "25.00", "+25.00", "n/a"),
    ("wake p50 ms", "2.000", "2.500", "+0.500", "+25.0%"),
    ("e2e p50 ms", "0.200", "0.250", "+0.050", "+25.0%"),
    ("IP bytes up", "500.0", "450.0", "-50.0", "-10.0%"),
    ("IP bytes down", "200.0", "300.0", "+100.0", "+50.0%"),
    ("plaintext up", "95.0", "95.0", "+0.0", "+0.0%"),
    ("lost messages", "0", "1", "+1", "n/a"),
]
for label, va, vb, d, pct in expected:
    row = re.search(rf"^\s+{re.escape(label)}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", q0, re.M)
    check(row, f"no '{label}' row for mqtt qos=0:\n{q0}")
    check(row.groups() == (va, vb, d, pct),
          f"{label}: got {' '.join(row.groups())}, checked by hand: {va} {vb} {d} {pct}")
print("OK: compare prints the hand-checked differences (absolute and %) for the variant both runs have")

# the same table in compare.txt, and the figure and page beside it
with open(os.path.join(out, "compare.txt")) as f:
    check(f.read() in text, "compare.txt is not the table compare printed")
png = os.path.join(out, "compare.png")
with open(png, "rb") as f:
    data = f.read()
check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "compare.png is not a PNG")
w, h = struct.unpack(">II", data[16:24])
check(w >= 600 and h >= 400 and len(data) > 5000, f"compare.png is {w}x{h}, {len(data)} bytes")
root = ET.parse(os.path.join(out, "compare.svg")).getroot()
check(root.tag.endswith("svg"), "compare.svg has no <svg> root")
with open(os.path.join(out, "compare.dat")) as f:
    dat = f.read()
check(re.search(r"^mqtt qos=0\t2\t2\.5$", dat, re.M), f"compare.dat lacks the median wake times 2 and 2.5:\n{dat}")
check("amqp" not in dat, "compare.dat plots a variant only one run has")
with open(os.path.join(out, "compare.html")) as f:
    html = f.read()
check("<svg" in html and not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html),
      "compare.html should inline its figure and reference nothing external")
print(f"OK: {out}: compare.txt, compare.png ({w}x{h}), compare.svg, compare.html")

# without -o: a compare-<UTC time> directory beside run A
p = subprocess.run([dormant, "compare", a, b], capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"compare without -o exited {p.returncode}: {p.stderr}")
made = [d for d in os.listdir(os.path.dirname(a)) if d.startswith("compare-")]
check(len(made) == 1 and os.path.exists(os.path.join(os.path.dirname(a), made[0], "compare.txt")),
      f"compare without -o should write results/compare-<time>/, found {made}")

# wrong use: one run, or a directory that is not a run
for args, what in (([a], "a single run"), ([a, wd.path], "a directory that is not a run")):
    p = subprocess.run([dormant, "compare", *args], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and p.stderr.strip(), f"compare with {what}: exit {p.returncode}, stderr {p.stderr!r}")
print("OK: compare refuses a single run and a directory that is not a run (exit 2)")
shutil.rmtree(wd.path, ignore_errors=True)
