#!/usr/bin/env python3
"""connection: persistent for MQTT (paho on mosquitto), AMQP 1.0 (proton on RabbitMQ) or HTTP (curl through nginx).

Usage: test_persistent_kept.py DORMANT mqtt|amqp|http. The keep-alive: MQTT's PINGREQ, AMQP's empty frame,
HTTP's command poll.
On loopback (a matrix connection axis: per-wake beside persistent), keepalive 2 s, a wake every 5 s, against a
capture on lo of the devices' side (127.80.0.0/14):
- every wake ok; persistent rows: connected=1 on each device's first wake only, one 4-tuple per device, no
  sleep before the first; the capture has one SYN per persistent device;
- MQTT: paho's PINGREQ (C0 00) goes out keepalive to keepalive + 1.3 s after the connection's last MQTT packet
  (its receive thread looks about once a second), each answered by a PINGRESP (D0 00), 54 B each way;
- AMQP: the keep-alive is AMQP's empty frame (8 bytes: 00 00 00 08 02 00 00 00), sent by the device only,
  keepalive (within 0-60 ms) after the device's last output: RabbitMQ announces an idle-time-out of twice the
  keepalive (its open's idle-time-out field, read from the capture), and sends none to the device, which
  announces none; the device never detaches, ends or closes;
- HTTP: the keep-alive is a poll, GET /devices/dev<N>/commands, keepalive (within 0-60 ms) after the end of the
  connection's last response, each answered 204;
- MQTT and HTTP: the device sends no FIN before its last publish;
- the rows' keepalives equal the capture's keep-alives in each sleep that ended in a wake, and sleep_ip_up
  carries at least their bytes (60 B for an empty frame in a segment of its own);
- a reused wake has no TCP, setup or teardown bytes and fewer bytes than a per-wake wake.
Behind a link (root and /dev/net/tun; in a private network namespace), a profile whose NAT forgets a flow after
1 s, keepalive 3 s: the empty frame goes nowhere, the modem's TCP gives up after a keepalive without an
acknowledgement (TCP_USER_TIMEOUT), and
- fleet "asleep" (a wake every 12 s): the next wake reconnects (reconnected=1, why) on a new port, with the
  sleep's dropped packets (nat_drops) and energy in its row;
- fleet "awake" (a wake every 4 s, before TCP gives up): the transfer goes nowhere too, the connection dies
  during the wake, which reconnects and transfers again: ok, reconnect_why "during the wake: ...";
- their battery life at other periods is not given (the NAT forgets the connection between keep-alives), while
  fleet "kept", on a link without a NAT timeout, gets it from its rows by hand: the mean wake on the kept
  connection plus floor((P - mean wake) / keepalive) times the mean measured keep-alive.
Behind the NAT, MQTT notices without TCP's help: paho closes when no PINGRESP came within a keepalive.
Needs mosquitto (mqtt), RabbitMQ (amqp) or nginx and mosquitto (http), and tshark.
"""
import collections
import os
import statistics
import subprocess
import sys

from itlib import PRIVATE_NETNS, Capture, Workdir, check, fail, need, rows, run_ok, summary, test_link

dormant, proto = sys.argv[1], sys.argv[2]
if proto == "mqtt":
    need("mosquitto", "tshark")
elif proto == "amqp":
    need("/usr/lib/rabbitmq/bin/rabbitmq-server", "tshark")
elif proto == "http":
    need("nginx", "mosquitto", "tshark")
else:
    fail(f"protocol {proto!r}: mqtt, amqp or http")
wd = Workdir(f"persistent_{proto}")
KEEPALIVE = 2.0
EMPTY = "0000000802000000"
POLL = b"GET /devices/dev".hex()
NO_CONTENT = b"HTTP/1.1 204".hex()


def is_keepalive(payload):
    """A device's keep-alive, from its TCP payload (hex)."""
    return {"mqtt": payload == "c000", "amqp": payload == EMPTY, "http": payload.startswith(POLL)}[proto]
n = lambda r, k: int(r[k])
wire = lambda r: n(r, "ip_up") + n(r, "ip_down")

scenario = wd.file(f"persistent_{proto}.yaml", f"""
name: persistent-{proto}
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
  protocol: {proto}
  connection: [per-wake, persistent]
""")

cap = Capture(os.path.join(wd.path, "lo.pcapng"), "net 127.80.0.0/14")
try:
    rundir = run_ok(dormant, scenario, os.path.join(wd.path, "results"), timeout=400)
finally:
    cap.stop()
rs, sm = rows(rundir), summary(rundir)
names = [v["name"] for v in sm["variants"]]
check(names == [f"{proto} connection=per-wake", f"{proto} connection=persistent"], f"variants {names}")
bad = [r for r in rs if r["outcome"] != "ok"]
check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")
per = [r for r in rs if r["variant"] == f"{proto} connection=per-wake"]
pers = [r for r in rs if r["variant"] == f"{proto} connection=persistent"]
check(per and pers, f"{len(per)} per-wake and {len(pers)} persistent rows")

