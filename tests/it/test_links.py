#!/usr/bin/env python3
"""MQTT and HTTP wakes behind emulated links (sim/net/linkemu.c), against the real servers.

Three profiles written here: "wire40", 40 ms each way, 200 kbit/s, no loss;
"lossy", the same with 3 % loss each way; "far1s", 1 s each way. Checks:
- every wake ok, with its link named, and every radio column filled;
- the TCP handshake takes two one-way delays plus the SYN's and SYN-ACK's air
  time (60 B each at 200 kbit/s: 2.4 ms), within 3 ms, at the median; over
  1 s one way the first SYN times out and goes again on every wake, and each
  later exchange (MQTT CONNECT, PUBLISH; HTTP POST) takes one round trip;
- without loss, the link's counts equal TCP_INFO's cross-check and a capture
  of the servers' side of the link, packet for packet and byte for byte;
- with loss, the radio counts what it carried: what the servers' side saw
  up is what the radio sent less what it lost; down, what the device got
  plus what was lost; and losses show up as TCP retransmissions;
- TX time is the air time of the bytes sent; energy_mj follows from the
  profile's powers and the row's times;
- nothing of the emulator is left afterwards: namespace, TUN, route.
Needs root and /dev/net/tun (skips otherwise), mosquitto, nginx, tshark.
"""
import collections
import os
import statistics
import subprocess
import sys

from itlib import SKIP, Capture, Workdir, check, fail, need, rows, run_dormant, run_ok, summary, test_link

need("mosquitto", "nginx", "tshark")
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("SKIP: links need root and /dev/net/tun")
    sys.exit(SKIP)
dormant = sys.argv[1]
wd = Workdir("links")
profiles = {"wire40": (40, 0), "lossy": (40, 0.03), "far1s": (1000, 0)}
for name, (delay, loss) in profiles.items():
    test_link(wd, name, delay_ms=delay, loss_up=loss, loss_down=loss)
scenario = wd.file("links.yaml", """
name: links
seed: 11
duration: 6s
wake_timeout: 1m
fleets:
  - name: meters
    count: 3
    wake_every: 2s
    jitter: 500ms
    payload: 48B
    qos: 1
matrix:
  protocol: [mqtt, http]
  link: [wire40, lossy, far1s]
""")

