#!/usr/bin/env python3
"""dormant simulate against the run it simulates, and dormant recommend on the same run.

One emulated run (root and /dev/net/tun; in a private network namespace): 3 devices waking every 5 s for 20 s
behind a test link: MQTT per-wake and persistent (keepalive 3 s), and HTTPS (ECDSA). A deployment file with the
same fleet, simulated `--for 20s`, must give back:
- per-wake: the IP bytes of the run's ok wakes each way, exactly (to a byte), and their energy within 0.5 % (the
  rows' energy is printed to 0.1 mJ), and the summary's battery life at the fleet's period within 0.5 %;
- persistent: battery life within 1 % (README "Deployments"; measured 1.0000): simulate charges each period a
  mean kept wake and floor((5 s - wake) / 3 s) = 1 mean keep-alive, the run's summary what each sleep really
  held (its steady state: a wake on the kept connection with the sleep before it);
- a year at 1,000,000 devices in well under a second, scaling bytes linearly;
- a deployment on a link no run measured: exit 2, one line naming the link.
recommend, on the same run:
- the ranking is simulate's battery life, in order; changing the period moves it the way the numbers say
  (waking every 2 s a kept connection sends no keep-alive and must beat waking; every 60 s it sends 19 and
  must lose), the winner named with its run;
- a site that reaches only port 443 gets only the HTTPS candidate, never one on another port; requiring
  encryption rules the plaintext ones out, each with its reason;
- a command deadline shorter than the period leaves no candidate, with the reasons (a per-wake device takes a
  command at its next wake; a kept connection measured without commands cannot say what they cost), and names the best per-wake
  candidate were the device to wake at the deadline (simulate's own figure at 2 s);
- sensitivity: from 2 s up the wake-period sweep starts with the kept connection, and at each flip it reports
  simulate itself names the flip's "from" best 3 % below it and its "to" 3 % above; with --output DIR the text,
  JSON, figures (period and payload, .dat/.gp/.svg/.png) and the HTML section go to DIR and the run is not
  touched; without it they go to RUN/recommend/NAME/ and the run's report.html gains the section;
- --measure on a 443-only site: writes and runs a scenario of the one candidate the run lacks (HTTPS resumed:
  2 devices, three wakes each), ranks it with the run's, and measures nothing when nothing is missing.
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
  - protocol: mqtt
    connection: [per-wake, persistent]
  - protocol: http
    tls: ecdsa
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
check(set(cands) == {"mqtt connection=per-wake", "mqtt connection=persistent", "http tls=ecdsa"},
      f"candidates {sorted(cands)}")
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

# Sensitivity, into --output (the run's directory and report are not touched): the wake-period sweep's flips
# are where simulate's own numbers cross, its figures and the report section are written.
base = open(deployment).read() + "encryption: optional\n"
outdir = os.path.join(wd.path, "rec-out")
sweep_yaml = wd.file("sweep.yaml", base.replace("wake_every: 5s", "wake_every: 2s"))
p = subprocess.run([dormant, "recommend", sweep_yaml, rundir, "--json", "--output", outdir], capture_output=True,
                   text=True, timeout=120)
check(p.returncode == 0, f"recommend --output: exit {p.returncode}: {p.stderr}")
rec = json.loads(p.stdout)
check(rec["output"] == outdir, f"recommend --output: output {rec['output']}")
check(not os.path.exists(os.path.join(rundir, "recommend")), "recommend --output wrote into the run directory")
for f in ("recommend.txt", "recommend.json", "section.html", "recommend.html", "period.dat", "period.gp",
          "period.svg", "period.png", "payload.dat", "payload.svg"):
    check(os.path.getsize(os.path.join(outdir, f)) > 0, f"recommend --output: {f} missing or empty")
per_s = rec["sensitivity"]["period_s"]
flips = per_s["flips"]
check(flips and per_s["best_at_start"] == "mqtt connection=persistent",
      f"the period sweep from 2 s starts with {per_s['best_at_start']}, flips {flips}")


def best_at(period_s):
    y = wd.file("at.yaml", base.replace("wake_every: 5s", f"wake_every: {round(period_s * 1000)}ms"))
    q = subprocess.run([dormant, "simulate", y, rundir, "--json"], capture_output=True, text=True, timeout=60)
    check(q.returncode == 0, f"simulate at {period_s} s: {q.stderr}")
    c = max(json.loads(q.stdout)["candidates"], key=lambda c: c["battery_years"] or 0)
    return c["variant"]


text = open(os.path.join(outdir, "recommend.txt")).read()
gp = open(os.path.join(outdir, "period.gp")).read()
for f in flips:
    before, after = best_at(f["at"] * 0.97), best_at(f["at"] * 1.03)
    check(before == f["from"] and after == f["to"], f"flip at {f['at']:.1f} s, {f['from']} -> {f['to']}: simulate "
          f"says {before} at 0.97x and {after} at 1.03x")
    check(" at " in gp and gp.count("→") >= len(flips), "period.gp does not label every flip")
    print(f"period flip at {f['at']:.2f} s: {f['from']} -> {f['to']}, as simulate says on either side")
check("Where the answer flips" in text and "up to " in text, "recommend.txt has no flips section")
sec = open(os.path.join(outdir, "section.html")).read()
check('id="rec-same-fleet"' in sec and "<svg" in sec, "section.html has no figures")



def recommend(text):
    path = wd.file("rec.yaml", text)
    p = subprocess.run([dormant, "recommend", path, rundir, "--json"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"recommend exited {p.returncode}: {p.stderr}")
    q = subprocess.run([dormant, "simulate", path, rundir, "--json"], capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout), {c["variant"]: c for c in json.loads(q.stdout)["candidates"]}


for period, want in (("2s", "mqtt connection=persistent"), ("60s", "mqtt connection=per-wake")):
    rec, simc = recommend(base.replace("wake_every: 5s", f"wake_every: {period}"))
    ranked = [c for c in rec["candidates"] if c["rank"]]
    years = [simc[c["variant"]]["battery_years"] for c in ranked]
    check(years == sorted(years, reverse=True), f"every {period}: the ranking {[(c['variant'], y) for c, y in zip(ranked, years)]}"
          f" does not follow simulate's battery life")
    mqtt = [c["variant"] for c in ranked if c["variant"].startswith("mqtt")]
    check(mqtt[0] == want, f"every {period}: {mqtt[0]} ranks first of the MQTT ones, the numbers say {want}: "
          f"{[(v, simc[v]['battery_years']) for v in mqtt]}")
    check(all(c["run"] == rundir for c in ranked), "a candidate without its run")
    print(f"recommend, a wake every {period}: " + ", ".join(f"{c['variant']} {simc[c['variant']]['battery_years']:.4f} y"
                                                        for c in ranked))
rec, _ = recommend(base.replace("encryption: optional", "encryption: required") + "ports: 443\n")
ranked = [c for c in rec["candidates"] if c["rank"]]
check([c["variant"] for c in ranked] == ["http tls=ecdsa"] and all(c["port"] == 443 for c in ranked),
      f"443 only: {[(c['variant'], c['port']) for c in ranked]}")
out = {c["variant"]: c["ruled_out"] for c in rec["candidates"] if not c["rank"]}
check(set(out) == {"mqtt connection=per-wake", "mqtt connection=persistent"} and all(out.values()),
      f"443 only: ruled out {out}")
print(f"recommend, 443 only: {rec['winner']}; out: {out}")
rec, _ = recommend(base + "commands_per_day: 24\ncommand_deadline: 2s\n")
check(rec["winner"] is None and not any(c["rank"] for c in rec["candidates"]), f"deadline 2 s: {rec}")
why = {c["variant"]: c["ruled_out"] for c in rec["candidates"]}
check("next wake" in why["mqtt connection=per-wake"] and "measured without commands" in why["mqtt connection=persistent"],
      f"deadline 2 s: reasons {why}")
db = rec["deadline_by_waking"]
y2 = wd.file("at2.yaml", base.replace("wake_every: 5s", "wake_every: 2s"))
q = subprocess.run([dormant, "simulate", y2, rundir, "--json"], capture_output=True, text=True, timeout=60)
at2 = {c["variant"]: c["battery_years"] for c in json.loads(q.stdout)["candidates"] if "persistent" not in c["variant"]}
check(db and db["wake_every_s"] == 2 and db["variant"] == max(at2, key=at2.get) and
      abs(db["battery_years"] - at2[db["variant"]]) <= 1e-9 * at2[db["variant"]],
      f"deadline 2 s: waking at the deadline {db}, simulate at 2 s says {at2}")
print(f"recommend, a 2 s command deadline: no candidate: {why}; waking every 2 s: {db['variant']} "
      f"{db['battery_years']:.4f} y")
# Without --output the recommendation lands in the run's directory and its report.html shows it.
report = open(os.path.join(rundir, "report.html")).read()
check(os.path.exists(os.path.join(rundir, "recommend", "same-fleet", "section.html")), "no section in the run")
check('href="#recommend"' in report and 'id="rec-same-fleet"' in report, "report.html has no recommendation section")
# --measure: a 443-only site needs HTTPS with a full handshake and resumed; the run has only the full one, so
# recommend writes a scenario of the one it lacks, runs it (into results/ where it is started), and ranks both.
site = wd.file("site.yaml", open(deployment).read() + "ports: 443\n")
p = subprocess.run([*PRIVATE_NETNS, dormant, "recommend", site, rundir, "--measure"], capture_output=True, text=True,
                   timeout=300, cwd=wd.path)
check(p.returncode == 0, f"recommend --measure: exit {p.returncode}: {p.stdout[-2000:]} {p.stderr}")
check("measure: 1 candidate same-fleet needs was not measured on sim1" in p.stdout, f"--measure said {p.stdout[:600]}")
scen = open(os.path.join(wd.path, "results", "same-fleet-measure.yaml")).read()
check("protocol: http" in scen and "resume: session-id" in scen and "mqtt" not in scen and "link: /" in scen,
      f"the measuring scenario: {scen}")
newrun = [l.split(": ", 1)[1] for l in p.stdout.splitlines() if l.startswith("results: ")]
check(len(newrun) == 1 and [r["variant"] for r in rows(newrun[0])].count("http tls=ecdsa resume=session-id") == 6,
      f"the measuring run: {newrun}")
check("http tls=ecdsa resume=session-id" in p.stdout and f"{newrun[0]} (" in p.stdout and f"{rundir} (" in p.stdout,
      "the ranking does not name both runs")
check(os.path.exists(os.path.join(newrun[0], "recommend", "same-fleet", "section.html")),
      "the recommendation is not in the measuring run")
q = subprocess.run([dormant, "recommend", site, rundir, newrun[0], "--measure", "--json"], capture_output=True,
                   text=True, timeout=120, cwd=wd.path)
check(q.returncode == 0 and "measured every candidate" in q.stderr and json.loads(q.stdout)["winner"],
      f"--measure with every candidate measured: exit {q.returncode}, {q.stderr}")
print(f"recommend --measure: ran {newrun[0]}; then nothing left to measure; winner {json.loads(q.stdout)['winner']}")
print("OK: simulate gives the run back (bytes exact, energy and battery within tolerance); recommend ranks by its numbers")
