#!/usr/bin/env python3
"""Device TLS against a real mosquitto, checked against a tshark capture.

Variants: ECDSA with resume none / session-id / ticket, RSA with session-id,
PSK, and mutual TLS (ECDSA + client certificates) with session-id.
Checks, wake by wake:
- every wake ok, messages at QoS 1 not lost;
- resume none: nothing offered, nothing resumed, a Certificate every wake;
- session-id / ticket: each device's first wake is a full handshake, every
  later wake is resumed; PSK offers no resumption (and says so);
- the capture agrees: a wake has a Certificate message from the server if
  and only if dormant says it was not resumed, and on resumed wakes the
  ServerHello echoes the ClientHello's session id;
- IP-level bytes and segments equal the capture.
"""
import glob
import os
import re
import subprocess
import sys

from itlib import Workdir, check, check_bytes_equal_capture, first_wakes, need, row_key, run_captured, tls_wire

need("mosquitto", "tshark")
dormant = sys.argv[1]
wd = Workdir("tls")
scenario = wd.file("tls.yaml", """
name: tls
seed: 3
duration: 4s
fleets:
  - name: s
    count: 3
    wake_every: 1s
    qos: 1
  - name: big            # more than the modem's 64 KiB buffers, in 16 KiB records
    count: 1
    wake_every: 2s
    payload: 100KiB
    messages_per_wake: 2
    qos: 1
matrix:
  - tls: ecdsa
    resume: [none, session-id, ticket]
  - tls: rsa
    resume: session-id
  - tls: psk
    resume: ticket
  - tls: ecdsa
    client_cert: true
    resume: session-id
""")
cap, rundir, rs, sm = run_captured(dormant, wd, scenario)
for v in sm["variants"]:
    check(v["messages"]["lost"] == 0, f"{v['name']}: lost messages {v['messages']}")

# What the results say, wake by wake.
first_seq = first_wakes(rs)
for r in rs:
    name, first = r["variant"], int(r["seq"]) == first_seq[(r["variant"], r["device"])]
    offered, resumed, certs = int(r["resume_offered"]), int(r["resumed"]), int(r["cert_msgs"])
    where = f"{name} device {r['device']} seq {r['seq']}"
    if "resume=none" in name or "psk" in name:
        check(not offered and not resumed, f"{where}: offered {offered} resumed {resumed}, expected neither")
    elif first:
        check(not offered and not resumed and certs == 1, f"{where}: first wake must be a full handshake")
    else:
        check(offered and resumed and certs == 0, f"{where}: expected a resumed handshake, got "
              f"offered {offered} resumed {resumed} certificates {certs}")
    check(int(r["t_tls_us"]) > 0 and int(r["stream_up_tls"]) > 0, f"{where}: no TLS phase recorded")
psk = [v for v in sm["variants"] if v["tls"] == "psk"][0]
check("PSK identity" in psk["tls_handshakes"]["note"], f"PSK variant does not say why it does not resume: {psk}")

# The capture, decoded as TLS on each variant's broker port.
ports = []
for conf in glob.glob(os.path.join(rundir, "servers", "*", "mosquitto.conf")):
    ports += re.findall(r"^listener (\d+) ", open(conf).read(), re.M)
wire = tls_wire(cap, ports)
for r in rs:
    key = row_key(r)
    w = wire.get(key)
    check(w, f"wake {key} has no TLS handshake in the capture")
    server_cert = (False, 11) in w["types"]
    resumed = int(r["resumed"]) == 1
    if "psk" in r["variant"]:  # PSK has no certificates, and offers no resumption
        check(not server_cert and not resumed and (False, 2) in w["types"], f"PSK wake {key}: {w}")
        continue
    check(server_cert != resumed, f"{r['variant']} wake {key}: capture Certificate {server_cert}, dormant resumed {resumed}")
    if resumed:
        check(w["client_sid"] and w["client_sid"] == w["server_sid"],
              f"{r['variant']} wake {key}: resumed, but the ServerHello did not echo the session id ({w})")

check_bytes_equal_capture(rs, cap)
n_res = sum(int(r["resumed"]) for r in rs)
print(f"OK: {len(rs)} TLS wakes, {n_res} resumed; Certificate messages and session ids in the capture agree with "
      f"every row; IP bytes equal the capture")
