#!/usr/bin/env python3
"""dormant plot: figures and report.html from a real run.

A small run (MQTT QoS 0 and 1 in plaintext, and QoS 1 over TLS with ticket
resumption) is made with --no-plot, which must leave no figures; then
`dormant plot RUN_DIR` must draw every figure the run has data for as a
valid, non-empty PNG (signature, IHDR size) and SVG (well-formed XML with
an <svg> root and drawing in it), keep each figure's data and gnuplot
script beside it (re-running a script by hand must work), and write a
report.html that inlines every figure, references no external resource,
and loads in headless Chromium, which takes a screenshot of it.
A hand-written run directory with failed wakes and broker samples checks
the two figures a clean run does not draw, and a run without either says
why they are left out.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

from itlib import Workdir, check, fail, need, rows, run_dormant, show_server_logs, summary

need("mosquitto", "gnuplot")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    print("SKIP: chromium not installed (apt-get install chromium)")
    sys.exit(77)
dormant = sys.argv[1]
wd = Workdir("plot")

# dormant samples every broker it starts, so a real run always has the broker figure.
ALWAYS = ["bytes_ip", "bytes_plain", "tls", "cdf_wake", "cdf_e2e", "cpu_heap", "broker"]
WHEN_DATA = ["failures", "radio"]  # drawn only with failed wakes; with emulated links


def check_png(path, min_w=300, min_h=200):
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) > 2000, f"{path}: only {len(data)} bytes")
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG (signature {data[:8]!r})")
    length, ctype = struct.unpack(">I4s", data[8:16])
    check(ctype == b"IHDR" and length == 13, f"{path}: first chunk is {ctype!r}, not IHDR")
    w, h = struct.unpack(">II", data[16:24])
    check(w >= min_w and h >= min_h, f"{path}: {w}x{h} is too small")
    check(data[-8:-4] == b"IEND", f"{path}: no IEND chunk at the end (truncated?)")
    return w, h


def check_svg(path):
    check(os.path.getsize(path) > 2000, f"{path}: only {os.path.getsize(path)} bytes")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail(f"{path}: not well-formed XML: {e}")
    check(root.tag.endswith("svg"), f"{path}: root element is {root.tag}, not svg")
    drawn = [e for e in root.iter() if e.tag.split("}")[-1] in ("path", "rect", "polygon", "text")]
    check(len(drawn) > 20, f"{path}: only {len(drawn)} drawing elements")


EXTERNAL = re.compile(r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:[a-z]+:)?//)"""
                      r"""|url\(\s*["']?\s*(?:[a-z]+:)?//|@import""", re.I)


def check_report(path, figures):
    with open(path, encoding="utf-8") as f:
        html = f.read()
    m = EXTERNAL.search(html)
    check(not m, f"{path}: references an external resource: ...{html[max(0, m.start() - 60):m.end() + 60]}..."
          if m else "")
    check("<script" not in html.lower(), f"{path}: has a script")
    for name in figures:
        i = html.find(f'<figure id="fig-{name}"')
        check(i >= 0, f"{path}: no figure {name}")
        j = html.find("</figure>", i)
        check("<svg" in html[i:j], f"{path}: figure {name} has no inline SVG")
    # every local link must resolve (nothing the page points at is missing)
    base = os.path.dirname(path)
    for ref in re.findall(r"""\b(?:src|href)\s*=\s*"([^"#][^"]*)\"""", html):
        if ref.startswith("data:"):
            continue
        check(os.path.exists(os.path.join(base, ref)), f"{path}: link to a missing file {ref}")
    return html


