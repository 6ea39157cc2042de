#!/usr/bin/env python3
"""AMQP 1.0 and MQTT against a real RabbitMQ that dormant starts itself.

QoS 1 wakes lose nothing over either protocol; broker CPU and RSS are
reported; after a normal run and after Ctrl-C, beam.smp and the private
epmd of every variant are gone, checked by the PIDs dormant recorded.
Ctrl-C outside the window: during RabbitMQ's start-up and during
`rabbitmqctl eval` (the AMQP command queues) the run exits 130 and the
variant says "interrupted"; a second Ctrl-C while the first one stops the
broker exits at once.
"""
import glob
import os
import signal
import subprocess
import sys
import time

from itlib import Workdir, check, fail, need, rows, run_dormant, show_server_logs, summary

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
need(RABBITMQ_SERVER, "epmd")
dormant = sys.argv[1]
wd = Workdir("rabbitmq")


def running(pid, name):
    """True while PID is that live process (a zombie has finished; a reused PID is someone else)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X") and name in cmd


def broker_pids(rundir):
    """[(pidfile, pid, name)] for every RabbitMQ variant of the run."""
    found = []
    for d in sorted(glob.glob(os.path.join(rundir, "servers", "[0-9][0-9]-*"))):
        for pidfile, name in (("rabbitmq.pid", "beam.smp"), ("epmd.pid", "epmd")):
            p = os.path.join(d, pidfile)
            if os.path.exists(p):
                found.append((p, int(open(p).read()), name))
    return found


def check_all_gone(rundir, when):
    pids = broker_pids(rundir)
    check(pids, f"{when}: no rabbitmq.pid / epmd.pid recorded under {rundir}/servers")
    names = {n for _, _, n in pids}
    check(names == {"beam.smp", "epmd"}, f"{when}: expected pid files for beam.smp and epmd, got {pids}")
    # The broker needs up to a few seconds to stop cleanly; dormant waits for it before exiting.
    left = [(f, p, n) for f, p, n in pids if running(p, n)]
    if left:
        show_server_logs(rundir)
        fail(f"{when}: still running: {left}")
    return pids


# 1. A normal run: AMQP and MQTT on one RabbitMQ, QoS 1.
scenario = wd.file("rmq.yaml", """
name: rmq
duration: 4s
fleets:
  - name: a
    count: 4
    wake_every: 1s
matrix:
  protocol: [amqp, mqtt]
  broker: rabbitmq
  qos: 1
""")
out = os.path.join(wd.path, "results")
rc, stdout, stderr, rundir = run_dormant(dormant, scenario, out, timeout=300)
if rc != 0:
    show_server_logs(rundir)
    fail(f"exit {rc}\nstdout:\n{stdout}\nstderr:\n{stderr}")
sm = summary(rundir)
check(len(sm["variants"]) == 2, f"expected 2 variants, got {[v['name'] for v in sm['variants']]}")
rs = rows(rundir)
for v in sm["variants"]:
    check(v.get("server") == "rabbitmq", f"{v['name']}: server {v.get('server')}, expected rabbitmq")
    check(v["wakes"] > 0 and v["failed"] == 0, f"{v['name']}: {v['wakes']} wakes, {v['failed']} failed: "
          f"{v.get('failures')}")
    m = v["messages"]
    check(m["sent"] > 0 and m["lost"] == 0 and m["unacked"] == 0,
          f"{v['name']}: QoS 1 lost messages: {m}")
    check(m["received"] == m["sent"], f"{v['name']}: backend received {m['received']} of {m['sent']}")
    b = v.get("server_cost") or {}
    check(b.get("rss_peak_kib", 0) > 10000, f"{v['name']}: broker RSS missing or implausible: {b}")
    check(b.get("cpu_ms", -1) >= 0 and "cpu_ms_per_1000_wakes" in b, f"{v['name']}: broker CPU missing: {b}")
    check(v.get("server_start_ms", 0) > 0, f"{v['name']}: no server start time")
# servers/NN-<variant>/ per variant; servers/rabbitmq/ is the node the variants share (warm starts)
for d in glob.glob(os.path.join(rundir, "servers", "[0-9][0-9]-*")):
    csvs = glob.glob(os.path.join(d, "*.csv"))
    check(csvs, f"{d}: no broker sample series")
    with open(csvs[0]) as f:
        check(f.readline().strip() == "t_s,pid,cpu_user_ms,cpu_sys_ms,rss_kib", f"{csvs[0]}: unexpected header")
pids = check_all_gone(rundir, "after a normal run")
print(f"OK: {len(rs)} wakes, no loss over AMQP and MQTT on RabbitMQ; "
      f"start {[v['server_start_ms'] for v in sm['variants']]} ms; {len(pids)} broker PIDs gone")

# 2. Ctrl-C while the broker is up: exit 130, nothing left.
scenario = wd.file("long.yaml", """
name: long
duration: 60s
fleets:
  - name: a
    count: 4
    wake_every: 500ms
matrix:
  protocol: amqp
  broker: rabbitmq
  qos: 1
