#!/usr/bin/env python3
"""HTTP through the modem to a real nginx and the real ingest, into mosquitto.

1. A captured run: plaintext, ECDSA with session-id and with ticket
   resumption, and mutual TLS; two POSTs and a command poll (GET) per wake,
   and a 100 KiB payload. Checks: every wake ok and every POSTed message
   reached the backend (none lost, none twice); every command the backend
   sent reached its device at its next poll (half a wake period later), but
   the last of each device, which may still be pending; the first wake of a device
   is a full handshake and every later one resumed, wake by wake, and the
   capture agrees (a Certificate exactly on full handshakes, the session id
   echoed, a ticket in the ClientHello of ticket wakes); each request's
   bytes are charged to its phase (POST data, GET downlink); IP bytes and
   segments equal the capture; afterwards no process of the run is left.
2. A wrong token: every wake a 401, error kind `auth`, the run goes on.
3. Ctrl-C mid-run: exit 130, rows kept, nginx (master and worker) and the
   ingest gone.
"""
import glob
import os
import re
import signal
import subprocess
import sys
import time

from itlib import (Workdir, check, check_bytes_equal_capture, first_wakes, need, row_key, rows, run_captured,
                   run_dormant, summary, tls_wire)

need("nginx", "mosquitto", "tshark")
dormant = sys.argv[1]
ingest = os.path.join(os.path.dirname(dormant), "dormant-ingest")
if not os.path.exists(ingest):
    print(f"FAIL: {ingest} is not built next to dormant")
    sys.exit(1)
wd = Workdir("http")


