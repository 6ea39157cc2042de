#!/usr/bin/env python3
"""Ctrl-C while the figures are drawn: exit 130, nothing half-written.

A stand-in gnuplot first in PATH makes the moment deterministic: for
bytes_ip it runs the real gnuplot (a figure that may finish before the
signal), for every other figure it writes a cut PNG and SVG, says it has
started, and sleeps. SIGINT then comes while gnuplot is running.

1. `dormant run` of a tiny MQTT scenario, SIGINT while plotting: exit 130
   with one line saying so, rows and summary.json kept.
2. `dormant plot RUN_DIR`, SIGINT while gnuplot runs: exit 130, one line.
After each: every stand-in gnuplot is gone (killed, not left sleeping);
each figure is either whole (NAME.dat, NAME.gp, a PNG ending in IEND and
an SVG ending in </svg>) or has no file at all; report.html not written.
3. `dormant plot RUN_DIR` again with the real gnuplot: exit 0, report.html
and whole images.
"""
import glob
import os
import signal
import stat
import subprocess
import sys
import time

from itlib import Workdir, check, fail, need, rows, summary

need("mosquitto", "gnuplot")
dormant = sys.argv[1]
wd = Workdir("plot-sigint")
real_gnuplot = subprocess.run(["sh", "-c", "command -v gnuplot"], capture_output=True, text=True).stdout.strip()

bindir = os.path.join(wd.path, "bin")
marks = os.path.join(wd.path, "marks")
os.makedirs(bindir)
os.makedirs(marks)
stand_in = os.path.join(bindir, "gnuplot")
with open(stand_in, "w") as f:
    # dormant runs: gnuplot -e 'fmts="png svg"' NAME.gp, in the plots directory
    f.write(f"""#!/bin/sh
name=$(basename "$3" .gp)
if [ "$name" = bytes_ip ]; then exec {real_gnuplot} "$@"; fi
printf '\\211PNG\\r\\n\\032\\n' > "$name.png"
printf '<svg xmlns="http://www.w3.org/2000/svg"><g>' > "$name.svg"
echo $$ > {marks}/$name.pid
exec sleep 60
""")
os.chmod(stand_in, stat.S_IRWXU)
stalled_env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])

scenario = wd.file("tiny.yaml", """
name: tiny
duration: 2s
fleets:
  - name: a
    count: 3
    wake_every: 500ms
matrix:
  qos: [0, 1]
""")


def wait_stalled(p, what):
    """Waits until a stand-in gnuplot sleeps; returns the pids of those that started."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pids = glob.glob(os.path.join(marks, "*.pid"))
        if pids:
            time.sleep(0.3)  # let the others of the batch start too
            return [int(open(x).read()) for x in glob.glob(os.path.join(marks, "*.pid"))]
        if p.poll() is not None:
            out, err = p.communicate()
            fail(f"{what} ended (exit {p.returncode}) before gnuplot ran:\n{out}\n{err}")
        time.sleep(0.05)
    p.kill()
    fail(f"{what}: no gnuplot started within 120 s")


def interrupt(p, what):
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        fail(f"{what}: still running 20 s after SIGINT")
    took = time.monotonic() - t
    check(p.returncode == 130, f"{what}: exit {p.returncode}, expected 130\n{out}\n{err}")
    check(took < 5, f"{what}: took {took:.1f} s to stop after SIGINT")
    lines = [l for l in err.splitlines() if "interrupted" in l]
    check(len(lines) == 1 and lines[0].startswith("dormant: plot interrupted"),
          f"{what}: expected one 'dormant: plot interrupted' line on stderr, got:\n{err}")
    return lines[0]


def whole_png(path):
    with open(path, "rb") as f:
        data = f.read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND"


def whole_svg(path):
    with open(path, "rb") as f:
        return f.read().rstrip().endswith(b"</svg>")


def check_nothing_half(rundir, pids, what):
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except FileNotFoundError:
            continue
        check(b"sleep" not in cmd, f"{what}: stand-in gnuplot {pid} still running after dormant exited")
    plots = os.path.join(rundir, "plots")
    names = {os.path.splitext(n)[0] for n in os.listdir(plots)}
    for n in sorted(names):
        files = {e: os.path.join(plots, f"{n}.{e}") for e in ("dat", "gp", "png", "svg")}
        present = {e for e, p in files.items() if os.path.exists(p)}
        check(present == set(files), f"{what}: figure {n} left half-written: only {sorted(present)} in {plots}")
        check(whole_png(files["png"]) and whole_svg(files["svg"]), f"{what}: {n}.png/.svg kept but cut short")
        check(not os.path.exists(os.path.join(plots, f"{n}.log")), f"{what}: {n}.log left behind")
    for n in names:
        check(not os.path.exists(os.path.join(marks, f"{n}.pid")), f"{what}: stalled figure {n} kept")
    check(not os.path.exists(os.path.join(rundir, "report.html")), f"{what}: report.html written after SIGINT")
    return sorted(names)


def clear_marks():
    for x in glob.glob(os.path.join(marks, "*")):
        os.unlink(x)


# 1. dormant run, interrupted while plotting
out = os.path.join(wd.path, "results")
p = subprocess.Popen([dormant, "run", scenario, "-o", out, "--no-progress"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=stalled_env)
pids = wait_stalled(p, "dormant run")
line = interrupt(p, "dormant run")
rundir = glob.glob(os.path.join(out, "*"))[0]
rs = rows(rundir)
sm = summary(rundir)
check(len(rs) > 0 and sum(v["wakes"] for v in sm["variants"]) == len(rs),
      f"rows and summary not kept: {len(rs)} rows, summary {sm['variants']}")
check(not any(v.get("interrupted") for v in sm["variants"]), "the window was not interrupted, the summary says it was")
kept = check_nothing_half(rundir, pids, "dormant run")
print(f"OK: dormant run: SIGINT while plotting: exit 130, {len(rs)} rows and summary kept, "
      f"whole figures kept: {kept or 'none'}; {line}")

# 2. dormant plot, interrupted while gnuplot runs
clear_marks()
p = subprocess.Popen([dormant, "plot", rundir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=stalled_env)
pids = wait_stalled(p, "dormant plot")
line = interrupt(p, "dormant plot")
kept = check_nothing_half(rundir, pids, "dormant plot")
print(f"OK: dormant plot: SIGINT while gnuplot ran: exit 130, whole figures kept: {kept or 'none'}; {line}")

# 3. plotting again, with the real gnuplot, works
p = subprocess.run([dormant, "plot", rundir], capture_output=True, text=True, timeout=300)
check(p.returncode == 0, f"second dormant plot: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
check(os.path.exists(os.path.join(rundir, "report.html")), "second dormant plot wrote no report.html")
pngs = glob.glob(os.path.join(rundir, "plots", "*.png"))
check(len(pngs) >= 5 and all(whole_png(x) for x in pngs), f"second dormant plot: images {pngs}")
check(all(whole_svg(x[:-4] + ".svg") for x in pngs), "second dormant plot: an SVG is cut short")
print(f"OK: dormant plot again: exit 0, {len(pngs)} whole figures and report.html")
