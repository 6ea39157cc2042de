#!/usr/bin/env python3
"""connection: persistent with downlink (MQTT): commands pushed down the kept connection as they come.

Usage: test_pushed_commands.py DORMANT.
On loopback (3 devices, a wake every 5 s, a command every 2 s, keepalive 60 s so no PINGREQ in a sleep):
- every wake ok; every command issued is delivered, pending at the end (at most one a device) or dropped before
  the device's first SUBACK (at most one a device at the first wakes' offsets); none twice;
- commands come while the devices sleep (sleep_commands > 0, their bytes in sleep_ip_down), and reach them at
  once: every row's longest wait and the summary's p99 under 200 ms (a per-wake device would wait up to 5 s);
- a command's PUBACK is no keep-alive: every row's keepalives is 0 though its sleep had commands.
Behind a link with listening figures (root and /dev/net/tun; a private network namespace), listen_ms 400:
- the summary says the devices listened, their floor is listen_uw, not sleep_uw, and battery_years follows
  from that floor by hand;
- a command for a sleeping device waits for its listen occasion: some waits over 100 ms, none over
  listen_ms + two one-way delays + 100 ms;
- the cost of a command pushed in a sleep (command_mj_mean) is the rows' sleep energy over their commands,
  and each such sleep pays the listening attach and a tail;
- recommend ranks the kept connection for a deployment whose 2 s deadline is under its 4 s period, and rules
  it out, saying why, when the deadline (50 ms) is shorter than its measured delay;
- recommend --measure from nothing, for such a deployment (MQTT's port only): measures the per-wake candidate and
  the kept connection (NAME-measure-kept.yaml), and answers with the kept one, the per-wake one ruled out.
Refused at load: persistent with downlink behind a link without listening figures, and for HTTP.
Needs mosquitto.
"""
import json
import os
import subprocess
import sys

from itlib import PRIVATE_NETNS, Workdir, check, fail, need, rows, run_dormant, run_ok, summary, test_link

dormant = sys.argv[1]
need("mosquitto")
wd = Workdir("pushed")


def variant(sm, name):
    return next(v for v in sm["variants"] if v["name"] == name)


# ---- loopback
LO = """
name: pushed
seed: 3
duration: 20s
fleets:
  - name: a
    count: 3
    wake_every: 5s
    qos: 1
    connection: persistent
    downlink: true
    command_every: 2s
matrix:
  - protocol: mqtt
"""
rundir = run_ok(dormant, wd.file("lo.yaml", LO), os.path.join(wd.path, "lo"), extra=("--no-plot",))
rs, sm = rows(rundir), summary(rundir)
check(rs and all(r["outcome"] == "ok" for r in rs), "a failed wake")
v = variant(sm, "mqtt")
cm = v["commands"]
check(cm["issued"] == cm["delivered"] + cm["pending"] + cm["dropped"], f"commands do not add up: {cm}")
check(cm["pending"] <= 3 and cm["dropped"] <= 3 and cm["duplicates"] == 0, f"commands: {cm}")
check(cm["delivered"] >= cm["issued"] - 6 and cm["delivered"] > 20, f"commands: {cm}")
slept = [r for r in rs if r["sleep_commands"] and int(r["sleep_commands"]) > 0]
check(len(slept) >= 6, f"only {len(slept)} sleeps had commands pushed in them")
for r in slept:
    check(int(r["sleep_ip_down"]) > 0, f"a sleep with commands received nothing: {r}")
    check(int(r["keepalives"]) == 0, f"a sleep of 5 s with keepalive 60 s counted {r['keepalives']} keep-alives "
          f"(a command's PUBACK is none)")
    check(float(r["cmd_delay_us"]) < 200000, f"a pushed command waited {r['cmd_delay_us']} us")
check(v["command_delay_ms"]["p99"] < 200, f"command delay p99 {v['command_delay_ms']['p99']} ms")
check(v["persistent"]["sleep_commands"] == sum(int(r["sleep_commands"]) for r in slept), "sleep_commands")
print(f"loopback: {cm['delivered']} of {cm['issued']} commands delivered, {v['persistent']['sleep_commands']} "
      f"while asleep, p50/p99 {v['command_delay_ms']['p50']:.2f}/{v['command_delay_ms']['p99']:.2f} ms")

# ---- refused at load
for text, want in (
        (LO.replace("  - protocol: mqtt", "  - protocol: http"), "built for mqtt only"),
        (LO.replace("    command_every: 2s", "    command_every: 2s\n    link: nolisten"), "no listening figures")):
    test_link(wd, "nolisten")
    f = wd.file("refused.yaml", text)
    rc, out, err, _ = run_dormant(dormant, f, os.path.join(wd.path, "refused"))
    check(rc == 3 and want in err, f"exit {rc}, want 3 and {want!r}: {err}")

if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("SKIP (the rest): needs root and /dev/net/tun (an emulated link)")
    sys.exit(0)

# ---- behind a link whose devices listen
LISTEN_MS, DELAY_MS, TAIL_MS, TAIL_MW, LISTEN_UW = 400, 10, 200, 20, 5000
test_link(wd, "lis", delay_ms=DELAY_MS, up_kbps=1000, down_kbps=1000, tail_ms=TAIL_MS, tail_mw=TAIL_MW,
          nat_timeout_s=0, listen_uw=LISTEN_UW, listen_ms=LISTEN_MS, listen_attach_ms=2, listen_attach_mj=1)
