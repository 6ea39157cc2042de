#!/usr/bin/env python3
"""A bad scenario: exit 3, exactly one FILE:LINE:COL error line, nothing written."""
import os
import re
import subprocess
import sys

from itlib import Workdir, check

dormant = sys.argv[1]
wd = Workdir("bad")
cases = {
    "bad_duration.yaml": ("name: x\nduration: 20s\nfleets:\n  - name: a\n    count: 2\n    wake_every: 3x\n",
                          r':6:17: wake_every: expected a duration like 30s, got "3x"$'),
    "unknown_key.yaml": ("name: x\nduration: 20s\ncolour: red\nfleets:\n  - name: a\n    count: 2\n"
                         "    wake_every: 1s\n", r":3:1: colour: unknown key"),
    "syntax.yaml": ("name: x\nduration: [20s\n", r":\d+:\d+: "),
}
for name, (text, pattern) in cases.items():
    path = wd.file(name, text)
    out = os.path.join(wd.path, "results-" + name)
    for cmd in (["run", path, "-o", out], ["check", path]):
        p = subprocess.run([dormant, *cmd], capture_output=True, text=True, timeout=30)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 3, f"{cmd[0]} {name}: exit {p.returncode}, expected 3; stderr {p.stderr!r}")
        check(len(lines) == 1, f"{cmd[0]} {name}: {len(lines)} error lines: {p.stderr!r}")
        check(lines[0].startswith(path + ":"), f"{cmd[0]} {name}: error does not start with the file: {lines[0]}")
        check(re.search(pattern, lines[0]), f"{cmd[0]} {name}: {lines[0]!r} does not match {pattern!r}")
    check(not os.path.exists(out) or not os.listdir(out), f"{name}: something was written under {out}")
    print(f"OK: {name}: {lines[0]}")

# Usage errors name the argument instead of dumping the usage.
p = subprocess.run([dormant, "run", "--frobnicate"], capture_output=True, text=True)
check(p.returncode == 2 and "--frobnicate" in p.stderr and len(p.stderr.splitlines()) == 1,
      f"bad option: exit {p.returncode}, stderr {p.stderr!r}")
print("OK: bad option:", p.stderr.strip())
