#!/usr/bin/env python3
"""AMQP 1.0 (qpid-proton) against a real RabbitMQ, captured on lo.

Variants: plaintext QoS 0 and 1; TLS (ECDSA) with session-id resumption;
TLS with ticket resumption, which RabbitMQ cannot do (Erlang has no TLS 1.2
session tickets) and must show as refused. Checks: every wake ok, no loss
at QoS 1; session-id resumption proven wake by wake (and the capture shows
no Certificate on resumed wakes); every offered ticket refused with a full
handshake; IP-level bytes and segments of every wake equal the capture.
"""
import glob
import os
import re
import subprocess
import sys
from itlib import Workdir, check, check_bytes_equal_capture, conn_key, first_wakes, need, row_key, run_captured

need("/usr/lib/rabbitmq/bin/rabbitmq-server", "tshark")
dormant = sys.argv[1]
wd = Workdir("amqp")
scenario = wd.file("amqp.yaml", """
name: amqp
seed: 5
duration: 3s
fleets:
  - name: s
    count: 3
    wake_every: 1s
  - name: big            # proton has more to write than the modem takes at once
    count: 1
    wake_every: 2s
    payload: 100KiB
    messages_per_wake: 2
matrix:
  - protocol: amqp
    qos: [0, 1]
  - protocol: amqp
    tls: ecdsa
    resume: [session-id, ticket]
    qos: 1
""")
cap, rundir, rs, sm = run_captured(dormant, wd, scenario, timeout=600)
for v in sm["variants"]:
    check(v["server"] == "rabbitmq", f"{v['name']} ran on {v['server']}")
    m = v["messages"]
    if v["qos"] == 1:
        check(m["lost"] == 0 and m["received"] == m["sent"] > 0, f"{v['name']}: {m}")

first = first_wakes(rs)
for r in rs:
    if "tls" not in r["variant"]:
        continue
    is_first = int(r["seq"]) == first[(r["variant"], r["device"])]
    where = f"{r['variant']} {r['device']}/{r['seq']}"
    if is_first:
        check(r["resume_offered"] == "0" and r["resumed"] == "0", f"{where}: first wake not a full handshake")
    elif "session-id" in r["variant"]:
        check(r["resumed"] == "1" and r["cert_msgs"] == "0", f"{where}: session id not resumed")
    else:
        # Erlang issues no TLS 1.2 tickets: nothing to offer, every handshake full, and it says refused.
        check(r["resume_refused"] == "1" and r["resumed"] == "0" and r["tickets"] == "0" and r["cert_msgs"] == "1",
              f"{where}: the ticket variant should be refused: refused {r['resume_refused']} resumed "
              f"{r['resumed']} tickets {r['tickets']} certificates {r['cert_msgs']}")
    if "tls" in r["variant"] and is_first:
        check("ticket" not in r["variant"] or r["resume_refused"] == "1", f"{where}: first ticket wake not refused")

ports = []
for conf in glob.glob(os.path.join(rundir, "servers", "**", "rabbitmq.conf"), recursive=True):
    ports += re.findall(r"^listeners\.ssl\.\S+\s*=\s*127\.0\.0\.1:(\d+)", open(conf).read(), re.M)
decode = sum((["-d", f"tcp.port=={p},tls"] for p in ports), [])
if decode:
    fields = subprocess.run(["tshark", "-r", cap.path, *decode, "-Y", "tls.handshake.type == 11", "-T", "fields",
                             "-E", "separator=,", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst",
                             "-e", "tcp.dstport"], capture_output=True, text=True).stdout
    with_cert = {conn_key(*l.split(",")) for l in fields.splitlines() if l.count(",") == 3}
    for r in rs:
        if "tls" in r["variant"]:
            key = row_key(r)
            check((key in with_cert) == (r["resumed"] == "0"),
                  f"{r['variant']} {key}: capture Certificate {key in with_cert}, dormant resumed {r['resumed']}")

check_bytes_equal_capture(rs, cap)
print(f"OK: {len(rs)} AMQP wakes on RabbitMQ; session ids resumed, tickets refused; IP bytes equal the capture")
