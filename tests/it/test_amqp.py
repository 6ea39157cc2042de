#!/usr/bin/env python3
"""AMQP 1.0 (qpid-proton) against a real RabbitMQ, captured on lo.

Variants: plaintext QoS 0 and 1; TLS (ECDSA) with session-id resumption;
TLS with ticket resumption, which RabbitMQ cannot do (Erlang has no TLS 1.2
session tickets) and must show as refused. Checks: every wake ok, no loss
at QoS 0 or 1; session-id resumption proven wake by wake (and the capture shows
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
    # QoS 0 too: on loopback with no fault, a pre-settled transfer that the
    # device wrote before the broker's close is routed (the device closes only
    # after RabbitMQ's close, whose reader has taken every frame before it).
    lost = [(r["device"], r["seq"]) for r in rs if r["variant"] == v["name"] and r["acked"] != "0" and not r["e2e_us"]]
    check(m["lost"] == 0 and m["received"] == m["sent"] > 0, f"{v['name']}: {m}; wakes (device, seq) with nothing received: {lost}")

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

# Teardown order, plaintext wakes, from the capture: the device ends the
# session only after the broker has answered each of its detaches. Ending
# right behind a pre-settled transfer let RabbitMQ drop the message (4 of
# 9,023 QoS 0 wakes): see the top of clients/amqp.c.
plain = {int(v["endpoint"].rsplit(":", 1)[1]): v["name"] for v in sm["variants"] if v["tls"] == "none"}
decode = sum((["-d", f"tcp.port=={p},amqp"] for p in plain), [])
fields = subprocess.run(["tshark", "-r", cap.path, *decode, "-Y", "amqp.performative", "-T", "fields", "-E",
                         "separator=;", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                         "-e", "amqp.performative"], capture_output=True, text=True, check=True).stdout
frames = {}
for line in fields.splitlines():
    src, sp, dst, dp, perf = line.split(";")
    frames.setdefault(conn_key(src, sp, dst, dp), []).append((src.startswith("127.8"), perf.split(",")))
for r in rs:
    if int(r["server_port"]) not in plain:
        continue
    key, where = row_key(r), f"{r['variant']} {r['device']}/{r['seq']}"
    seq = frames.get(key, [])
    check(seq, f"{where} {key}: no AMQP frames in the capture")
    ours = answered = 0
    at_end = None  # (ours, answered) when the device sent its end
    for up, perfs in seq:
        for perf in perfs:
            if perf == "22":
                ours, answered = ours + up, answered + (not up)
            elif perf == "23" and up and at_end is None:
                at_end = (ours, answered)
    check(at_end and 0 < at_end[0] <= at_end[1],
          f"{where} {key}: end sent with (our detaches, answered) {at_end}: "
          + " ".join(("up:" if u else "down:") + ",".join(p) for u, p in seq))

check_bytes_equal_capture(rs, cap)
print(f"OK: {len(rs)} AMQP wakes on RabbitMQ; session ids resumed, tickets refused; IP bytes equal the capture")
