#!/usr/bin/env python3
"""Golden wire sizes of one MQTT wake, from the MQTT 3.1.1 specification;
of one HTTP wake, from the request dormant's devices send (HTTP/1.1 fixes
its form; clients/http.c which headers) and nginx's answer; and, for AMQP
1.0, how a transfer grows with its payload (the data section's encoding).

For client id "dev<N>", topic "dormant/dev<N>/telemetry" and payload P bytes:
  CONNECT    = 2 (fixed header) + 10 (variable header: protocol name "MQTT"
               with its 2-byte length, level, flags, keep alive) + 2 + len(client id)
  CONNACK    = 4
  PUBLISH    = fixed header (1 + remaining-length bytes) + 2 + len(topic)
               + (2: packet id, QoS 1 only) + P
  PUBACK     = 4 (QoS 1 only)
  DISCONNECT = 2
The modem's per-phase plaintext counts must equal these exactly.
"""
import os
import shutil
import sys

from itlib import Workdir, check, fail, need, rows, run_dormant, show_server_logs

need("mosquitto")
dormant = sys.argv[1]


def rl_bytes(n):
    k = 1
    while n >= 128:
        n //= 128
        k += 1
    return k


def publish_size(topic, payload, qos):
    rem = 2 + len(topic) + (2 if qos else 0) + payload
    return 1 + rl_bytes(rem) + rem


wd = Workdir("golden")
for payload in (48, 300, 20000):
    scenario = wd.file(f"golden{payload}.yaml", f"""
name: golden
duration: 1s
fleets:
  - name: one
    count: 1
    wake_every: 10s
    payload: {payload}B
matrix:
  qos: [0, 1]
""")
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, f"r{payload}"))
    if rc != 0:
        show_server_logs(rundir)
        fail(f"dormant exited {rc}: {err}")
    rs = rows(rundir)
    check(len(rs) == 2, f"expected 2 rows, got {len(rs)}")
    for r in rs:
        qos = int(r["qos"])
        dev = r["device"]
        cid, topic = f"dev{dev}", f"dormant/dev{dev}/telemetry"
        want = {
            "plain_up_setup": 2 + 10 + 2 + len(cid),
            "plain_down_setup": 4,
            "plain_up_data": publish_size(topic, payload, qos),
            "plain_down_data": 4 if qos else 0,
            "plain_up_teardown": 2,
            "plain_down_teardown": 0,
        }
        want["plain_up"] = want["plain_up_setup"] + want["plain_up_data"] + want["plain_up_teardown"]
        want["plain_down"] = want["plain_down_setup"] + want["plain_down_data"]
        for k, v in want.items():
            check(int(r[k]) == v, f"payload {payload} qos {qos}: {k} = {r[k]}, the spec says {v}")
        check(r["outcome"] == "ok", f"wake failed: {r['error_kind']} {r['error_detail']}")
    print(f"OK: payload {payload}B: CONNECT/CONNACK/PUBLISH/PUBACK/DISCONNECT sizes as the spec fixes them")