def chromium(url, profile, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", f"--user-data-dir={profile}", *args, url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        fail(f"chromium did not finish within 120 s: {' '.join(cmd)}")


def check_in_browser(report, figures):
    profile = os.path.join(wd.path, "chromium-profile")
    shot = os.path.join(wd.path, os.path.basename(os.path.dirname(report)) + "-screenshot.png")
    url = "file://" + os.path.abspath(report)
    p = chromium(url, profile, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars")
    check(os.path.exists(shot), f"chromium wrote no screenshot (exit {p.returncode}):\n{p.stderr[-3000:]}")
    w, h = check_png(shot, 1000, 1000)
    print(f"OK: chromium loaded {report} and took a {w}x{h} screenshot: {shot}")
    # the DOM chromium built has every figure as an SVG element
    p = chromium(url, profile, "--dump-dom")
    check(p.returncode == 0, f"chromium --dump-dom exited {p.returncode}:\n{p.stderr[-3000:]}")
    for name in figures:
        check(re.search(rf'<figure id="fig-{name}">\s*<div class="img">\s*<svg', p.stdout),
              f"chromium's DOM has no SVG for figure {name}")
    # a phone-sized window lays the page out too
    shot2 = shot.replace(".png", "-phone.png")
    chromium(url, profile, f"--screenshot={shot2}", "--window-size=390,3000")
    check_png(shot2, 300, 1000)


def check_figures(rundir, figures):
    plots = os.path.join(rundir, "plots")
    for name in figures:
        for ext in ("dat", "gp"):
            check(os.path.getsize(os.path.join(plots, f"{name}.{ext}")) > 0, f"{name}.{ext} is empty")
        check_png(os.path.join(plots, f"{name}.png"))
        check_svg(os.path.join(plots, f"{name}.svg"))
    print(f"OK: {rundir}: {', '.join(figures)}: valid PNG and SVG, with their data and scripts")


# ---- a real run ----
scenario = wd.file("plot.yaml", """
name: plot
duration: 3s
fleets:
  - name: s
    count: 4
    wake_every: 500ms
    jitter: 50ms
    payload: 48B
matrix:
  - qos: [0, 1]
  - tls: ecdsa
    resume: ticket
    qos: 1
""")
rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "runs"), extra=("--no-plot",))
if rc != 0:
    show_server_logs(rundir)
    fail(f"dormant run exited {rc}: {err}")
check(not os.path.exists(os.path.join(rundir, "report.html")), "--no-plot still wrote report.html")
# wakes.csv's ip_lower_bound column sits after tcp_info_ok, and summary.json counts its wakes
rs, sm = rows(rundir), summary(rundir)
header = list(rs[0].keys())
check(header.index("ip_lower_bound") == header.index("tcp_info_ok") + 1, f"ip_lower_bound is misplaced: {header}")
for v in sm["variants"]:
    marked = sum(1 for r in rs if r["variant"] == v["name"] and r["ip_lower_bound"] == "1")
    check(v["ip_lower_bound_wakes"] == marked,
          f"{v['name']}: summary.json counts {v['ip_lower_bound_wakes']} lower-bound wakes, wakes.csv {marked}")
    # the table's cpu column is a figure, or says why there is none (no wake ran alone); never nan
    line = next((l for l in out.splitlines() if l.startswith(v["name"] + " ")), "")
    check(line and " nan " not in line.replace("/", " "), f"{v['name']}: the table has nan: {line!r}")
    if v["cpu_us_alone"]["n"] == 0:
        check("no figure: no wake ran alone" in out, f"{v['name']}: no wake ran alone, and the table does not say so")
check(not os.path.exists(os.path.join(rundir, "plots")), "--no-plot still made plots/")

