#!/usr/bin/env python3
"""The analytic model (sim/core/model.h) against the emulator (sim/net/linkemu.c).

One scenario, run on two lossless links written here (a matrix `link:` axis,
so each protocol runs once on each): "fast", 1 ms each way at 100,000 kbit/s,
and "slow", 200 ms each way at 50 kbit/s. Then `dormant model RUN --link slow`
replays the fast variants' flight traces (packets.csv) on the slow profile,
and the prediction is checked against what the slow variants measured: the
medians of wake time, active time (without the run's wait after the last
packet) and energy per wake, within TOL, for each protocol in plaintext and
for MQTT over TLS (ECDSA), full handshakes and resumed ones. The
same command gives the slow variants' own traces replayed on their own link
(the model's identity: it must give the measured figures back closely).
Checks also that packets.csv has every ok wake, whole rows, and that its
bytes add up to wakes.csv's ip_up / ip_down.
First, without servers or root: `dormant model` on a hand-written run
directory gives the figures worked by hand in tests/unit/test_model.c.
The emulated part needs root and /dev/net/tun (skips otherwise), mosquitto, nginx; AMQP
(RabbitMQ) is added when rabbitmq-server is installed.
"""
import collections
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from itlib import SKIP, Workdir, check, fail, need, rows, run_dormant, show_server_logs, test_link

dormant = sys.argv[1]
wd = Workdir("model")

# ---- `dormant model` on a hand-written run (no servers, no root) ----
# The trace of sim/core/model.h's unit test (tests/unit/test_model.c): a TCP
# handshake and an MQTT CONNECT, 10 ms each way at 100 kbit/s, on the
# "hand" link; on 100 ms each way, 10 kbit/s up and 20 down, with the
# profile's powers below, the model gives 618.0 ms and 702.994 mJ. A failed
# wake's packets are left out; measured figures appear for the variant that
# ran on a link of the target's name.
HAND = """name: {name}
delay_ms: 100
up_kbps: 10
down_kbps: 20
loss_up: 0
loss_down: 0
queue_packets: 100
mtu: 1000
link_overhead_bytes: 0
attach_ms: 1000
attach_mj: 500
nat_timeout_s: 0
tx_mw: 800
rx_mw: 200
idle_mw: 20
tail_ms: 5000
tail_mw: 10
release_assist: false
sleep_uw: 15
"""
hand = os.path.join(wd.path, "hand-run")
os.makedirs(hand)
target = wd.file("links/slowhand.yaml", HAND.format(name="slowhand"))
with open(os.path.join(hand, "wakes.csv"), "w") as f:
    f.write("variant,protocol,outcome,device,seq,t_wake_us,energy_mj,link\n"
            "a,mqtt,ok,0,0,68240,1.5,hand\n"
            "a,mqtt,failed,1,0,9000,,hand\n"
            "b,mqtt,ok,0,0,68240,2.5,slowhand\n")
trace = [(1000, 4800, "up", 60, "S", 1), (25800, 4800, "down", 60, "SA", 1), (30800, 4160, "up", 52, "A", 0),
         (34960, 8000, "up", 100, "PA", 1), (63460, 4480, "down", 56, "PA", 1)]
with open(os.path.join(hand, "packets.csv"), "w") as f:
    f.write("variant,device,seq,offset_us,air_us,dir,ip_bytes,lost,flags,data,delay_us,settle_us\n")
    for v, dev in (("a", 0), ("a", 1), ("b", 0)):
        for off, air, d, b, fl, data in trace:
            f.write(f"{v},{dev},0,{off},{air},{d},{b},0,{fl},{data},10000,0\n")
p = subprocess.run([dormant, "model", hand, "--link", target, "--json"], capture_output=True, text=True)
check(p.returncode == 0, f"model of the hand-written run: exit {p.returncode}: {p.stderr}")
hv = {v["name"]: v for v in json.loads(p.stdout)["variants"]}
check(hv["a"]["wakes"] == 1 and hv["a"]["measured"] is None, f"variant a: {hv['a']}")
for v in ("a", "b"):
    pr = hv[v]["predicted"]
    check(abs(pr["wake_ms_p50"] - 618.0) < 1e-3 and abs(pr["energy_mj_p50"] - 702.994) < 1e-3,
          f"variant {v}: predicted {pr}, by hand 618.0 ms and 702.994 mJ")
