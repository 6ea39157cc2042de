#!/usr/bin/env python3
"""Every ephemeral port taken: exit 4 and "no free port", for each protocol.

It used to be exit 5 and "cannot write .../mosquitto.conf: Address already
in use" for MQTT and HTTP. The test runs in a private network namespace
(unshare -n, as root), narrows its ip_local_port_range to four ports and
binds all four, so the machine's own ports are never touched.
"""
import os
import shutil
import socket
import subprocess
import sys

from itlib import SKIP, Workdir, check, fail, need

RANGE = (40000, 40003)

if len(sys.argv) > 2 and sys.argv[2] == "--inside":
    dormant = sys.argv[1]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write(f"{RANGE[0]} {RANGE[1]}\n")
    held = []
    for port in range(RANGE[0], RANGE[1] + 1):
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        held.append(s)
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 0))
        fail(f"the namespace still has a free port: {probe.getsockname()}")
    except OSError:
        pass
    wd = Workdir("noports")
    protocols = ["mqtt", "http"] + (["amqp"] if os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server") else [])
    for proto in protocols:
        scenario = wd.file(f"{proto}.yaml", f"""
name: noports-{proto}
duration: 2s
fleets:
  - name: a
    count: 2
    wake_every: 1s
matrix:
  protocol: {proto}
  qos: 1
""")
        p = subprocess.run([dormant, "run", scenario, "-o", os.path.join(wd.path, "r"), "--no-progress",
                            "--no-plot"], capture_output=True, text=True, timeout=120)
        check(p.returncode == 4, f"{proto}: exit {p.returncode}, expected 4; stderr {p.stderr}")
        check("no free port" in p.stderr, f"{proto}: message does not say no free port: {p.stderr}")
        print(f"OK: {proto}: exit 4, {p.stderr.strip().splitlines()[0]}")
    sys.exit(0)

need("mosquitto", "unshare", "ip", "nginx")
if os.geteuid() != 0:
    print("SKIP: needs root for a private network namespace (unshare -n)")
    sys.exit(SKIP)
p = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__), sys.argv[1], "--inside"],
                   capture_output=True, text=True, timeout=600)
print(p.stdout + p.stderr)
if "unshare failed" in p.stderr or "Operation not permitted" in p.stderr:
    print("SKIP: cannot create a network namespace here")
    sys.exit(SKIP)
sys.exit(p.returncode)