def emulator_state():
    """What an emulator may leave behind: namespaces, TUN devices, routes of 198.18/15."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    # a namespace of a live process is another run's, in flight; a dead one's is left behind
    return {"namespaces": {l.split()[0] for l in ns.splitlines() if l.startswith("dormant-")
                           and not os.path.exists("/proc/" + l.split()[0][len("dormant-"):])},
            "TUN devices": {l.split(":")[1].strip() for l in links.splitlines() if ": dormant" in l
                            and not os.path.exists("/proc/" + l.split(":")[1].strip()[len("dormant"):])},
            "routes": {l for l in routes.splitlines() if ("198.18." in l or "198.19." in l)
                       and not any(os.path.exists("/proc/" + w[len("dormant"):]) for w in l.split()
                                   if w.startswith("dormant") and w[len("dormant"):].isdigit())}}


before = emulator_state()
cap = Capture(os.path.join(wd.path, "links.pcapng"), "net 198.18.0.0/16", iface="any")
try:
    rundir = run_ok(dormant, scenario, os.path.join(wd.path, "results"), timeout=400)
finally:
    cap.stop()
rs, sm = rows(rundir), summary(rundir)
expected = sum(v["expected_wakes"] for v in sm["variants"])
check(len(rs) == expected, f"{len(rs)} rows, the plan expects {expected}")
bad = [r for r in rs if r["outcome"] != "ok"]
check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")

# Nothing of the emulator is left: namespace, TUN devices, routes (others'
# may exist meanwhile, e.g. the emulator's own test: only new ones count).
after = emulator_state()
for kind, names in after.items():
    left = names - before[kind]
    check(not left, f"the run left {kind}: {sorted(left)}")

# The capture on the servers' side of the link (the root namespace's TUN),
# per connection: (device address, device port, server port).
txt = subprocess.run(["tshark", "-r", cap.path, "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e",
                      "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e", "ip.len"],
                     capture_output=True, text=True, check=True).stdout
seen = collections.defaultdict(lambda: [0, 0, 0, 0])  # up bytes, up packets, down bytes, down packets
for line in txt.splitlines():
    f = line.split(",")
    if len(f) != 5 or not f[4]:
        continue
    if f[0].startswith("198.18."):
        c = seen[(f[0], int(f[1]), int(f[3]))]
        c[0] += int(f[4])
        c[1] += 1
    elif f[2].startswith("198.18."):
        c = seen[(f[2], int(f[3]), int(f[1]))]
        c[2] += int(f[4])
        c[3] += 1
keys = collections.Counter((r["local_addr"], int(r["local_port"]), int(r["server_port"])) for r in rs)

n = lambda r, k: int(r[k])
x = lambda r, k: float(r[k])
by_variant = collections.defaultdict(list)
for r in rs:
    by_variant[r["variant"]].append(r)
for name, vr in by_variant.items():
    link = vr[0]["link"]
    check(link in profiles, f"{name}: link column {link!r}")
    delay, loss = profiles[link]
    lossy = loss > 0
    compared = 0
    for r in vr:
        for k in ("ti_ip_up", "ti_ip_down", "link_lost_up", "radio_on_ms", "tx_ms", "rx_ms", "tail_ms",
                  "energy_mj", "radio_attaches"):
            check(r[k] != "", f"{name} {r['device']}/{r['seq']}: {k} is empty")
        # The energy follows from the profile and the row's times (0.1 ms / 0.1 mJ printed).
        want = n(r, "radio_attaches") * 10 + (300 * x(r, "tx_ms") + 100 * x(r, "rx_ms") + 20 * x(r, "idle_ms") +
                                             20 * x(r, "tail_ms")) / 1000
        check(abs(want - x(r, "energy_mj")) < 0.2, f"{name}: energy_mj {r['energy_mj']}, the times give {want:.2f}")
        on = x(r, "attach_ms") + x(r, "tx_ms") + x(r, "rx_ms") + x(r, "idle_ms") + x(r, "tail_ms")
        check(abs(on - x(r, "radio_on_ms")) < 0.6, f"{name}: radio_on_ms {r['radio_on_ms']}, its parts {on:.1f}")
        # TX: every byte the radio sent, at 200 kbit/s (25 B per ms); when a gap outlasted the tail,
        # the re-attach may overlap a packet, which is then attach time (sim/core/energy.h)
        air = n(r, "ip_up") / 25.0
        if n(r, "radio_attaches") == 1:
            check(abs(x(r, "tx_ms") - air) < 0.1 * n(r, "segs_up") + 0.2,
                  f"{name}: tx_ms {r['tx_ms']} for {r['ip_up']} B sent")
        else:
            check(x(r, "tx_ms") <= air + 0.1 * n(r, "segs_up") + 0.2, f"{name}: tx_ms {r['tx_ms']} > air time {air}")
        check(n(r, "link_overhead_up") == 4 * n(r, "segs_up"), f"{name}: link_overhead_up {r['link_overhead_up']}")
        key = (r["local_addr"], int(r["local_port"]), int(r["server_port"]))
        if keys[key] != 1:
            continue  # a port used twice in the run: the capture cannot tell the two apart
        c = seen.get(key)
        check(c is not None, f"{name}: connection {key} is not in the capture")
        lu, ld = n(r, "link_lost_up"), n(r, "link_lost_down")
        check(c[1] == n(r, "segs_up") - lu, f"{name} {key}: up packets at the servers {c[1]}, radio sent "
              f"{r['segs_up']} of which {lu} lost")
        check(c[3] == n(r, "segs_down") + ld, f"{name} {key}: down packets from the servers {c[3]}, device got "
              f"{r['segs_down']}, {ld} lost")
        if not lu:
            check(c[0] == n(r, "ip_up"), f"{name} {key}: up bytes at the servers {c[0]}, ip_up {r['ip_up']}")
        if not ld:
            check(c[2] == n(r, "ip_down"), f"{name} {key}: down bytes {c[2]}, ip_down {r['ip_down']}")
        # TCP_INFO's formula is exact without loss, but not when a SYN-ACK came twice (a SYN sent
        # again over a 2 s round trip: the second comes after the handshake, 8 B of options more)
        if not lossy and delay < 1000:
            for a, b in (("ip_up", "ti_ip_up"), ("ip_down", "ti_ip_down"), ("segs_up", "ti_segs_up"),
                         ("segs_down", "ti_segs_down")):
                check(r[a] == r[b], f"{name} {key}: {a} {r[a]} (link) and {b} {r[b]} (TCP_INFO) differ, no loss")
        compared += 1
    check(compared >= len(vr) - 2, f"{name}: only {compared} of {len(vr)} wakes compared with the capture")
    # the handshake: 2 x 40 ms and two 60 B packets on the air at 200 kbit/s
    tcp_ms = statistics.median(n(r, "t_tcp_us") / 1000 for r in vr)
    want_tcp = 2 * delay + 4.8
    if not lossy:
        check(abs(tcp_ms - want_tcp) < 3, f"{name}: TCP handshake median {tcp_ms:.2f} ms, the link gives {want_tcp} ms")
    if delay >= 1000:
        # a round trip over 1 s: the first SYN times out (initial RTO 1 s) and goes again, on every wake
        check(all(n(r, "retrans") >= 1 for r in vr), f"{name}: a wake without a SYN sent again over a 2 s round trip")
        # after the handshake each exchange is one round trip: MQTT CONNECT/CONNACK, PUBLISH/PUBACK;
        # HTTP's POST and its answer
        for ph in (("t_setup_us", "t_data_us") if vr[0]["protocol"] == "mqtt" else ("t_data_us",)):
            m = statistics.median(n(r, ph) / 1000 for r in vr)
            check(abs(m - 2 * delay) < 30, f"{name}: {ph} median {m:.1f} ms, one round trip is {2 * delay} ms")
    lost = sum(n(r, "link_lost_up") + n(r, "link_lost_down") for r in vr)
    if lossy:
        check(lost > 0, f"{name}: 3 % loss each way and no packet lost in {len(vr)} wakes")
        check(sum(n(r, "retrans") for r in vr) > 0 or sum(n(r, "link_lost_up") for r in vr) == 0,
              f"{name}: packets of the devices lost and no retransmission")
    else:
        check(lost == 0, f"{name}: {lost} packets lost on a lossless link")
    print(f"{name}: {len(vr)} wakes, {compared} compared with the capture, handshake {tcp_ms:.2f} ms, "
          f"lost {lost}, energy p50 {statistics.median(x(r, 'energy_mj') for r in vr):.1f} mJ, "
          f"radio on p50 {statistics.median(x(r, 'radio_on_ms') for r in vr):.0f} ms")
for v in sm["variants"]:
    check("radio" in v and v["radio"]["fleets"], f"{v['name']}: summary.json has no radio figures")
    b = v["radio"]["fleets"][0]
    check(b["battery_years"] > 0, f"{v['name']}: battery years {b['battery_years']}")
# the run's figures include the radio's
for ext in ("png", "svg"):
    f = os.path.join(rundir, "plots", f"radio.{ext}")
    check(os.path.exists(f) and os.path.getsize(f) > 1000, f"{f} is missing or empty")
report = open(os.path.join(rundir, "report.html")).read()
check('<figure id="fig-radio"' in report, "report.html has no radio figure")
# Ctrl-C in the middle of a linked variant, and a SIGKILL: nothing is left
# after the first; after the second only the namespace's mount, which the
# next run with links removes, saying so.
import signal
import time

short = wd.file("short.yaml", """
name: short
seed: 3
duration: 20s
fleets:
  - name: meters
    count: 2
    wake_every: 2s
    payload: 48B
    qos: 1
    link: wire40