check(hv["b"]["measured"]["wake_ms_p50"] == 68.24 and abs(hv["b"]["ratio"]["energy_mj"] - 702.994 / 2.5) < 1e-3,
      f"variant b: measured {hv['b']['measured']}, ratio {hv['b']['ratio']}")
p = subprocess.run([dormant, "model", hand, "--link", target, "--variant", "b"], capture_output=True, text=True)
check(p.returncode == 0 and "618.0" in p.stdout and not any(l.startswith("a ") for l in p.stdout.splitlines()),
      f"--variant b: {p.stdout}")
print("OK: dormant model on a hand-written run: 618.0 ms and 702.994 mJ as by hand, failed wakes left out")

need("mosquitto", "nginx")
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("SKIP: links need root and /dev/net/tun")
    sys.exit(SKIP)
protocols = ["mqtt", "http"]
if shutil.which("rabbitmq-server") or os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
    protocols.append("amqp")

# Model / emulated, medians per variant. Measured on this machine type
# (2 cores, sanitized build, five runs): time within 1.1 % (AMQP; MQTT, HTTP
# and MQTT over TLS within 0.6 %), energy within 2.3 % (AMQP: on the slow
# link its TCP sends three more bare ACKs and the broker a last RST, which
# the fast trace does not have; the others within 0.2 %). The tolerance
# leaves room for a loaded VM's host times; see README "Analytic model".
TOL = {"wake_ms": 0.03, "active_ms": 0.03, "energy_mj": 0.04}
# AMQP's energy is the one figure the slow link's TCP shapes beyond the
# model: the bare ACKs it adds (README "Analytic model") are 2.5 to 3 more
# up per wake, and the fast trace's own count varies with the broker's
# timing (13.5 to 13.9 segments up), so the ratio moved 0.967-0.982 across
# runs on this machine type, 0.007 from the 4 % the others are held to;
# a CI run failed this test with its figure cut from the log.
TOL_BY_PROTOCOL = {"amqp": {"energy_mj": 0.06}}

links = {"fast": (1, 100000), "slow": (200, 50)}
for name, (delay, kbps) in links.items():
    test_link(wd, name, delay_ms=delay, up_kbps=kbps, down_kbps=kbps)  # lossless: the model has no loss
scenario = wd.file("model.yaml", f"""
name: model
seed: 5
duration: 10s
wake_timeout: 1m
fleets:
  - name: meters
    count: 4
    wake_every: 5s
    jitter: 1s
    payload: 48B
    qos: 1
matrix:
  - protocol: [{", ".join(protocols)}]
    link: [fast, slow]
  - protocol: [mqtt]
    tls: ecdsa
    resume: [none, session-id]
    link: [fast, slow]
""")

# One emulator per network namespace: another run with links (another
# engineer's, another test) makes this one exit 4 at once. Wait for it, up
# to a deadline, then skip: the machine is busy, nothing is wrong here.
deadline = time.monotonic() + 240
while True:
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "results"), timeout=500,
                                       extra=("--no-plot",))
    if rc != 4 or "already in use" not in err:
        break
    if time.monotonic() > deadline:
        print(f"SKIP: another run holds the link emulator's address for 4 minutes: {err.strip()}")
        sys.exit(SKIP)
    print("another run with links is on; waiting 10 s")
    time.sleep(10)
if rc != 0:
    print(out)
    show_server_logs(rundir)
    fail(f"dormant exited {rc}: {err}")
rs = rows(rundir)
bad = [r for r in rs if r["outcome"] != "ok"]
if bad:
    print(out)
check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")

# packets.csv: whole rows, every ok wake, its bytes = the row's IP bytes.
with open(os.path.join(rundir, "packets.csv")) as f:
    text = f.read()
check(text.endswith("\n"), "packets.csv does not end in a whole row")
pk = list(csv.DictReader(text.splitlines()))
check(list(pk[0].keys()) == ["variant", "device", "seq", "offset_us", "air_us", "dir", "ip_bytes", "lost",
                             "flags", "data", "delay_us", "settle_us"], f"packets.csv header {list(pk[0].keys())}")
