#!/usr/bin/env python3
"""A bad scenario: exit 3, exactly one FILE:LINE:COL: KEY: message line (the
exact text per case), nothing written; and input that could hang or exhaust
(a FIFO, a device, a plan of 6e11 wakes) is refused at once."""
import os
import subprocess
import sys
import time

from itlib import Workdir, check

dormant = sys.argv[1]
wd = Workdir("bad")
BASE = "name: x\nduration: 20s\nfleets:\n  - name: a\n    count: 2\n"
# name: (text, the message after "FILE:", exactly)
cases = {
    "bad_duration.yaml": (BASE + "    wake_every: 3x\n",
                          '6:17: wake_every: expected a duration like 30s, got "3x"'),
    "unknown_key.yaml": ("name: x\nduration: 20s\ncolour: red\nfleets:\n  - name: a\n    count: 2\n"
                         "    wake_every: 1s\n",
                         "3:1: colour: unknown key; valid top-level keys: name, seed, duration, concurrency, "
                         "wake_timeout, overrun, endpoint, tls_verify, tls_ciphersuite, tls_fault, auth_fault, battery_wh, "
                         "sleep_uw, fleets, matrix"),
    "syntax.yaml": ("name: x\nduration: [20s\n",
                    "3:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence "
                    "starting at 2:11)"),
    "not_built.yaml": (BASE + "    wake_every: 1s\n    connection: persistent\n    downlink: true\n"
                       "matrix:\n  protocol: http\n",
                       "7:17: connection: persistent http with downlink: true (fleet \"a\", variant \"http\"): "
                       "commands pushed down a kept connection are built for mqtt only"),
    "huge_plan.yaml": ("name: x\nduration: 7d\nfleets:\n  - name: big\n    count: 100000\n    wake_every: 100ms\n",
                       "2:11: duration: the plan has 604800000000 wakes per variant, at most 5000000 (fleet \"big\": "
                       "100000 devices every 100ms for 7d); shorten duration, lower count or raise wake_every"),
    "huge_tables.yaml": ("name: x\nduration: 10m\nfleets:\n  - name: a\n    count: 1000\n    wake_every: 1s\n"
                         "    messages_per_wake: 100\n",
                         "7:24: messages_per_wake: the plan sends 60000000 messages per variant, at most 5000000 "
                         "(fleet \"a\": 600000 wakes x 100); send fewer per wake, shorten duration or lower count"),
}
paths = {name: wd.file(name, text) for name, (text, _) in cases.items()}
fifo = os.path.join(wd.path, "fifo.yaml")
os.mkfifo(fifo)
paths["fifo.yaml"] = fifo
cases["fifo.yaml"] = (None, "not a regular file (a FIFO); a scenario is a YAML file")
paths["directory"] = wd.path
cases["directory"] = (None, "not a regular file (a directory); a scenario is a YAML file")
paths["/dev/zero"] = "/dev/zero"
cases["/dev/zero"] = (None, "not a regular file (a character device); a scenario is a YAML file")

for name, (_, want) in cases.items():
    path = paths[name]
    out = os.path.join(wd.path, "results-" + os.path.basename(name))
    for cmd in (["run", path, "-o", out, "--no-progress"], ["check", path]):
        t0 = time.monotonic()
        try:
            p = subprocess.run([dormant, *cmd], capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            check(False, f"{cmd[0]} {name}: still running after 20 s")
        took = time.monotonic() - t0
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 3, f"{cmd[0]} {name}: exit {p.returncode}, expected 3; stderr {p.stderr!r}")
        check(len(lines) == 1, f"{cmd[0]} {name}: {len(lines)} error lines: {p.stderr!r}")
        check(lines[0] == f"{path}:{want}" if want[0].isdigit() else lines[0] == f"{path}: {want}",
              f"{cmd[0]} {name}:\n  got:      {lines[0]!r}\n  expected: {path}:{want!r}")
        check(p.stdout == "", f"{cmd[0]} {name}: stdout {p.stdout!r}")
        # Under ASan a start is about 0.1 s; walking the huge plan took hours.
        check(took < 5, f"{cmd[0]} {name}: took {took:.1f} s")
    check(not os.path.exists(out) or not os.listdir(out), f"{name}: something was written under {out}")
    print(f"OK: {name} ({took * 1000:.0f} ms): {lines[0]}")

# Usage errors name the argument instead of dumping the usage.
p = subprocess.run([dormant, "run", "--frobnicate"], capture_output=True, text=True)
check(p.returncode == 2 and "--frobnicate" in p.stderr and len(p.stderr.splitlines()) == 1,
      f"bad option: exit {p.returncode}, stderr {p.stderr!r}")
print("OK: bad option:", p.stderr.strip())
