#!/usr/bin/env python3
"""Heap and session figures of the device's TLS (needs a build without
sanitizers: the malloc wrappers that measure them stand aside under ASan).
A full handshake's context holds mbedTLS's two record buffers (16 KiB+ each),
so its high-water mark is above 33 KiB and below 256 KiB; a resumed device
keeps a serialized session of some hundred bytes to a few KiB."""
import os
import sys

from itlib import Workdir, check, fail, need, rows, run_dormant, summary

need("mosquitto")
dormant = sys.argv[1]
wd = Workdir("heap")
scenario = wd.file("heap.yaml", """
name: heap
duration: 3s
fleets:
  - name: s
    count: 2
    wake_every: 1s
matrix:
  tls: ecdsa
  resume: ticket
""")
rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "r"))
check(rc == 0, f"exit {rc}: {err}")
rs = rows(rundir)
expected = sum(v["expected_wakes"] for v in summary(rundir)["variants"])
# Every figure below is checked per row: a run without rows would check nothing.
check(rs and len(rs) == expected, f"{len(rs)} rows, the plan expects {expected}")
for r in rs:
    check(r["outcome"] == "ok", f"wake failed: {r['error_detail']}")
    heap = int(r["tls_heap_peak"])
    check(33 * 1024 < heap < 256 * 1024, f"heap high-water {heap} B out of range")
    check(100 < int(r["tls_session_bytes"]) < 8192, f"stored session {r['tls_session_bytes']} B out of range")
    check(float(r["tls_hs_cpu_us"]) > 0, "no handshake CPU")
print(f"OK: heap high-water {r['tls_heap_peak']} B, stored session {r['tls_session_bytes']} B")