by_dev = collections.defaultdict(list)
for r in pers:
    by_dev[r["device"]].append(r)
for d, dr in by_dev.items():
    dr.sort(key=lambda r: n(r, "seq"))
    check(len(dr) >= 3, f"device {d}: {len(dr)} persistent wakes, the plan has 3 or more")
    check([n(r, "connected") for r in dr] == [1] + [0] * (len(dr) - 1),
          f"device {d}: connected {[r['connected'] for r in dr]}, want 1 then 0s")
    check(all(n(r, "reconnected") == 0 for r in dr), f"device {d}: reconnected on loopback")
    tuples = {(r["local_addr"], r["local_port"], r["server_port"]) for r in dr}
    check(len(tuples) == 1, f"device {d}: its wakes used {len(tuples)} connections: {sorted(tuples)}")
    check(n(dr[0], "ip_up_tcp") > 0 and dr[0]["sleep_ip_up"] == "",
          f"device {d}: the first wake has no TCP handshake or reports a sleep before it")
    for r in dr[1:]:
        for k in ("ip_up_tcp", "ip_down_tcp", "plain_up_setup", "plain_down_setup", "plain_up_teardown",
                  "ip_up_teardown"):
            check(n(r, k) == 0, f"device {d} seq {r['seq']}: a reused wake has {k}={r[k]}")
        check(n(r, "plain_up_data") > 0 and n(r, "acked") == 1, f"device {d} seq {r['seq']}: no data")
        check(r["sleep_us"] != "" and n(r, "sleep_us") > 3_000_000, f"device {d}: sleep_us {r['sleep_us']}")
        check(n(r, "keepalives") >= 1, f"device {d} seq {r['seq']}: no keep-alive in a sleep of "
              f"{n(r, 'sleep_us') / 1e6:.1f} s at keepalive {KEEPALIVE} s")
        least = {"mqtt": 54, "amqp": 60, "http": 52 + len(POLL) // 2}[proto]
        check(n(r, "sleep_ip_up") >= least * n(r, "keepalives"),
              f"device {d}: sleep_ip_up {r['sleep_ip_up']} for {r['keepalives']} keep-alives")
        if proto == "mqtt":  # each PINGREQ is answered by a PINGRESP in a segment of its own
            check(n(r, "sleep_ip_down") >= 54 * n(r, "keepalives"), f"device {d}: sleep_ip_down {r['sleep_ip_down']}")

# The capture: per connection, its frames in time.
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
      f"{len(by_dev)} devices")


def idle_timeout_ms(payload):
    """The idle-time-out field (5th) of an AMQP open frame (hex) from RabbitMQ, or None."""
    b = bytes.fromhex(payload)
    i = b.find(bytes.fromhex("005310"))
    if i < 0:
        return None
    p = i + 3
    if b[p] == 0xd0:   # list32: size, count
        p += 9
    elif b[p] == 0xc0:  # list8
        p += 3
    else:
        return None
    for _ in range(4):  # skip container-id, hostname, max-frame-size, channel-max
        c = b[p]
        if c in (0xa1, 0xa3):
            p += 2 + b[p + 1]
        elif c in (0xb1, 0xb3):
            p += 5 + int.from_bytes(b[p + 1:p + 5], "big")
        elif c == 0x40 or c == 0x43 or c == 0x41 or c == 0x42:
            p += 1
        elif c == 0x52 or c == 0x50:
            p += 2
        elif c == 0x60:
            p += 3
        elif c == 0x70:
            p += 5
        else:
            return None
    c = b[p]
    if c == 0x70:
        return int.from_bytes(b[p + 1:p + 5], "big")
    if c == 0x52:
        return b[p + 1]
    if c == 0x43:
        return 0
    return None


