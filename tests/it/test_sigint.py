#!/usr/bin/env python3
"""Ctrl-C in the middle of a run: exit 130, rows and summary kept, broker stopped."""
import glob
import os
import signal
import subprocess
import sys
import time

from itlib import Workdir, check, need, rows, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("sigint")
scenario = wd.file("long.yaml", """
name: long
duration: 60s
fleets:
  - name: a
    count: 10
    wake_every: 500ms
matrix:
  qos: [1, 0]
""")
out = os.path.join(wd.path, "results")
p = subprocess.Popen([dormant, "run", scenario, "-o", out, "--no-progress"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 30
pidfiles = []
while time.monotonic() < deadline and not pidfiles:
    pidfiles = glob.glob(os.path.join(out, "*", "servers", "*", "mosquitto.pid"))
    time.sleep(0.1)
check(pidfiles, "no mosquitto pid file appeared")
time.sleep(3)
p.send_signal(signal.SIGINT)
stdout, stderr = p.communicate(timeout=30)
check(p.returncode == 130, f"exit {p.returncode}, expected 130; stderr {stderr}")
rundir = glob.glob(os.path.join(out, "*"))[0]
rs = rows(rundir)
check(len(rs) >= 20, f"only {len(rs)} rows kept")
sm = summary(rundir)
check(len(sm["variants"]) == 1 and sm["variants"][0]["interrupted"], f"summary: {sm['variants']}")
check(sm["variants"][0]["wakes"] == len(rs), "summary and wakes.csv disagree")
pid = int(open(pidfiles[0]).read())
try:
    os.kill(pid, 0)
    alive = True
except ProcessLookupError:
    alive = False
check(not alive, f"mosquitto (pid {pid}) still running after SIGINT")
check(not glob.glob(os.path.join(out, "*", "servers", "02-*")), "the second variant was started after SIGINT")
print(f"OK: interrupted after {len(rs)} rows, summary marked interrupted, mosquitto {pid} gone")