# AMQP 1.0 (when RabbitMQ is installed): what the protocol fixes is how a
# transfer grows with its payload. The message is one data section (0x00
# 0x53 0x75, then vbin8: 0xa0 and a 1-byte length up to 255 bytes, vbin32:
# 0xb0 and a 4-byte length beyond), so with one message per wake, fleets
# that differ only in payload differ in the data phase's uplink by exactly
# the payload difference, plus 3 bytes across 255/256; the other phases,
# and what the broker sends in them, are the same size for all of them.
# (Not the broker's teardown: at QoS 0 whether its detach and end come
# before its close depends on timing.)
def amqp_golden():
    if not shutil.which("rabbitmq-server") and not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        print("SKIP: AMQP golden sizes: RabbitMQ not installed (scripts/setup installs it)")
        return
    sizes = (48, 255, 256, 300, 4000)
    fleets = "".join(f"  - {{name: p{p}, count: 1, wake_every: 10s, payload: {p}B}}\n" for p in sizes)
    scenario = wd.file("amqp.yaml", f"name: golden-amqp\nduration: 1s\nfleets:\n{fleets}"
                                    "matrix:\n  protocol: [amqp]\n  qos: [0, 1]\n")
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "amqp"))
    if rc != 0:
        show_server_logs(rundir)
        fail(f"dormant exited {rc}: {err}")
    rs = rows(rundir)
    check(len(rs) == 2 * len(sizes), f"expected {2 * len(sizes)} rows, got {len(rs)}")
    for qos in ("0", "1"):
        by = {int(r["fleet"][1:]) if r["fleet"][1:].isdigit() else r["fleet"]: r for r in rs if r["qos"] == qos}
        check(sorted(by) == list(sizes), f"qos {qos}: fleets {sorted(by)}")
        for r in by.values():
            check(r["outcome"] == "ok", f"wake failed: {r['error_kind']} {r['error_detail']}")
        base = by[sizes[0]]

        def vbin(p):
            return 2 if p <= 255 else 5

        for p in sizes[1:]:
            r = by[p]
            want = int(base["plain_up_data"]) + (p - sizes[0]) + vbin(p) - vbin(sizes[0])
            check(int(r["plain_up_data"]) == want,
                  f"amqp qos {qos} payload {p}: plain_up_data {r['plain_up_data']}, expected {want} "
                  f"({base['plain_up_data']} at {sizes[0]} B)")
            for k in ("plain_up_setup", "plain_down_setup", "plain_down_data", "plain_up_teardown",
                      "plain_up_downlink", "plain_down_downlink"):
                check(r[k] == base[k], f"amqp qos {qos} payload {p}: {k} {r[k]}, {base[k]} at {sizes[0]} B")
    print(f"OK: AMQP payloads {', '.join(map(str, sizes))}B at QoS 0 and 1: transfers grow by the payload "
          "and the data section's length field, nothing else changes")


amqp_golden()


# HTTP (when nginx is installed): per wake two POSTs of P bytes (data) and a
# command poll that finds nothing (downlink), through nginx to the ingest.
# Each request is the request line, Host, Authorization: Bearer <32 hex
# digits>, for a POST Content-Type and Content-Length, the blank line and
# the body; nginx (server_tokens off) answers a 204 with Server: nginx, a
# Date of RFC 7231's fixed 29 characters and Connection: keep-alive. No
# setup or teardown exchange: the connection's close carries no bytes. Over
# TLS the plaintext is the same.
if not shutil.which("nginx"):
    print("SKIP: HTTP golden sizes: nginx not installed (scripts/setup installs it)")
    sys.exit(0)


def post_head(dev, payload):
    return (f"POST /devices/dev{dev}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {'0' * 32}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {payload}\r\n\r\n")


def get_head(dev):
    return f"GET /devices/dev{dev}/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {'0' * 32}\r\n\r\n"


R204 = len("HTTP/1.1 204 No Content\r\nServer: nginx\r\nDate: Thu, 03 Dec 2026 07:47:33 GMT\r\n"
           "Connection: keep-alive\r\n\r\n")
for payload in (48, 20000):
    scenario = wd.file(f"http{payload}.yaml", f"""
name: golden-http
duration: 1s
fleets:
  - name: one
    count: 2
    wake_every: 1s
    payload: {payload}B
    messages_per_wake: 2
    downlink: true
matrix:
  protocol: [http]
  tls: [none, ecdsa]
""")
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, f"h{payload}"))
    if rc != 0:
        show_server_logs(rundir)
        fail(f"dormant exited {rc}: {err}")
    rs = rows(rundir)
    check(len(rs) == 4, f"expected 4 rows (2 devices, plaintext and TLS), got {len(rs)}")
    for r in rs:
        dev = r["device"]
        check(r["outcome"] == "ok", f"wake failed: {r['error_kind']} {r['error_detail']}")
        want = {
            "plain_up_setup": 0, "plain_down_setup": 0,
            "plain_up_data": 2 * (len(post_head(dev, payload)) + payload),
            "plain_down_data": 2 * R204,
            "plain_up_downlink": len(get_head(dev)),
            "plain_down_downlink": R204,
            "plain_up_teardown": 0, "plain_down_teardown": 0,
        }
        want["plain_up"] = want["plain_up_data"] + want["plain_up_downlink"]
        want["plain_down"] = want["plain_down_data"] + want["plain_down_downlink"]
        for k, v in want.items():
            check(int(r[k]) == v, f"http tls {r['tls']} payload {payload} dev {dev}: {k} = {r[k]}, expected {v}")
    print(f"OK: HTTP payload {payload}B, plaintext and over TLS: POST, 204, GET and 204 sizes exactly")