""")
out = os.path.join(wd.path, "results-sigint")
p = subprocess.Popen([dormant, "run", scenario, "-o", out, "--no-progress"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 60
ready = False
while time.monotonic() < deadline and not ready and p.poll() is None:
    for log in glob.glob(os.path.join(out, "*", "servers", "*", "log", "rabbitmq.log")):
        with open(log, errors="replace") as f:
            ready = "Server startup complete" in f.read()
    time.sleep(0.2)
check(ready, "RabbitMQ did not report startup within 60 s")
time.sleep(2)
p.send_signal(signal.SIGINT)
try:
    stdout, stderr = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    fail("dormant did not exit within 60 s of SIGINT")
rundir = sorted(glob.glob(os.path.join(out, "*")))[-1]
check(p.returncode == 130, f"exit {p.returncode}, expected 130; stderr {stderr}")
pids = check_all_gone(rundir, "after SIGINT")
print(f"OK: SIGINT exit 130, {len(pids)} broker PIDs gone")


def node_pids(out):
    """[(pidfile, pid, name)] of the shared node's processes, recorded at spawn."""
    found = []
    for d in glob.glob(os.path.join(out, "*", "servers", "rabbitmq")):
        for pidfile, name in (("rabbitmq.pid", "beam.smp"), ("epmd.pid", "epmd")):
            p = os.path.join(d, pidfile)
            if os.path.exists(p):
                found.append((p, int(open(p).read()), name))
    return found


def interrupt(name, scenario_text, trigger, signals=1, gap=0.3, delay=0.0):
    """Runs the scenario, waits until TRIGGER(out) is true and DELAY more, sends SIGINT
    SIGNALS times GAP apart; returns (exit, stderr, seconds from the last SIGINT to exit, rundir)."""
    scenario = wd.file(f"{name}.yaml", scenario_text)
    out = os.path.join(wd.path, f"results-{name}")
    p = subprocess.Popen([dormant, "run", scenario, "-o", out, "--no-progress", "--no-plot"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None and not trigger(out):
        time.sleep(0.02)
    if p.poll() is not None:
        fail(f"{name}: dormant ended before the moment to interrupt: {p.communicate()}")
    check(trigger(out), f"{name}: the moment to interrupt did not come within 60 s")
    time.sleep(delay)
    for k in range(signals):
        if k:
            time.sleep(gap)
        p.send_signal(signal.SIGINT)
        t = time.monotonic()
    try:
        _, stderr = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        fail(f"{name}: dormant did not exit within 60 s of SIGINT")
    runs = sorted(glob.glob(os.path.join(out, "*")))
    return p.returncode, stderr, time.monotonic() - t, out, runs[-1] if runs else None


def nothing_left(out, when):
    pids = node_pids(out)
    check(pids, f"{when}: no pid files in servers/rabbitmq")
    left = [(f, p, n) for f, p, n in pids if running(p, n)]
    check(not left, f"{when}: still running: {left}")
    return pids


amqp_text = """
name: {name}
duration: 10s
fleets:
  - name: a
    count: 4
    wake_every: 1s
{extra}
matrix:
  protocol: amqp
  qos: 1
"""

# 3. Ctrl-C during RabbitMQ's start-up (seconds long): exit 130, the variant says interrupted.
rc, err, took, out, rundir = interrupt("startup", amqp_text.format(name="startup", extra=""),
                                       lambda out: bool(glob.glob(os.path.join(out, "*", "servers", "rabbitmq",
                                                                               "rabbitmq.pid"))), delay=1.0)
check(rc == 130, f"Ctrl-C in RabbitMQ's start-up: exit {rc}, expected 130; stderr {err}")
v = summary(rundir)["variants"][0]
check(v["interrupted"], f"Ctrl-C in RabbitMQ's start-up: summary says interrupted {v['interrupted']}")
pids = nothing_left(out, "after Ctrl-C in start-up")
print(f"OK: Ctrl-C during RabbitMQ start-up: exit 130 after {took:.1f} s, variant interrupted, {len(pids)} PIDs gone")

# 4. Ctrl-C while rabbitmqctl eval declares the AMQP command queues.
rc, err, took, out, rundir = interrupt(
    "eval", amqp_text.format(name="eval", extra="    downlink: true\n    command_every: 2s"),
    lambda out: bool(glob.glob(os.path.join(out, "*", "servers", "rabbitmq", "log", "command-queues.log"))))
check(rc == 130, f"Ctrl-C in rabbitmqctl eval: exit {rc}, expected 130; stderr {err}")
v = summary(rundir)["variants"][0]
check(v["interrupted"], f"Ctrl-C in rabbitmqctl eval: summary says interrupted {v['interrupted']}")
pids = nothing_left(out, "after Ctrl-C in rabbitmqctl eval")
print(f"OK: Ctrl-C during rabbitmqctl eval: exit 130 after {took:.1f} s, variant interrupted, {len(pids)} PIDs gone")

# 5. A second Ctrl-C while the first stops the starting broker: out at once, nothing left.
rc, err, took, out, rundir = interrupt("twice", amqp_text.format(name="twice", extra=""),
                                       lambda out: bool(glob.glob(os.path.join(out, "*", "servers", "rabbitmq",
                                                                               "rabbitmq.pid"))), signals=2, delay=1.0)
check(rc == 130, f"second Ctrl-C: exit {rc}, expected 130; stderr {err}")
check(took < 1.5, f"second Ctrl-C: dormant took {took:.1f} s to exit, not at once")
pids = nothing_left(out, "after a second Ctrl-C")
print(f"OK: second Ctrl-C outside the window: exit 130 {took:.2f} s after it, {len(pids)} PIDs gone")
