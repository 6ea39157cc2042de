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

# Ctrl-C while the backend waits for its subscription (outside the window
# loop): a broker that accepts TCP and never answers keeps it waiting up to
# 5 s; SIGINT there must exit 130 at once, not 4 when the wait runs out.
import socket
import threading

silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(16)
held = []


def hold():
    while True:
        try:
            c, _ = silent.accept()
        except OSError:
            return
        held.append(c)  # read nothing, answer nothing


threading.Thread(target=hold, daemon=True).start()
scenario = wd.file("silent.yaml", f"""
name: silent
duration: 5s
endpoint: 127.0.0.1:{silent.getsockname()[1]}
fleets:
  - name: a
    count: 2
    wake_every: 1s
""")
out = os.path.join(wd.path, "results-silent")
p = subprocess.Popen([dormant, "run", scenario, "-o", out, "--no-progress", "--no-plot"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not held:
    time.sleep(0.05)
check(held, "the backend never connected to the silent broker")
time.sleep(0.5)
t = time.monotonic()
p.send_signal(signal.SIGINT)
stdout, stderr = p.communicate(timeout=30)
took = time.monotonic() - t
check(p.returncode == 130, f"SIGINT in the backend's wait: exit {p.returncode}, expected 130; stderr {stderr}")
check(took < 2, f"SIGINT in the backend's wait took {took:.1f} s to exit")
sm = summary(glob.glob(os.path.join(out, "*"))[0])
check(sm["variants"][0]["interrupted"], f"summary not marked interrupted: {sm['variants']}")
silent.close()
print(f"OK: SIGINT during the backend's subscription wait: exit 130 after {took:.2f} s, summary interrupted")