empties = 0
for key, pk in pflows.items():
    syns = [p for p in pk if p[1] and p[2] & 0x02]
    check(len(syns) == 1, f"{key}: {len(syns)} SYNs from the device, one connection wanted")
    data = [p for p in pk if p[3] > 0]
    for i, p in enumerate(data):
        if p[1] and is_keepalive(p[4]):
            empties += 1
            # MQTT: after the last packet either way; AMQP: after the device's last output (proton's timer);
            # HTTP: after the last response's end
            last = max(q[0] for q in data[:i] if proto == "mqtt" or q[1] == (proto == "amqp"))
            gap = p[0] - last
            late = 1.3 if proto == "mqtt" else 0.06
            check(KEEPALIVE - (0.05 if proto == "mqtt" else 0.005) <= gap <= KEEPALIVE + late,
                  f"{key}: a keep-alive {gap:.3f} s after the connection's last {'output' if proto == 'amqp' else 'response'}"
                  f", keepalive {KEEPALIVE} s")
            answer = {"mqtt": "d000", "http": NO_CONTENT}.get(proto)
            if answer:
                nxt = next((q for q in data[i + 1:] if not q[1]), None)
                check(nxt is not None and nxt[4].startswith(answer), f"{key}: a keep-alive not answered ({answer})")
    if proto == "amqp":
        opens = [idle_timeout_ms(p[4]) for p in pk if not p[1] and p[3] > 0 and "005310" in p[4]]
        check(opens and opens[0] == int(2 * KEEPALIVE * 1000),
              f"{key}: RabbitMQ's open announces idle-time-out {opens} ms, want {int(2 * KEEPALIVE * 1000)}")
        check(not any(not p[1] and p[4] == EMPTY for p in data), f"{key}: RabbitMQ sent the device an empty frame")
        # the device never detaches, ends or closes (0x16 detach, 0x17 end, 0x18 close) while the run goes on
        closes = [p for p in data if p[1] and p[4][16:20] == "0053" and p[4][20:22] in ("16", "17", "18")]
        check(not closes, f"{key}: the device closed its link, session or connection: {closes[:1]}")
    else:
        fins = [p for p in pk if p[1] and p[2] & 0x01]
        last_post = max(p[0] for p in data if p[1] and not is_keepalive(p[4]))
        check(not fins or fins[0][0] >= last_post, f"{key}: the device closed the connection before its last publish")
check(empties >= 2 * len(by_dev), f"only {empties} keep-alives in the capture")
in_rows = sum(n(r, "keepalives") for r in pers if r["keepalives"])
check(empties - 2 * len(by_dev) <= in_rows <= empties,
      f"rows count {in_rows} keep-alives, the capture has {empties} (each device's last sleep has no row)")

pw = statistics.mean(wire(r) for r in per)
reused = [r for r in pers if n(r, "connected") == 0]
pr = statistics.mean(wire(r) for r in reused)
check(pr < pw, f"a reused wake moves {pr:.0f} IP bytes, a per-wake wake {pw:.0f}")
print(f"loopback: per-wake {pw:.0f} B/wake, persistent first "
      f"{statistics.mean(wire(r) for r in pers if n(r, 'connected')):.0f} B, reused {pr:.0f} B/wake, "
      f"{empties} keep-alives from the devices")

# ---- behind a link whose NAT forgets the flow before the keep-alive comes ----
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("OK (loopback); the NAT case needs root and /dev/net/tun: skipped")
    sys.exit(0)
test_link(wd, "nat1", delay_ms=20, up_kbps=1000, down_kbps=1000, link_overhead_bytes=0, tail_ms=500,
          nat_timeout_s=1)
test_link(wd, "nonat", delay_ms=20, up_kbps=1000, down_kbps=1000, link_overhead_bytes=0, tail_ms=500,
          nat_timeout_s=0)
nat = wd.file("nat.yaml", f"""
name: nat-{proto}
seed: 5
duration: 25s
wake_timeout: 20s
fleets:
  - name: asleep
    count: 2
    wake_every: 12s
    keepalive: 3s
    connection: persistent
    link: nat1
  - name: awake
    count: 1
    wake_every: 4s
    keepalive: 3s
    connection: persistent
    link: nat1
  - name: kept
    count: 1
    wake_every: 7s
    keepalive: 3s
    connection: persistent
    link: nonat
matrix:
  protocol: {proto}
""")
rundir = run_ok(dormant, nat, os.path.join(wd.path, "nat"), timeout=400, extra=("--no-plot",), prefix=PRIVATE_NETNS)
rs = rows(rundir)
awake = [r for r in rs if r["fleet"] == "awake"]
check(all(r["outcome"] == "ok" for r in awake),
      f"NAT: an awake wake failed: {[(r['seq'], r['error_kind'], r['error_detail']) for r in awake if r['outcome'] != 'ok']}")
during = [r for r in awake if r["reconnect_why"].startswith("during the wake")]
check(during, f"NAT: no awake wake reconnected during the wake: {[(r['seq'], r['reconnect_why']) for r in awake]}")
for r in during:
    check(n(r, "connected") == 1 and n(r, "reconnected") == 1 and n(r, "acked") == 1 and n(r, "nat_drops") > 0,
          f"NAT: a wake that reconnected during the wake: {r}")
    print(f"NAT, awake: seq {r['seq']} reconnected during the wake in {n(r, 't_wake_us') / 1e6:.1f} s "
          f"({r['reconnect_why']}), {wire(r)} B, nat_drops {r['nat_drops']}, {r['energy_mj']} mJ")