def left_behind(rundir):
    """Processes whose working directory is inside RUNDIR: every server runs
    from its variant's directory, nginx's worker included."""
    found = []
    for p in glob.glob("/proc/[0-9]*"):
        try:
            cwd = os.readlink(os.path.join(p, "cwd"))
            cmd = open(os.path.join(p, "cmdline"), "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(os.path.realpath(rundir) + "/"):
            found.append((int(os.path.basename(p)), cmd.strip()))
    return found


# 1. The captured run.
scenario = wd.file("http.yaml", """
name: http
seed: 5
duration: 4s
fleets:
  - name: s
    count: 3
    wake_every: 1s
    messages_per_wake: 2
    downlink: true
    command_every: 1s      # the backend sends each device a command a second
  - name: big
    count: 1
    wake_every: 2s
    payload: 100KiB
matrix:
  - protocol: http
    tls: [none, ecdsa]
    resume: none
  - protocol: http
    tls: ecdsa
    resume: [session-id, ticket]
  - protocol: http
    tls: ecdsa
    client_cert: true
    resume: session-id
""")
# "resume: none" with "tls: none" is fine; the loader only refuses resumption without TLS.
cap, rundir, rs, sm = run_captured(dormant, wd, scenario)
for v in sm["variants"]:
    m = v["messages"]
    check(m["lost"] == 0 and m["duplicates"] == 0 and m["received"] == m["sent"] == m["acked"],
          f"{v['name']}: messages {m}")
    check(v["server"] == "nginx+ingest+mosquitto", f"{v['name']}: server {v['server']}")
    c, d = v["commands"], v["command_delay_ms"]
    check(c["issued"] >= 9 and c["duplicates"] == 0 and c["not_sent"] == 0 and c["pending"] <= 3 and
          c["delivered"] == d["n"] and c["issued"] == c["delivered"] + c["pending"], f"{v['name']}: commands {c}")
    check(300 < d["p50"] < 800 and d["max"] < 1500, f"{v['name']}: command delay {d}, expected about 500 ms")

first_seq = first_wakes(rs)
for r in rs:
    name, first = r["variant"], int(r["seq"]) == first_seq[(r["variant"], r["device"])]
    where = f"{name} device {r['device']} seq {r['seq']}"
    poll = r["fleet"] == "s"
    check(int(r["plain_up_data"]) > 0 and int(r["plain_down_data"]) > 0, f"{where}: no data phase bytes")
    check((int(r["plain_up_downlink"]) > 0 and int(r["plain_down_downlink"]) > 0) == poll,
          f"{where}: downlink bytes {r['plain_up_downlink']}/{r['plain_down_downlink']}, poll {poll}")
    check(int(r["plain_up_setup"]) == 0, f"{where}: HTTP has no setup exchange, got {r['plain_up_setup']} B")
    if int(r["commands"]):
        check(0 < float(r["cmd_delay_us"]) < 1.5e6, f"{where}: command delay {r['cmd_delay_us']} us")
    if "tls=" not in name or "tls=none" in name:
        continue
    offered, resumed, certs = int(r["resume_offered"]), int(r["resumed"]), int(r["cert_msgs"])
    if r["resume"] == "none":
        check(not offered and not resumed and certs == 1, f"{where}: expected a full handshake")
    elif first:
        check(not offered and not resumed and certs == 1, f"{where}: first wake must be a full handshake")
    else:
        check(offered and resumed and certs == 0, f"{where}: expected a resumed handshake, got "
              f"offered {offered} resumed {resumed} certificates {certs}")

ports = []
for conf in glob.glob(os.path.join(rundir, "servers", "*", "nginx.conf")):
    if " ssl;" in open(conf).read():
        ports += re.findall(r"listen 127\.0\.0\.1:(\d+)", open(conf).read())
check(len(ports) == 4, f"expected 4 TLS nginx listeners, found {ports}")
wire = tls_wire(cap, ports)
n_tls = 0
for r in rs:
    if "tls=ecdsa" not in r["variant"]:
        continue
    n_tls += 1
    key = row_key(r)
    w = wire.get(key)
    check(w, f"wake {key} has no TLS handshake in the capture")
    server_cert = (False, 11) in w["types"]
    resumed = int(r["resumed"]) == 1
    check(server_cert != resumed, f"{r['variant']} wake {key}: capture Certificate {server_cert}, "
          f"dormant resumed {resumed}")
    if resumed:
        check(w["client_sid"] and w["client_sid"] == w["server_sid"],
              f"{r['variant']} wake {key}: resumed, but the ServerHello did not echo the session id ({w})")
    if "ticket" in r["variant"] and resumed:
        check(w["client_ticket"], f"{r['variant']} wake {key}: resumed without a ticket in the ClientHello")
check_bytes_equal_capture(rs, cap)
gone = left_behind(rundir)
check(not gone, f"processes of the run left after it ended: {gone}")
print(f"OK: {len(rs)} HTTP wakes, {n_tls} over TLS, {sum(r['resumed'] == '1' for r in rs)} resumed; "
      f"every message in the backend; IP bytes equal the capture; nothing left running")

# 2. A stale token.
bad = wd.file("badtoken.yaml", """
name: badtoken
duration: 2s
auth_fault: wrong-token
fleets:
  - name: s
    count: 2
    wake_every: 1s
    messages_per_wake: 2   # the 401 ends the wake before its last request
    downlink: true
matrix:
  protocol: http
""")
rc, out, err, rd = run_dormant(dormant, bad, os.path.join(wd.path, "badtoken"), timeout=120)
check(rc == 0, f"wrong token: exit {rc}: {err}")
brs = rows(rd)
check(len(brs) >= 4, f"wrong token: {len(brs)} rows")
for r in brs:
    check(r["outcome"] != "ok" and r["error_kind"] == "auth" and "401" in r["error_detail"],
          f"wrong token: row {r['device']}/{r['seq']}: {r['outcome']} {r['error_kind']} {r['error_detail']}")
    check(int(r["t_wake_us"]) < 1000000, f"wrong token: wake {r['device']}/{r['seq']} took {r['t_wake_us']} us: "
          "the device must close its connection when it gives up")
fails = summary(rd)["variants"][0]["failures"]
check(fails.get("auth") == len(brs), f"wrong token: summary failures {fails}")
check(not left_behind(rd), f"wrong token: processes left: {left_behind(rd)}")

# 3. Ctrl-C.
longrun = wd.file("long.yaml", """
name: long
duration: 60s
fleets:
  - name: a
    count: 5
    wake_every: 500ms
matrix:
  protocol: http
  tls: ecdsa
  resume: session-id
""")
out = os.path.join(wd.path, "long")
p = subprocess.Popen([dormant, "run", longrun, "-o", out, "--no-progress"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 30
pidfiles = []
while time.monotonic() < deadline and len(pidfiles) < 2:
    pidfiles = glob.glob(os.path.join(out, "*", "servers", "*", "nginx.pid")) + \
        glob.glob(os.path.join(out, "*", "servers", "*", "ingest.pid"))
    time.sleep(0.1)
check(len(pidfiles) == 2, f"no nginx/ingest pid files appeared: {pidfiles}")
time.sleep(3)
lrd = glob.glob(os.path.join(out, "*"))[0]
during = left_behind(lrd)
check(any("worker process" in c for _, c in during), f"no nginx worker seen during the run: {during}")
p.send_signal(signal.SIGINT)
stdout, stderr = p.communicate(timeout=30)
check(p.returncode == 130, f"SIGINT: exit {p.returncode}: {stderr}")
lrs = rows(lrd)
check(len(lrs) >= 10 and all(r["outcome"] == "ok" or r["error_kind"] == "interrupted" for r in lrs),
      f"SIGINT: {len(lrs)} rows kept, outcomes {sorted(set(r['error_kind'] for r in lrs))}")
time.sleep(0.2)
left = left_behind(lrd)
check(not left, f"SIGINT: processes left: {left}")
print(f"OK: a wrong token is {len(brs)} auth failures; Ctrl-C kept {len(lrs)} rows and left no "
      f"process of the {len(during)} seen running")