per_wake = collections.defaultdict(lambda: [0, 0])
for p in pk:
    per_wake[(p["variant"], p["device"], p["seq"])][p["dir"] == "down"] += int(p["ip_bytes"])
for r in rs:
    got = per_wake.get((r["variant"], r["device"], r["seq"]))
    check(got is not None, f"{r['variant']} {r['device']}/{r['seq']}: no packets in packets.csv")
    # the trace stops at the wake's end, the row's counts two round trips later: at most a last ACK or FIN more
    check(0 <= int(r["ip_up"]) - got[0] <= 2 * 52 and 0 <= int(r["ip_down"]) - got[1] <= 2 * 52,
          f"{r['variant']} {r['device']}/{r['seq']}: packets.csv has {got[0]}/{got[1]} B, "
          f"wakes.csv {r['ip_up']}/{r['ip_down']}")


def model(link):
    p = subprocess.run([dormant, "model", rundir, "--link", link, "--json"], capture_output=True, text=True)
    check(p.returncode == 0, f"dormant model --link {link}: exit {p.returncode}: {p.stderr}")
    return {v["name"]: v for v in json.loads(p.stdout)["variants"]}


pred = model(os.path.join(wd.path, "links", "slow.yaml"))
table = subprocess.run([dormant, "model", rundir, "--link", os.path.join(wd.path, "links", "slow.yaml")],
                       capture_output=True, text=True).stdout
# The comparison and any disagreement come first, the run's and the model's
# long tables after them: ctest's log of a failure keeps its head and tail.
misses = []
pairs = [(n, n.replace("link=fast", "link=slow")) for n in pred if "link=fast" in n]
check(len(pairs) == len(protocols) + 2, f"variants on the fast link: {[a for a, _ in pairs]}")
w = max(len(a) for a, _ in pairs) - len(" link=fast")
print(f"{'variant':{w}} {'':10}" + "".join(f" {'model':>9} {'emulated':>9} {'ratio':>6}  " for k in TOL) +
      f"   identity ({', '.join(TOL)})")
print(f"{'':{w + 11}}" + "".join(f" {k:>26}  " for k in TOL))
worst = {k: 1.0 for k in TOL}
for fast, slow in pairs:
    f, s = pred[fast], pred.get(slow)
    proto = fast.replace(" link=fast", "")
    check(s is not None, f"{proto}: no variant on the slow link in the model's output")
    check(f["wakes"] > 0 and s["measured"] is not None, f"{proto}: nothing modelled or measured")
    line = f"{proto:{w}} fast->slow"
    for k in TOL:
        tol = TOL_BY_PROTOCOL.get(proto, {}).get(k, TOL[k])
        m, e = f["predicted"][k + "_p50"], s["measured"][k + "_p50"]
        q = m / e
        line += f" {m:9.1f} {e:9.1f} {q:6.3f}  "
        if abs(q - 1) > tol:
            misses.append(f"{proto}: {k} predicted from the fast link {m:.1f}, emulated on the slow "
                          f"link {e:.1f}: ratio {q:.3f}, outside 1 +- {tol}")
        worst[k] = max(worst[k], q, 1 / q)
        # the slow run's own traces on its own link: the model's identity
        qi = s["ratio"][k]
        if abs(qi - 1) > tol:
            misses.append(f"{proto}: {k} of the slow run replayed on its own link: ratio {qi:.3f}, "
                          f"outside 1 +- {tol}")
    line += "   " + "/".join(f"{s['ratio'][k]:.3f}" for k in TOL)
    print(line)
for m in misses:
    print("MISS: " + m)
print()
print(out)
print(table)
check(not misses, f"{len(misses)} figures outside their tolerance, the first: {misses[0] if misses else ''}")
print("OK: the model from the fast link agrees with the slow link's emulation within " +
      ", ".join(f"{(worst[k] - 1) * 100:.1f} % ({k}, tolerance {TOL[k] * 100:.0f} %)" for k in TOL) +
      "; AMQP's energy is held to 6 %")