p = subprocess.run([dormant, "plot", rundir], capture_output=True, text=True, timeout=300)
check(p.returncode == 0, f"dormant plot exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
report = os.path.join(rundir, "report.html")
check(f"report: {report}" in p.stdout, f"dormant plot did not print the report's path:\n{p.stdout}")
for name in WHEN_DATA:
    check(re.search(rf"^plot: {name}: left out: .+", p.stdout, re.M),
          f"dormant plot did not say why {name} is left out:\n{p.stdout}")
check_figures(rundir, ALWAYS)
html = check_report(report, ALWAYS)
for text in ("mqtt qos=0", "mqtt qos=1", "resume=ticket", "TLS handshakes", "Scenario", "Environment",
             "wake_every: 500ms"):
    check(text in html, f"report.html does not mention {text!r}")
for name in WHEN_DATA:
    check(f'<figure id="fig-{name}"' not in html, f"report.html shows {name}, which the run has no data for")

# a user can edit a script and re-run it where it is
plots = os.path.join(rundir, "plots")
os.remove(os.path.join(plots, "bytes_ip.png"))
g = subprocess.run(["gnuplot", "-e", 'fmts="png"', "bytes_ip.gp"], cwd=plots, capture_output=True, text=True,
                   timeout=60)
check(g.returncode == 0, f"gnuplot bytes_ip.gp in plots/ failed: {g.stderr}")
check_png(os.path.join(plots, "bytes_ip.png"))
print("OK: plots/bytes_ip.gp re-runs by hand")

check_in_browser(report, ALWAYS)

# ---- a hand-written run: failed wakes and broker samples ----
hand = os.path.join(wd.path, "hand")
os.makedirs(os.path.join(hand, "servers", "01-mqtt-qos-1"))
cols = ["variant", "protocol", "broker", "tls", "resume", "qos", "outcome", "error_kind", "error_detail",
        "t_wake_us", "e2e_us", "cpu_us", "plain_up", "plain_down", "ip_up", "ip_down",
        "plain_up_setup", "plain_down_setup", "ip_up_setup", "ip_down_setup", "some_future_column"]
lines = [",".join(cols)]
for i in range(40):
    ok = i % 8 != 0
    kind = "" if ok else ("timeout" if i % 16 else "connect")
    lines.append(",".join(["mqtt qos=1", "mqtt", "default", "none", "none", "1", "ok" if ok else "failed", kind,
                           "" if ok else '"no CONNACK, ""rc"" 7"', str(1000 + 37 * i), str(200 + i),
                           str(500 + i), "96", "8", "500", "300", "18", "4", "122", "108", "x"]))
with open(os.path.join(hand, "wakes.csv"), "w") as f:
    f.write("\n".join(lines) + "\n")
# broker samples as brokers/procstat.c writes them: a row per process per sample, CPU in ms
# since the window opened. The broker uses 50 ms per 0.5 s (10 %); from 2.5 s a helper process
# adds 10 ms per 0.5 s: 12 % of one core for the server, its two processes summed.
with open(os.path.join(hand, "servers", "01-mqtt-qos-1", "broker.csv"), "w") as f:
    f.write("t_s,pid,cpu_user_ms,cpu_sys_ms,rss_kib\n")
    for k in range(20):
        f.write(f"{0.5 * k:.3f},4242,{40 * k},{10 * k},{9000 + 8 * k}\n")
        if k >= 5:
            f.write(f"{0.5 * k:.3f},4243,{10 * (k - 5)},0,2048\n")
p = subprocess.run([dormant, "plot", hand], capture_output=True, text=True, timeout=300)
check(p.returncode == 0, f"dormant plot on the hand-written run exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
check(re.search(r"^plot: tls: left out: no TLS variants", p.stdout, re.M),
      f"no note that the TLS figure is left out:\n{p.stdout}")
check_figures(hand, ["bytes_ip", "cdf_wake", "broker", "failures"])
html = check_report(os.path.join(hand, "report.html"), ["broker", "failures"])
check("summary.json is missing" in html, "report.html does not say summary.json is missing")
# rows 0, 8, 16, 24, 32 failed: 8 and 24 by timeout, the others by connect
check(re.search(r"<td[^>]*>timeout</td><td>2</td>", html) and re.search(r"<td[^>]*>connect</td><td>3</td>", html),
      "report.html's failure table does not count 2 timeout and 3 connect")
with open(os.path.join(hand, "plots", "broker.dat")) as f:
    samples = [[float(x) for x in l.split("\t")] for l in f if l[0].isdigit()]
cpu, rss = [x[1] for x in samples], [x[2] for x in samples]
check(len(samples) == 20, f"broker.dat should have 20 samples (one per time, processes summed): {len(samples)}")
check(all(abs(c - 10.0) < 1e-6 for c in cpu[1:6]) and all(abs(c - 12.0) < 1e-6 for c in cpu[6:]),
      f"broker CPU should be 10 %, then 12 % with the helper: {cpu}")
check(abs(rss[19] - (9000 + 8 * 19 + 2048) / 1024) < 1e-3, f"RSS should sum both processes: {rss[19]} MiB")
check_in_browser(os.path.join(hand, "report.html"), ["broker", "failures"])

# a summary.json that does not parse: plot goes on from wakes.csv and says where the file broke
with open(os.path.join(hand, "summary.json"), "w") as f:
    f.write('{\n  "scenario": "hand",\n  "variants": [ {"name": "mqtt qos=1",} ]\n}\n')
p = subprocess.run([dormant, "plot", hand], capture_output=True, text=True, timeout=300)
check(p.returncode == 0, f"dormant plot with a broken summary.json exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
where = os.path.join(hand, "summary.json") + ":3:"
check(where in p.stdout, f"dormant plot does not say where summary.json broke ({where}...):\n{p.stdout}")
with open(os.path.join(hand, "report.html")) as f:
    check(where in f.read(), "report.html does not say where summary.json broke")
print("OK: a broken summary.json is reported with its line and column")

# not a run directory: exit 2 and a line that says so
p = subprocess.run([dormant, "plot", wd.path], capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "wakes.csv" in p.stderr, f"plot on a non-run directory: exit {p.returncode}, {p.stderr}")
print("OK: report.html is self-contained and loads in Chromium; plot refuses a directory that is not a run")
shutil.rmtree(wd.path, ignore_errors=True)
