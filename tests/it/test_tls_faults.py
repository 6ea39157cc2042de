#!/usr/bin/env python3
"""TLS failures are results: a wrong CA, a server certificate for the wrong
name and a wrong PSK each fail every wake with a clear error kind in its
row; the run goes on (every scheduled wake has its row) and exits 0."""
import os
import sys

from itlib import Workdir, check, fail, need, rows, run_dormant, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("tlsfault")
cases = [("wrong-ca", "ecdsa", "tls_verify", "not correctly signed by the trusted CA"),
         ("wrong-name", "ecdsa", "tls_verify", "Common Name"),
         ("wrong-psk", "psk", "tls_handshake", "alert")]
for fault, mode, kind, words in cases:
    scenario = wd.file(f"{fault}.yaml", f"""
name: {fault}
duration: 2s
wake_timeout: 5s
tls_fault: {fault}
fleets:
  - name: s
    count: 2
    wake_every: 1s
matrix:
  tls: {mode}
""")
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, fault), timeout=120)
    check(rc == 0, f"{fault}: exit {rc}: {err}")
    rs = rows(rundir)
    exp = summary(rundir)["variants"][0]["expected_wakes"]
    check(len(rs) == exp, f"{fault}: {len(rs)} rows, expected {exp}")
    for r in rs:
        check(r["outcome"] == "failed" and r["error_kind"] == kind and words in r["error_detail"],
              f"{fault}: row {r['device']}/{r['seq']}: {r['outcome']} {r['error_kind']} {r['error_detail']!r}")
        check(int(r["t_wake_us"]) < 5_000_000, f"{fault}: a wake took {r['t_wake_us']} us (hang?)")
    print(f"OK: {fault}: {len(rs)} wakes failed with {kind}: {rs[0]['error_detail']}")
