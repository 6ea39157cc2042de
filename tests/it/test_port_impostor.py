#!/usr/bin/env python3
"""A local process that takes a server's port first must not stand in for it.

dormant picks a free port, closes it and hands it to the server; a process
that binds it in between used to answer dormant's readiness check, and
every wake then ran against it. Now a server counts as started only when
the listening socket on its port is its own (socket inode in
/proc/net/tcp matched with /proc/PID/fd), else dormant tries other ports,
and gives up with exit 4 and a clear message.

To lose the race on purpose, the test hands dormant the impostors' ports
as its first picks through the DORMANT_TEST_PORTS hook (brokers/server.h).
Also checked: the run directory and the servers' configs are private.
"""
import glob
import os
import socket
import stat
import subprocess
import sys
import threading

from itlib import Workdir, check, fail, need, rows, show_server_logs, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("impostor")


class Impostor:
    """Listens on a kernel-picked port and records every byte anyone sends it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.bytes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.drain, args=(c,), daemon=True).start()

    def drain(self, c):
        c.settimeout(10)
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                self.bytes += len(d)
        except OSError:
            pass
        c.close()


def run(name, impostors):
    scenario = wd.file(f"{name}.yaml", f"""
name: {name}
duration: 2s
fleets:
  - name: a
    count: 2
    wake_every: 500ms
matrix:
  qos: 1
""")
    out = os.path.join(wd.path, f"results-{name}")
    env = dict(os.environ, DORMANT_TEST_PORTS=",".join(str(i.port) for i in impostors))
    p = subprocess.run([dormant, "run", scenario, "-o", out, "--no-progress", "--no-plot"], capture_output=True,
                       text=True, timeout=120, env=env)
    runs = glob.glob(os.path.join(out, "*"))
    return p, runs[0] if runs else None


# 1. The first pick is taken: dormant notices, tries other ports, runs against its own mosquitto.
imp = Impostor()
p, rundir = run("one", [imp])
if p.returncode != 0:
    show_server_logs(rundir)
    fail(f"exit {p.returncode} with one port taken, expected 0 after a retry; stderr {p.stderr}")
rs = rows(rundir)
expected = sum(v["expected_wakes"] for v in summary(rundir)["variants"])
check(rs and len(rs) == expected, f"{len(rs)} rows, the plan expects {expected}")
check(all(r["outcome"] == "ok" for r in rs), f"failed wakes: {[r['error_detail'] for r in rs if r['outcome'] != 'ok']}")
check(all(int(r["server_port"]) != imp.port for r in rs), f"wakes ran against the impostor on {imp.port}")
check(imp.bytes == 0, f"the impostor on {imp.port} received {imp.bytes} bytes")
log = glob.glob(os.path.join(rundir, "servers", "*", "mosquitto.log"))
print(f"OK: port {imp.port} taken by another process: not used ({imp.accepted} probe connections, 0 bytes); "
      f"{len(rs)} wakes against dormant's own mosquitto")

# Private: nobody else reads the run directory or what the servers were given.
mode = stat.S_IMODE(os.stat(rundir).st_mode)
check(mode & 0o077 == 0, f"run directory {rundir} has mode {oct(mode)}")
for f in glob.glob(os.path.join(rundir, "servers", "*", "*")) + [os.path.join(rundir, "wakes.csv")]:
    m = stat.S_IMODE(os.stat(f).st_mode)
    check(m & 0o077 == 0, f"{f} has mode {oct(m)}: readable by others")
print(f"OK: run directory {oct(mode)}, its files not readable by group or others")

# 2. Every port dormant tries is taken: exit 4 with a message that says so, no wake run.
imps = [Impostor() for _ in range(6)]  # mosquitto needs 2 per try, 3 tries
p, rundir = run("all", imps)
check(p.returncode == 4, f"exit {p.returncode} with every pick taken, expected 4; stderr {p.stderr}")
check("held by a process dormant did not start" in p.stderr, f"unclear message: {p.stderr}")
check(not rundir or not os.path.exists(os.path.join(rundir, "wakes.csv")) or not rows(rundir),
      "wakes ran although no server started")
check(sum(i.bytes for i in imps) == 0, "an impostor received bytes")
print(f"OK: every pick taken: exit 4, \"{p.stderr.strip().splitlines()[0]}\"")
