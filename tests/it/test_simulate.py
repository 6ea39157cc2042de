#!/usr/bin/env python3
"""dormant simulate against the run it simulates: a deployment that is the run's own fleet, over the run's window.

One emulated run (root and /dev/net/tun; in a private network namespace): 3 MQTT devices waking every 5 s for
20 s behind a test link, per-wake and persistent (keepalive 3 s). A deployment file with the same fleet,
simulated `--for 20s`, must give back:
- per-wake: the IP bytes of the run's ok wakes each way, exactly (to a byte), and their energy within 0.5 % (the
  rows' energy is printed to 0.1 mJ), and the summary's battery life at the fleet's period within 0.5 %;
- persistent: battery life within 1 % (README "Deployments"; measured 1.0000): simulate charges each period a
  mean kept wake and floor((5 s - wake) / 3 s) = 1 mean keep-alive, the run's summary what each sleep really
  held (its steady state: a wake on the kept connection with the sleep before it);
- a year at 1,000,000 devices in well under a second, scaling bytes linearly;
- a deployment on a link no run measured: exit 2, one line naming the link.
"""
import json
import os
import subprocess
import sys
import time

from itlib import PRIVATE_NETNS, SKIP, Workdir, check, fail, need, rows, run_ok, summary, test_link

need("mosquitto")
dormant = sys.argv[1]
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("SKIP: needs root and /dev/net/tun (an emulated link)")
    sys.exit(SKIP)
wd = Workdir("simulate")
test_link(wd, "sim1", delay_ms=20, up_kbps=1000, down_kbps=1000, link_overhead_bytes=0, tail_ms=500,
          nat_timeout_s=0)
scenario = wd.file("sim.yaml", """
name: sim
seed: 4
duration: 20s
battery_wh: 5
fleets:
  - name: meters
    count: 3
    wake_every: 5s
    keepalive: 3s
    payload: 48B
    qos: 1
    link: sim1
matrix:
  connection: [per-wake, persistent]
""")
deployment = wd.file("deploy.yaml", """
name: same-fleet
devices: 3
wake_every: 5s
payload: 48B
link: sim1
battery_wh: 5
""")
rundir = run_ok(dormant, scenario, os.path.join(wd.path, "results"), timeout=300, extra=("--no-plot",),
                prefix=PRIVATE_NETNS)
rs, sm = rows(rundir), summary(rundir)
check(all(r["outcome"] == "ok" for r in rs), "a failed wake")


def simulate(*args):
    p = subprocess.run([dormant, "simulate", deployment, rundir, "--json", *args], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        fail(f"simulate exited {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)


sim = simulate("--for", "20s")
cands = {c["variant"]: c for c in sim["candidates"]}
check(set(cands) == {"mqtt connection=per-wake", "mqtt connection=persistent"}, f"candidates {sorted(cands)}")
for name, c in cands.items():
    check(c["run"] == rundir and c["wakes_measured"] > 0, f"{name}: does not name its run: {c}")

per = [r for r in rs if r["variant"] == "mqtt connection=per-wake"]
c = cands["mqtt connection=per-wake"]
planned = 3 * 20 / 5
check(len(per) == planned, f"the run has {len(per)} per-wake wakes, the deployment {planned:.0f}")
for d in ("up", "down"):
    measured = sum(int(r[f"ip_{d}"]) for r in per)
    simulated = c[f"ip_{d}_bytes_per_device"] * 3
    check(abs(simulated - measured) < 0.5, f"per-wake ip_{d}: simulated {simulated}, the run moved {measured}")
e_run = sum(float(r["energy_mj"]) for r in per)
e_sim = c["energy_mj_per_device"] * 3
check(abs(e_sim - e_run) <= 0.005 * e_run, f"per-wake energy: simulated {e_sim:.1f} mJ, the run {e_run:.1f}")
fleet = next(f for v in sm["variants"] if v["name"] == "mqtt connection=per-wake" for f in v["radio"]["fleets"])
check(abs(c["battery_years"] - fleet["battery_years"]) <= 0.005 * fleet["battery_years"],
      f"per-wake battery: simulated {c['battery_years']}, the run's summary {fleet['battery_years']}")
print(f"per-wake: bytes equal, energy {e_sim:.1f} vs {e_run:.1f} mJ ({e_sim / e_run:.4f}), "
      f"battery {c['battery_years']:.4f} vs {fleet['battery_years']:.4f} years")

pers = [r for r in rs if r["variant"] == "mqtt connection=persistent"]
c = cands["mqtt connection=persistent"]
check(c["connection"] == "persistent" and c["battery_years"], f"persistent: {c}")
pf = next(f for v in sm["variants"] if v["name"] == "mqtt connection=persistent" for f in v["radio"]["fleets"])
ratio = c["battery_years"] / pf["battery_years"]
check(0.99 <= ratio <= 1.01, f"persistent battery: simulated {c['battery_years']}, the run {pf['battery_years']} "
      f"({ratio:.3f}), outside 1 %")
print(f"persistent: battery {c['battery_years']:.4f} vs the run's {pf['battery_years']:.4f} years ({ratio:.4f})")

# A year of a million devices: closed form, and bytes scale with devices and time.
big = wd.file("big.yaml", open(deployment).read().replace("devices: 3", "devices: 1000000"))
t0 = time.monotonic()
p = subprocess.run([dormant, "simulate", big, rundir, "--json"], capture_output=True, text=True, timeout=60)
took = time.monotonic() - t0
check(p.returncode == 0, f"simulate a million devices: exit {p.returncode}: {p.stderr}")
year = {x["variant"]: x for x in json.loads(p.stdout)["candidates"]}
x = year["mqtt connection=per-wake"]
want = cands["mqtt connection=per-wake"]["ip_up_bytes_per_device"] * (365 * 86400 / 20)
check(abs(x["ip_up_bytes_per_device"] - want) <= 1e-6 * want, f"a year's bytes {x['ip_up_bytes_per_device']}, "
      f"want {want}")
check(abs(x["ip_bytes_fleet"] - 1e6 * (x["ip_up_bytes_per_device"] + x["ip_down_bytes_per_device"])) < 1e-3 * x["ip_bytes_fleet"],
      "fleet bytes are not devices x per device")
print(f"a year, 1,000,000 devices: {x['ip_bytes_fleet'] / 1e12:.2f} TB, {took * 1000:.0f} ms")

# A deployment on a link no run measured.
other = wd.file("other.yaml", open(deployment).read().replace("link: sim1", "link: sim2"))
test_link(wd, "sim2", delay_ms=50, up_kbps=100, down_kbps=100, link_overhead_bytes=0, tail_ms=500, nat_timeout_s=0)
p = subprocess.run([dormant, "simulate", other, rundir], capture_output=True, text=True, timeout=60)
lines = p.stderr.strip().splitlines()
check(p.returncode == 2 and len(lines) == 1 and "sim2" in lines[0],
      f"a link no run measured: exit {p.returncode}, stderr {p.stderr!r}")
print("OK: simulate gives the run back (bytes exact, energy and battery within tolerance)")
