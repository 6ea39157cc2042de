#!/usr/bin/env python3
"""A full disk: nothing half-written is ever left, and the exit says which file.

Each case mounts a small tmpfs, fills it with a file until only a little
room is left, and runs the real dormant on it:

- mid-run: `dormant run` with its results on the tmpfs. The rows outgrow the
  room while the fleet runs; dormant must exit 5 naming wakes.csv, and
  wakes.csv must end in a whole row (every line has the header's field
  count, the last ends in a line break), with no .summary.json.tmp left and
  summary.json either absent or whole JSON.
- mid-run behind an emulated link (root and /dev/net/tun only): packets.csv
  as well as wakes.csv grows; dormant must exit 5 naming one of them, and
  both must end in a whole row.
- plotting: a finished run (made on the normal disk) copied onto the tmpfs,
  for several amounts of room (so the disk fills while writing data, a
  script, an image or report.html). `dormant plot` must exit 5 naming a file
  of the run and "No space left on device", and leave no 0-byte or cut
  PNG, SVG, data or script file and no temporary page. With the room back,
  the same plot must succeed.

Needs root (mount); exits 77 when tmpfs cannot be mounted. Every mount is
unmounted on every exit path.
"""
import csv
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from itlib import SKIP, Workdir, check, fail, need, run_dormant, show_server_logs

need("mosquitto", "gnuplot")
dormant = sys.argv[1]
wd = Workdir("full-disk")
mounts = []


def mount(name, size_kib):
    path = os.path.join(wd.path, name)
    os.makedirs(path)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"SKIP: cannot mount a tmpfs (needs root): {p.stderr.strip()}")
        sys.exit(SKIP)
    mounts.append(path)
    return path


def unmount_all():
    while mounts:
        path = mounts.pop()
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path, leave_kib):
    """Fills the file system at PATH until about LEAVE_KIB KiB are free."""
    filler = os.path.join(path, "filler")
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    want = free - leave_kib * 1024
    check(want > 0, f"{path}: only {free} bytes free, cannot leave {leave_kib} KiB")
    with open(filler, "ab") as f:
        f.write(b"\0" * want)
    return filler


def no_temp_files(root):
    left = [p for p in glob.glob(os.path.join(root, "**", ".*.tmp"), recursive=True)]
    check(not left, f"temporary files left behind: {left}")


def check_whole_images(plots):
    """Every image, data file and script in PLOTS is non-empty and whole."""
    for p in glob.glob(os.path.join(plots, "*")):
        ext = p.rsplit(".", 1)[-1]
        if ext not in ("png", "svg", "dat", "gp"):
            continue
        with open(p, "rb") as f:
            data = f.read()
        check(data, f"{p} is empty")
        if ext == "png":
            check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND", f"{p} is not a whole PNG")
        elif ext == "svg":
            check(data.rstrip().endswith(b"</svg>"), f"{p} is not a whole SVG")
        elif ext == "gp":
            check(data.rstrip().endswith(b"}"), f"{p} is a cut script")


def whole_rows(path):
    """PATH ends in a whole row and every row has the header's fields; the number of rows."""
    with open(path, newline="") as f:
        text = f.read()
    check(text.endswith("\n"), f"{path} does not end in a line break: a row is cut")
    lines = list(csv.reader(text.splitlines()))
    cut = [i for i, l in enumerate(lines) if len(l) != len(lines[0])]
    check(not cut, f"{path}: rows {cut[:5]} do not have the header's {len(lines[0])} fields")
    return len(lines) - 1


def links_case():
    """packets.csv and wakes.csv on a disk that fills mid-run, behind a fast emulated link."""
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        print("skipped: the links case needs root and /dev/net/tun")
        return
    wd.file("links/fast.yaml", """
name: fast
delay_ms: 1              # chosen: a test link
up_kbps: 100000          # chosen
down_kbps: 100000        # chosen
loss_up: 0               # chosen
loss_down: 0             # chosen
queue_packets: 200       # chosen
mtu: 1400                # chosen
link_overhead_bytes: 0   # chosen
attach_ms: 0             # chosen
attach_mj: 0             # chosen
nat_timeout_s: 0         # chosen
tx_mw: 100               # chosen
rx_mw: 100               # chosen
idle_mw: 10              # chosen
tail_ms: 0               # chosen
tail_mw: 0               # chosen
release_assist: true     # chosen
sleep_uw: 10             # chosen
""")
    scenario = wd.file("full-links.yaml", """
name: fulllinks
duration: 3s
fleets:
  - name: s
    count: 10
    wake_every: 500ms
    payload: 48B
    link: fast
matrix:
  - qos: 1
""")
    disk = mount("links-disk", 256)
    # 60 wakes: about 20 KiB of rows and 40 KiB of packets, 48 KiB of room
    fill(disk, 48)
    deadline = time.monotonic() + 240
    while True:
        rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(disk, "results"))
        if rc != 4 or "already in use" not in err:
            break
        if time.monotonic() > deadline:
            print(f"skipped: another run holds the link emulator for 4 minutes: {err.strip()}")
            unmount_all()
            return
        time.sleep(10)
    print(err.strip())
    if rc != 5:
        show_server_logs(rundir)
        fail(f"dormant run with links on a full disk exited {rc}, not 5:\n{out}\n{err}")
    check(rundir and (f"{rundir}/wakes.csv: No space left on device" in err or
                      f"{rundir}/packets.csv: No space left on device" in err),
          f"the error does not name wakes.csv or packets.csv and the full disk: {err}")
    n = whole_rows(os.path.join(rundir, "wakes.csv"))
    pk = os.path.join(rundir, "packets.csv")
    k = whole_rows(pk) if os.path.exists(pk) else 0
    no_temp_files(rundir)
    print(f"OK: a full disk behind a link: exit 5, wakes.csv {n} whole rows, packets.csv {k} whole rows")
    unmount_all()