by_dev = collections.defaultdict(list)
for r in rs:
    if r["fleet"] == "asleep":
        by_dev[r["device"]].append(r)
drops = 0
for d, dr in by_dev.items():
    dr.sort(key=lambda r: n(r, "seq"))
    check(len(dr) >= 2, f"NAT: device {d} has {len(dr)} wakes")
    for r in dr[1:]:
        check(r["outcome"] == "ok", f"NAT: device {d} seq {r['seq']} failed: {r['error_kind']} {r['error_detail']}")
        check(n(r, "connected") == 1 and n(r, "reconnected") == 1 and r["reconnect_why"] != "",
              f"NAT: device {d} seq {r['seq']}: connected {r['connected']} reconnected {r['reconnected']} "
              f"({r['reconnect_why']!r}); the NAT forgot the flow after 1 s, the keep-alive is 3 s")
        check(not r["reconnect_why"].startswith("during the wake"),
              f"NAT: device {d}: TCP should have given up while it slept: {r['reconnect_why']}")
        check(r["local_port"] != dr[0]["local_port"], f"NAT: device {d}: the reconnect used the old port")
        check(n(r, "ip_up_tcp") > 0, f"NAT: device {d}: the reconnect paid no TCP handshake")
        check(n(r, "nat_drops") > 0 and float(r["sleep_energy_mj"] or 0) > 0,
              f"NAT: device {d} seq {r['seq']}: nat_drops {r['nat_drops']}, sleep energy {r['sleep_energy_mj']!r}")
        drops += n(r, "nat_drops")
        print(f"NAT, asleep: device {d} seq {r['seq']}: {r['reconnect_why']}; nat_drops {r['nat_drops']}, "
              f"sleep {r['sleep_ip_up']}/{r['sleep_ip_down']} B, {r['keepalives']} keep-alive packets, "
              f"sleep {r['sleep_energy_mj']} mJ, wake {wire(r)} B, {r['energy_mj']} mJ")
# Battery life at other periods: none behind the forgetful NAT; by hand for the fleet whose connection survives.
sm = summary(rundir)
radio = {f["fleet"]: f for f in sm["variants"][0]["radio"]["fleets"]}
for fl in ("asleep", "awake"):
    at = radio[fl]["battery_years_at"]
    check(all(v is None for v in at.values()), f"NAT: fleet {fl} has battery_years_at {at} though the NAT "
          f"forgets its connection between keep-alives")
kept = [r for r in rs if r["fleet"] == "kept"]
check(kept and all(r["outcome"] == "ok" and n(r, "reconnected") == 0 for r in kept),
      f"kept: {[(r['seq'], r['outcome'], r['reconnected']) for r in kept]}")
reused_k = [r for r in kept if n(r, "connected") == 0]
check(reused_k and all(n(r, "keepalives") >= 1 for r in reused_k), "kept: a sleep of 7 s without a keep-alive at 3 s")
fk = radio["kept"]
wake_mj = statistics.mean(float(r["energy_mj"]) for r in reused_k)
wake_on = statistics.mean(float(r["radio_on_ms"]) for r in reused_k)
wake_s = statistics.mean(n(r, "t_wake_us") / 1e6 for r in reused_k)
kas = sum(n(r, "keepalives") for r in reused_k)
ka_mj = sum(float(r["sleep_energy_mj"]) for r in reused_k) / kas
ka_on = sum(float(r["sleep_radio_on_ms"]) for r in reused_k) / kas
check(abs(fk["kept_wake_mj_mean"] - wake_mj) <= 0.01 * wake_mj and abs(fk["keepalive_mj_mean"] - ka_mj) <= 0.01 * ka_mj,
      f"kept: summary says wake {fk['kept_wake_mj_mean']} mJ, keep-alive {fk['keepalive_mj_mean']} mJ; rows {wake_mj}, {ka_mj}")
for name, ps in (("1m", 60), ("15m", 900), ("1h", 3600), ("1d", 86400)):
    nka = (ps - wake_s) // 3
    e, on, per_day = wake_mj + nka * ka_mj, wake_on + nka * ka_on, 86400 / ps
    day = per_day * e + fk["sleep_uw"] / 1000 * max(0.0, 86400e3 - per_day * on) / 1000
    want = fk["battery_wh"] * 3600e3 / day / 365
    got = fk["battery_years_at"][name]
    check(got is not None and abs(got - want) <= 0.01 * want,
          f"kept: battery_years_at {name} = {got}, by hand {want:.4f} ({nka:.0f} keep-alives of {ka_mj:.2f} mJ)")
    print(f"kept connection, waking every {name}: {nka:.0f} keep-alives a sleep, {e:.1f} mJ a period, "
          f"{got:.3f} years (by hand {want:.3f})")
print(f"OK: persistent {proto} on loopback and behind a NAT that forgets idle flows ({drops} packets dropped)")