scen = wd.file("lis.yaml", """
name: pushed-link
seed: 5
duration: 24s
battery_wh: 5
fleets:
  - name: a
    count: 2
    wake_every: 4s
    qos: 1
    link: lis
    connection: persistent
    downlink: true
    command_every: 1s
matrix:
  - protocol: mqtt
""")
rundir = run_ok(dormant, scen, os.path.join(wd.path, "link"), extra=("--no-plot",), prefix=PRIVATE_NETNS)
rs, sm = rows(rundir), summary(rundir)
check(all(r["outcome"] == "ok" for r in rs), "a failed wake behind the link")
v = variant(sm, "mqtt")
fl = v["radio"]["fleets"][0]
check(fl["listening"] is True and fl["listen_ms"] == LISTEN_MS, f"not listening: {fl}")
check(fl["sleep_uw"] == LISTEN_UW, f"the floor is {fl['sleep_uw']} uW, the link's listening one {LISTEN_UW}")
wpd = fl["wakes_per_day"]
day = wpd * fl["wake_mj_mean"] + LISTEN_UW / 1e6 * (86400e3 - wpd * fl["radio_on_ms_mean"])
years = 5 * 3600e3 / day / 365
check(abs(years - fl["battery_years"]) <= 1e-3 * years, f"battery {fl['battery_years']} years, by hand {years}")
slept = [r for r in rs if int(r["sleep_commands"] or 0) > 0]
check(len(slept) >= 6, f"only {len(slept)} sleeps had commands")
waits = [float(r["cmd_delay_us"]) / 1000 for r in slept]
check(max(waits) > 100, f"no command waited for a listen occasion: longest {max(waits):.1f} ms")
bound = LISTEN_MS + 2 * DELAY_MS + 100
check(max(waits) <= bound, f"a command waited {max(waits):.1f} ms, more than {bound} ms")
check(v["command_delay_ms"]["max"] <= bound, f"command delay max {v['command_delay_ms']['max']} ms")
for r in slept:
    check(int(r["keepalives"]) == 0, f"keep-alives in a 4 s sleep: {r['keepalives']}")
    # each burst after a sleep: the listening attach (1 mJ) and a tail (TAIL_MS at TAIL_MW)
    check(float(r["sleep_energy_mj"]) >= 1 + TAIL_MS * TAIL_MW / 1000 - 1e-6 and
          float(r["sleep_radio_on_ms"]) >= 2 + TAIL_MS - 1e-6, f"a sleep with a command cost too little: {r}")
ncmd = sum(int(r["sleep_commands"]) for r in slept)
by_hand = sum(float(r["sleep_energy_mj"]) for r in slept) / ncmd
check(abs(fl["command_mj_mean"] - by_hand) <= 0.01 * by_hand + 0.05,
      f"command_mj_mean {fl['command_mj_mean']}, by hand {by_hand:.2f}")
print(f"link: {ncmd} commands in sleeps, waits up to {max(waits):.1f} ms (listen every {LISTEN_MS} ms), "
      f"{fl['command_mj_mean']:.2f} mJ a command, battery {fl['battery_years']:.4f} years at {LISTEN_UW} uW")


def recommend(deadline):
    d = wd.file(f"deploy-{deadline}.yaml", f"""
name: pushed
devices: 2
wake_every: 4s
payload: 48B
commands_per_day: 24
command_deadline: {deadline}
link: lis
battery_wh: 5
encryption: optional
""")
    p = subprocess.run([dormant, "recommend", d, rundir, "--json"], capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 6):
        fail(f"recommend exited {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)


rec = recommend("2s")
c = rec["candidates"][0]
check(c["rank"] == 1 and c["connection"] == "persistent" and c["listening"] is True and not c["ruled_out"],
      f"the kept connection is not ranked for a 2 s deadline: {c}")
check(abs(c["command_delay_p99_ms"] - v["command_delay_ms"]["p99"]) < 1e-6, "recommend's delay is not the run's")
rec = recommend("50ms")
c = rec["candidates"][0]
check(c["ruled_out"] and "pushed commands took up to" in c["ruled_out"], f"not ruled out at 50 ms: {c}")
print(f"recommend: ranked at a 2 s deadline; at 50 ms: {c['ruled_out']}")

# --measure from nothing: the per-wake candidate (plaintext MQTT: the only port) and the kept one it needs
d = wd.file("deploy-measure.yaml", """
name: pushed-measure
devices: 2
wake_every: 4s
payload: 48B
commands_per_day: 24
command_deadline: 2s
link: lis
battery_wh: 5
encryption: optional
ports: [1883]
""")
p = subprocess.run([*PRIVATE_NETNS, dormant, "recommend", d, "--measure", "--json"], capture_output=True, text=True,
                   timeout=400, cwd=wd.path)
check(p.returncode == 0, f"recommend --measure exited {p.returncode}: {p.stderr[-3000:]}")
check("pushed-measure-measure.yaml and " in p.stderr and "pushed-measure-measure-kept.yaml" in p.stderr,
      f"--measure did not announce both scenarios: {p.stderr[:600]}")
kept_scen = open(os.path.join(wd.path, "results", "pushed-measure-measure-kept.yaml")).read()
check("connection: persistent" in kept_scen and "downlink: true" in kept_scen and "command_every: 2800ms" in kept_scen
      and "protocol: mqtt" in kept_scen, f"the kept scenario: {kept_scen}")
rec = json.loads(p.stdout)
top = rec["candidates"][0]
check(top["connection"] == "persistent" and top["listening"] and not top["ruled_out"] and "measure-kept" in top["run"],
      f"--measure's kept connection is not the answer: {top}")
per = [x for x in rec["candidates"] if x["connection"] == "per-wake"]
check(per and all("next wake" in (x["ruled_out"] or "") for x in per), f"per-wake candidates: {per}")
print(f"--measure: per-wake and kept measured; winner {top['variant']} from {top['run']}")
print("PASS")