def main():
    # ---- mid-run: the rows outgrow the room ----
    scenario = wd.file("full.yaml", """
name: full
duration: 3s
fleets:
  - name: s
    count: 10
    wake_every: 300ms
    payload: 48B
matrix:
  - qos: 1
""")
    disk = mount("run-disk", 256)
    # about 24 KiB go to the run directory's other files (a page each); the
    # 100 rows need about 33 KiB
    fill(disk, 48)
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(disk, "results"))
    print(err.strip())
    if rc != 5:
        show_server_logs(rundir)
        fail(f"dormant run on a full disk exited {rc}, not 5:\n{out}\n{err}")
    check(rundir and f"{rundir}/wakes.csv: No space left on device" in err,
          f"the error does not name wakes.csv and the full disk: {err}")
    check("rows not written" in err or "row not written" in err, f"the error does not count the lost rows: {err}")
    with open(os.path.join(rundir, "wakes.csv"), newline="") as f:
        text = f.read()
    check(text.endswith("\n"), "wakes.csv does not end in a line break: a row is cut")
    lines = list(csv.reader(text.splitlines()))
    width = len(lines[0])
    cut = [i for i, l in enumerate(lines) if len(l) != width]
    check(not cut, f"wakes.csv rows {cut[:5]} do not have the header's {width} fields")
    check(len(lines) > 1, "wakes.csv has no row at all: the disk was full before the run")
    no_temp_files(rundir)
    summary = os.path.join(rundir, "summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            json.load(f)
    print(f"OK: a full disk mid-run: exit 5 naming wakes.csv, {len(lines) - 1} whole rows, no temporary file")
    unmount_all()
    links_case()

    # ---- plotting: a finished run copied onto a small disk ----
    rc, out, err, done = run_dormant(dormant, scenario, os.path.join(wd.path, "runs"), extra=("--no-plot",))
    if rc != 0:
        show_server_logs(done)
        fail(f"dormant run exited {rc}: {err}")
    seen = set()
    for leave in (4, 24, 64, 120):
        disk = mount(f"plot-disk-{leave}", 1024)
        run = os.path.join(disk, "run")
        shutil.copytree(done, run)
        filler = fill(disk, leave)
        p = subprocess.run([dormant, "plot", run], capture_output=True, text=True, timeout=300)
        msg = p.stderr.strip()
        print(f"{leave} KiB free: exit {p.returncode}: {msg}")
        check(p.returncode == 5, f"dormant plot with {leave} KiB free exited {p.returncode}, not 5:\n"
                                 f"{p.stdout}\n{p.stderr}")
        check(f"{run}/" in msg and "No space left on device" in msg,
              f"the error does not name a file of the run and the full disk: {msg}")
        seen.add(os.path.basename(msg.split(":")[-2]) if msg.count(":") >= 2 else msg)
        check_whole_images(os.path.join(run, "plots"))
        no_temp_files(run)
        check(not os.path.exists(os.path.join(run, "report.html")) or
              open(os.path.join(run, "report.html")).read().rstrip().endswith("</html>"),
              "report.html is cut")
        # with the room back, the same plot succeeds
        os.remove(filler)
        p = subprocess.run([dormant, "plot", run], capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"dormant plot with room again exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        check_whole_images(os.path.join(run, "plots"))
        unmount_all()
    print(f"OK: dormant plot on a full disk: exit 5 naming {sorted(seen)}; no empty or cut file; "
          f"with room again it draws")


try:
    main()
finally:
    unmount_all()
shutil.rmtree(wd.path, ignore_errors=True)
