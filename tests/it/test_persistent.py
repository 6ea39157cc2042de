#!/usr/bin/env python3
"""connection: persistent for MQTT: the device connects once and keeps the connection through its sleeps.

On loopback (a matrix connection axis: per-wake beside persistent, same fleet), with keepalive 2 s and a wake
every 5 s, against a capture on lo of the devices' side (127.80.0.0/14):
- every wake ok; persistent rows say connection=persistent, connected=1 on each device's first wake only,
  reconnected=0, and every wake of a device has the same 4-tuple; the capture has exactly one SYN per
  persistent device (one connection for the whole run) and no FIN before the run's end;
- paho's PINGREQs (2 bytes C0 00) go out keepalive to keepalive + 1.3 s after the connection's last MQTT
  packet, every one answered by a PINGRESP (D0 00); the rows' keepalives and sleep_* count them: every
  PINGREQ of a sleep that ended in a wake is in that wake's row (54 IP bytes each way with timestamps);
- a reused wake carries no TCP, setup or teardown bytes, and fewer bytes than a per-wake wake; the
  summary names both variants.
Behind a link (root and /dev/net/tun only; in a private network namespace, so another run's emulator is
no obstacle), a profile whose nat_timeout_s (1 s) is shorter than the keep-alive:
- fleet "asleep" (keepalive 2 s, a wake every 8 s): the NAT drops the flow silently, paho's PINGREQ goes
  unanswered, paho closes while the device sleeps, the next wake reconnects (reconnected=1, with why) on
  a new port, nat_drops > 0, and the sleep's energy (the PINGREQ and its retransmissions) is in its row;
- fleet "awake" (keepalive 4 s, a wake every 5 s): the wake comes before paho gives up, its PUBLISH goes
  nowhere, paho's keep-alive gives up during the wake, which reconnects and publishes again: ok, with
  reconnect_why "during the wake: ...".
Needs mosquitto and tshark.
"""
import collections
import os
import shutil
import statistics
import subprocess
import sys

from itlib import Capture, Workdir, check, fail, need, rows, run_dormant, show_server_logs, summary, test_link

need("mosquitto", "tshark")
dormant = sys.argv[1]
wd = Workdir("persistent")
KEEPALIVE = 2.0
n = lambda r, k: int(r[k])

scenario = wd.file("persistent.yaml", """
name: persistent
seed: 3
duration: 16s
fleets:
  - name: meters
    count: 3
    wake_every: 5s
    keepalive: 2s
    payload: 48B
    qos: 1
matrix:
  connection: [per-wake, persistent]
""")

cap = Capture(os.path.join(wd.path, "lo.pcapng"), "net 127.80.0.0/14")
rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "results"), timeout=300)
cap.stop()
print(out)
if rc != 0:
    show_server_logs(rundir)
    fail(f"dormant exited {rc}: {err}")
rs, sm = rows(rundir), summary(rundir)
names = [v["name"] for v in sm["variants"]]
check(names == ["mqtt connection=per-wake", "mqtt connection=persistent"], f"variants {names}")
check("connection=persistent" in out, "the printed summary does not name the persistent variant")
bad = [r for r in rs if r["outcome"] != "ok"]
check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")
per = [r for r in rs if r["variant"] == "mqtt connection=per-wake"]
pers = [r for r in rs if r["variant"] == "mqtt connection=persistent"]
check(per and pers, f"{len(per)} per-wake and {len(pers)} persistent rows")
check(all(r["connection"] == "per-wake" for r in per), "a per-wake row does not say connection=per-wake")
check(all(r["connected"] == "1" and r["reconnected"] == "0" for r in per), "per-wake rows: not connected=1 reconnected=0")

# Rows: one connection per device, connected only on its first wake.
by_dev = collections.defaultdict(list)
for r in pers:
    by_dev[r["device"]].append(r)
