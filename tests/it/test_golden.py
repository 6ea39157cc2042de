#!/usr/bin/env python3
"""Golden wire sizes of one MQTT wake, from the MQTT 3.1.1 specification.

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