matrix:
  protocol: mqtt
""")


def start_and_wait_for_namespace():
    p = subprocess.Popen([dormant, "run", short, "-o", os.path.join(wd.path, "interrupted"), "--no-progress",
                          "--no-plot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = f"dormant-{p.pid}"
    deadline = time.monotonic() + 30
    while name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout:
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            fail(f"no namespace {name} within 30 s (exit {p.poll()})")
        time.sleep(0.1)
    time.sleep(3)  # wakes in flight
    return p, name


p, name = start_and_wait_for_namespace()
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=60)
check(p.returncode == 130, f"Ctrl-C behind a link: exit {p.returncode}, want 130: {err}")
left = {k: v - before[k] for k, v in emulator_state().items()}
check(not any(left.values()), f"after Ctrl-C the run left {left}")

p, name = start_and_wait_for_namespace()
p.kill()
p.communicate(timeout=30)
state = emulator_state()
check(name in state["namespaces"], f"after SIGKILL, {name} is not there (was it removed by someone else?)")
check(not (state["TUN devices"] - before["TUN devices"]), "a TUN device outlived its SIGKILLed process")
rc, out2, err2, _ = run_dormant(dormant, short, os.path.join(wd.path, "after-kill"), timeout=120,
                                extra=("--no-plot",))
check(rc == 0, f"the run after a SIGKILL exited {rc}: {err2}")
check(f"removed stale namespace {name}" in err2, f"the next run did not say it removed {name}: {err2}")
left = {k: v - before[k] for k, v in emulator_state().items()}
check(not any(left.values()), f"after SIGKILL and a new run, left: {left}")
print(f"OK: Ctrl-C exits 130 and leaves nothing; after SIGKILL the next run removed {name}")

print(f"OK: {len(rs)} wakes behind links, counts equal the capture and TCP_INFO, energy from the times")