for d, dr in by_dev.items():
    dr.sort(key=lambda r: n(r, "seq"))
    check(len(dr) >= 3, f"device {d}: {len(dr)} persistent wakes, the plan has 3 or more")
    check(all(r["connection"] == "persistent" for r in dr), f"device {d}: a row without connection=persistent")
    check([n(r, "connected") for r in dr] == [1] + [0] * (len(dr) - 1),
          f"device {d}: connected {[r['connected'] for r in dr]}, want 1 then 0s")
    check(all(n(r, "reconnected") == 0 for r in dr), f"device {d}: reconnected on loopback")
    tuples = {(r["local_addr"], r["local_port"], r["server_port"]) for r in dr}
    check(len(tuples) == 1, f"device {d}: its wakes used {len(tuples)} connections: {sorted(tuples)}")
    first = dr[0]
    check(n(first, "ip_up_tcp") > 0 and n(first, "plain_up_setup") > 0, f"device {d}: first wake without set-up")
    check(first["sleep_ip_up"] == "", f"device {d}: the first wake reports a sleep before it")
    for r in dr[1:]:
        for k in ("ip_up_tcp", "ip_down_tcp", "plain_up_setup", "plain_down_setup", "plain_up_teardown",
                  "ip_up_teardown"):
            check(n(r, k) == 0, f"device {d} seq {r['seq']}: a reused wake has {k}={r[k]}")
        check(n(r, "plain_up_data") > 0 and n(r, "acked") == 1, f"device {d} seq {r['seq']}: no data")
        check(r["sleep_us"] != "" and n(r, "sleep_us") > 3_000_000, f"device {d}: sleep_us {r['sleep_us']}")
        check(n(r, "keepalives") >= 1, f"device {d} seq {r['seq']}: no keep-alive in a sleep of "
              f"{n(r, 'sleep_us') / 1e6:.1f} s at keepalive {KEEPALIVE} s")
        # each PINGREQ is 2 bytes of MQTT in a segment of its own, answered by a 2-byte PINGRESP
        check(n(r, "sleep_ip_up") >= 54 * n(r, "keepalives"), f"device {d}: sleep_ip_up {r['sleep_ip_up']} "
              f"for {r['keepalives']} PINGREQs")
        check(n(r, "sleep_ip_down") >= 54 * n(r, "keepalives"), f"device {d}: sleep_ip_down {r['sleep_ip_down']}")

# The capture: per connection (device addr, port, server port), its SYNs, FINs and MQTT packets in time.
txt = subprocess.run(["tshark", "-r", cap.path, "-T", "fields", "-E", "separator=,", "-e", "frame.time_relative",
                      "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tcp.flags",
                      "-e", "tcp.len", "-e", "tcp.payload"], capture_output=True, text=True, check=True).stdout
flows = collections.defaultdict(list)  # key -> [(t, up, flags, len, payload)]
for line in txt.splitlines():
    f = line.split(",")
    if len(f) < 8 or not f[2]:
        continue
    up = f[1].startswith("127.8")
    key = (f[1], f[2], f[4]) if up else (f[3], f[4], f[2])
    flows[key].append((float(f[0]), up, int(f[5], 16), int(f[6] or 0), f[7].replace(":", "").lower()))
ports = {r["server_port"] for r in pers}
check(len(ports) == 1, f"persistent rows name server ports {ports}")
sport = ports.pop()
pflows = {k: v for k, v in flows.items() if k[2] == sport}
check(len(pflows) == len(by_dev), f"{len(pflows)} connections to the persistent variant's broker for "
      f"{len(by_dev)} devices: {sorted(pflows)}")
pings = gaps = 0
for key, pk in pflows.items():
    syns = [p for p in pk if p[1] and p[2] & 0x02]
    check(len(syns) == 1, f"{key}: {len(syns)} SYNs from the device, one connection wanted")
    mqtt = [p for p in pk if p[3] > 0]
    for i, p in enumerate(mqtt):
        if p[1] and p[4] == "c000":
            pings += 1
            gap = p[0] - mqtt[i - 1][0]
            check(KEEPALIVE - 0.05 <= gap <= KEEPALIVE + 1.3,
                  f"{key}: PINGREQ {gap:.2f} s after the connection's last packet, keepalive {KEEPALIVE} s")
            nxt = mqtt[i + 1] if i + 1 < len(mqtt) else None
            check(nxt is not None and not nxt[1] and nxt[4] == "d000", f"{key}: a PINGREQ without its PINGRESP")
            gaps += 1
    fins = [p for p in pk if p[1] and p[2] & 0x01]
    check(len(fins) <= 1, f"{key}: {len(fins)} FINs from the device: the connection was closed and reopened")
    check(not fins or fins[0][0] >= max(p[0] for p in mqtt if p[1] and p[4] != "c000"),
          f"{key}: the device closed the connection before its last publish")
check(pings >= 2 * len(by_dev), f"only {pings} PINGREQs in the capture")
in_rows = sum(n(r, "keepalives") for r in pers if r["keepalives"])
check(in_rows <= pings and in_rows >= pings - 2 * len(by_dev),
      f"rows count {in_rows} keep-alives, the capture has {pings} (the last sleep of each device has no row)")

# Bytes per wake: the reused wakes against per-wake ones.
wire = lambda r: n(r, "ip_up") + n(r, "ip_down")
pw = statistics.mean(wire(r) for r in per)
reused = [r for r in pers if n(r, "connected") == 0]
pr = statistics.mean(wire(r) for r in reused)
ka = statistics.mean((n(r, "sleep_ip_up") + n(r, "sleep_ip_down")) / max(1, n(r, "keepalives")) for r in reused)
check(pr < pw, f"a reused wake moves {pr:.0f} IP bytes, a per-wake wake {pw:.0f}")
print(f"loopback: per-wake {pw:.0f} B/wake, persistent first {statistics.mean(wire(r) for r in pers if n(r, 'connected')):.0f}"
      f" B, reused {pr:.0f} B/wake, keep-alive {ka:.0f} B each (up+down), {pings} PINGREQs, gaps checked {gaps}")

