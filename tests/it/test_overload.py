#!/usr/bin/env python3
"""An overloaded plan is visible, never silent: MQTT against mosquitto with
one wake in flight and 3,000 wakes a second scheduled (a wake takes well over
the 0.33 ms that would need, so the run must fall behind).

Checks, with overrun: finish (the default): the run finishes, every wake of
the plan has its row and every message arrived; the summary's schedule block
agrees with wakes.csv: late wakes (over late_ms) counted from sched_lag_us,
the lag percentiles by nearest rank, the span (the last start), the achieved
rate (wakes over the span) against the scheduled one, the late wakes by why
they waited; a limit is named and it is not "none"; the printed summary and
report.html say the variant fell behind and why.

With overrun: stop: wakes still waiting when the window ends are counted as
not started, with no row; rows plus not started equal the plan; no wake
started after the window; every message of a started wake arrived, none of
the others counts as lost.

And a light plan kept its schedule: limit "none", no late line printed, or
(on a machine too busy for that) the late wakes it printed are in the CSV.
"""
import math
import os
import sys

from itlib import Workdir, check, fail, need, rows, run_dormant, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("overload")
PLAN = """
name: {name}
duration: 2s
concurrency: 1
{extra}
fleets:
  - name: s
    count: 3000
    wake_every: 1s
    payload: 48B
    qos: 1
matrix:
  - protocol: mqtt
"""


def nearest_rank(sorted_v, p):
    x = p * len(sorted_v) / 100.0
    return sorted_v[max(1, min(len(sorted_v), math.ceil(x - x * 1e-12))) - 1]


def run(scenario, out, extra=()):
    """Runs SCENARIO, which must succeed; returns (stdout, rundir)."""
    rc, stdout, stderr, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, out), timeout=400, extra=extra)
    print(stdout)
    if rc != 0:
        fail(f"{scenario}: dormant exited {rc}: {stderr}")
    return stdout, rundir


def close(a, b, rel=2e-3, abs_=1e-3):
    return abs(a - b) <= max(abs_, rel * abs(b))


def check_schedule(name, v, rs, duration_s):
    s = v["schedule"]
    lag_ms = sorted(int(r["sched_lag_us"]) / 1000.0 for r in rs)
    late = sum(1 for x in lag_ms if x > s["late_ms"])
    check(s["late_ms"] == 10 and s["late"] == late == v["late_wakes"],
          f"{name}: late {s['late']} / {v['late_wakes']}, counted from wakes.csv {late}")
    for p in (50, 90, 99):
        check(close(s["lag_ms"][f"p{p}"], nearest_rank(lag_ms, p)),
              f"{name}: lag p{p} {s['lag_ms'][f'p{p}']} against {nearest_rank(lag_ms, p)} from wakes.csv")
    check(close(s["lag_ms"]["max"], lag_ms[-1]), f"{name}: lag max {s['lag_ms']['max']} against {lag_ms[-1]}")
    last = max(int(r["due_us"]) + int(r["sched_lag_us"]) for r in rs) / 1e6
    span = max(duration_s, last)
    check(close(s["span_s"], span), f"{name}: span {s['span_s']} s against {span} from wakes.csv")
    check(close(s["achieved_wakes_per_s"], len(rs) / span),
          f"{name}: achieved {s['achieved_wakes_per_s']} against {len(rs)} rows / {span} s")
    check(close(s["scheduled_wakes_per_s"], v["expected_wakes"] / duration_s),
          f"{name}: scheduled {s['scheduled_wakes_per_s']} against {v['expected_wakes']} / {duration_s} s")
    by = s["late_by"]
    check(by["loop"] + by["device"] + by["slot"] == late, f"{name}: late by {by} does not add up to {late}")
    check(s["limit"] in ("none", "generator", "server", "concurrency", "devices", "loop") and s["why"],
          f"{name}: limit {s['limit']!r}: {s['why']!r}")
    return s


# 1. overrun: finish: it runs over, and says so
over = wd.file("over.yaml", PLAN.format(name="over", extra=""))
out, rundir = run(over, "r1")
sm, rs = summary(rundir), rows(rundir)
v = sm["variants"][0]
check(v["expected_wakes"] == 6000 and v["wakes"] == len(rs) == 6000 and v["failed"] == 0,
      f"finish: {v['wakes']} wakes, {len(rs)} rows of {v['expected_wakes']}, {v['failed']} failed")
m = v["messages"]
check(m["sent"] == m["received"] == 6000 and m["lost"] == 0 and m["duplicates"] == 0, f"finish: messages {m}")
s = check_schedule("finish", v, rs, 2.0)
check(s["limit"] != "none" and s["late"] > 3000, f"finish: {s['late']} late, limit {s['limit']}: not behind?")
check(s["achieved_wakes_per_s"] < 0.9 * s["scheduled_wakes_per_s"] and s["span_s"] > 2.2,
      f"finish: achieved {s['achieved_wakes_per_s']} of {s['scheduled_wakes_per_s']} in {s['span_s']} s")
check(s["not_started"] == 0 and s["overrun"] == "finish", f"finish: {s['not_started']} not started")
check(f"late: {s['late']} of 6000 wakes started over 10 ms late" in out and f"limit: {s['why']}" in out,
      "finish: the printed summary does not say the variant fell behind, or why")
report = open(os.path.join(rundir, "report.html")).read()
check("behind its schedule" in report and s["why"].split(":")[0] in report,
      "finish: report.html does not say the variant fell behind")

# 2. overrun: stop: what the window could not start is counted, not run
stop = wd.file("stop.yaml", PLAN.format(name="stop", extra="overrun: stop"))
out, rundir = run(stop, "r2", ("--no-plot",))
sm, rs = summary(rundir), rows(rundir)
v = sm["variants"][0]
s = check_schedule("stop", v, rs, 2.0)
check(s["overrun"] == "stop" and s["not_started"] > 0 and len(rs) == v["wakes"] and
      v["wakes"] + s["not_started"] == v["expected_wakes"] == 6000,
      f"stop: {len(rs)} rows + {s['not_started']} not started against {v['expected_wakes']} planned")
latest = max(int(r["due_us"]) + int(r["sched_lag_us"]) for r in rs) / 1e6
check(latest <= 2.2, f"stop: a wake started at {latest} s, after the 2 s window")
check(f"not started: {s['not_started']} wakes" in out, "stop: the printed summary does not count the wakes not started")
m = v["messages"]
check(m["sent"] == m["received"] == len(rs) and m["lost"] == 0 and m["unacked"] == 0,
      f"stop: messages {m} for {len(rs)} started wakes")

# 3. a light plan keeps its schedule, and a late wake is never unsaid
light = wd.file("light.yaml", PLAN.format(name="light", extra="").replace("count: 3000", "count: 5")
                .replace("concurrency: 1", "concurrency: 64"))
out, rundir = run(light, "r3", ("--no-plot",))
v = summary(rundir)["variants"][0]
s = check_schedule("light", v, rows(rundir), 2.0)
check((s["limit"] == "none") == (s["late"] == 0) == ("late:" not in out),
      f"light: limit {s['limit']} with {s['late']} late, printed: {'late:' in out}")
print(f"finish and stop overloaded as planned; light: limit {s['limit']}, lag p99 {s['lag_ms']['p99']} ms")
print("PASS")