# ---- behind a link whose NAT forgets the flow before the keep-alive comes ----
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("OK (loopback); the NAT case needs root and /dev/net/tun: skipped")
    sys.exit(0)
test_link(wd, "nat1", delay_ms=20, up_kbps=1000, down_kbps=1000, link_overhead_bytes=0, tail_ms=500,
          nat_timeout_s=1)  # the NAT forgets a flow before the keep-alive comes
nat = wd.file("nat.yaml", """
name: nat
seed: 5
duration: 17s
wake_timeout: 20s
fleets:
  - name: asleep
    count: 2
    wake_every: 8s
    keepalive: 2s
    connection: persistent
    link: nat1
  - name: awake
    count: 1
    wake_every: 5s
    keepalive: 4s
    connection: persistent
    link: nat1
""")
# A private network namespace (loopback up): the emulator's 198.19.0.1 cannot be another run's there.
natout = os.path.join(wd.path, "nat")
cmd = [dormant, "run", nat, "-o", natout, "--no-progress", "--no-plot"]
if shutil.which("unshare"):
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + cmd
p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
rc, out, err = p.returncode, p.stdout, p.stderr
runs = sorted(os.path.join(natout, d) for d in os.listdir(natout)) if os.path.isdir(natout) else []
rundir = runs[-1] if runs else None
print(out)
if rc != 0:
    show_server_logs(rundir)
    fail(f"dormant exited {rc} behind the NAT link: {err}")
rs = rows(rundir)
by_dev = collections.defaultdict(list)
for r in rs:
    by_dev[r["device"]].append(r)
drops = 0
awake = [r for r in rs if r["fleet"] == "awake"]
check(all(r["outcome"] == "ok" for r in awake), f"NAT: an awake wake failed: {[r for r in awake if r['outcome'] != 'ok']}")
during = [r for r in awake if r["reconnect_why"].startswith("during the wake")]
check(during, f"NAT: no wake of the awake fleet reconnected during the wake: {[(r['seq'], r['reconnected']) for r in awake]}")
for r in during:
    check(n(r, "connected") == 1 and n(r, "reconnected") == 1 and n(r, "acked") == 1 and n(r, "nat_drops") > 0,
          f"NAT: a wake that reconnected during the wake: {r}")
    print(f"NAT, awake: seq {r['seq']} reconnected during the wake in {n(r, 't_wake_us') / 1e6:.1f} s, "
          f"{wire(r)} B, nat_drops {r['nat_drops']}, {r['energy_mj']} mJ")
for d, dr in by_dev.items():
    if dr[0]["fleet"] != "asleep":
        continue
    dr.sort(key=lambda r: n(r, "seq"))
    check(len(dr) >= 2, f"NAT: device {d} has {len(dr)} wakes")
    check(n(dr[0], "connected") == 1 and n(dr[0], "reconnected") == 0, f"NAT: device {d}'s first wake")
    for r in dr[1:]:
        check(r["outcome"] == "ok", f"NAT: device {d} seq {r['seq']} failed: {r['error_kind']} {r['error_detail']}")
        check(n(r, "connected") == 1 and n(r, "reconnected") == 1,
              f"NAT: device {d} seq {r['seq']}: connected {r['connected']} reconnected {r['reconnected']}, "
              f"the NAT forgot the flow after 1 s, the keep-alive is 2 s")
        check(r["reconnect_why"] != "", f"NAT: device {d}: reconnected without saying why")
        check(n(r, "ip_up_tcp") > 0, f"NAT: device {d}: the reconnect paid no TCP handshake")
        check(r["local_port"] != dr[0]["local_port"] or r["local_addr"] != dr[0]["local_addr"],
              f"NAT: device {d}: the reconnect used the old port")
        check(n(r, "nat_drops") > 0, f"NAT: device {d} seq {r['seq']}: nat_drops {r['nat_drops']}")
        check(r["sleep_energy_mj"] != "" and float(r["sleep_energy_mj"]) > 0,
              f"NAT: device {d}: sleep_energy_mj {r['sleep_energy_mj']!r} though the radio sent a PINGREQ")
        drops += n(r, "nat_drops")
        print(f"NAT: device {d} seq {r['seq']}: {r['reconnect_why']}; nat_drops {r['nat_drops']}, sleep "
              f"{r['sleep_ip_up']}/{r['sleep_ip_down']} B up/down, {r['keepalives']} PINGREQ, "
              f"sleep energy {r['sleep_energy_mj']} mJ, wake {wire(r)} B, {r['energy_mj']} mJ")
print(f"OK: persistent MQTT on loopback and behind a NAT that forgets idle flows ({drops} packets dropped)")
