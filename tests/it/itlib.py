"""Shared helpers for dormant's integration tests.

Every test runs the real dormant binary against the real servers it starts
itself (mosquitto on a free 127.0.0.1 port); nothing is mocked. A test
exits 0 on success, 1 on failure (printing what differed), and 77 (ctest's
SKIP_RETURN_CODE) only when a server binary or capture tool is missing.
"""
import csv
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def need(*binaries):
    for b in binaries:
        if not shutil.which(b):
            print(f"SKIP: {b} not installed (scripts/setup installs it)")
            sys.exit(SKIP)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Workdir:
    """A private directory for one test, removed unless the test failed."""

    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"dormant-{name}-")

    def file(self, name, text):
        p = os.path.join(self.path, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p


def run_dormant(dormant, scenario, out, timeout=300, extra=(), prefix=()):
    """Runs `dormant run SCENARIO -o OUT` (behind the command PREFIX, if any); returns (rc, stdout, stderr, rundir)."""
    p = subprocess.run([*prefix, dormant, "run", scenario, "-o", out, "--no-progress", *extra],
                       capture_output=True, text=True, timeout=timeout)
    runs = sorted(glob.glob(os.path.join(out, "*", "")))
    return p.returncode, p.stdout, p.stderr, runs[-1].rstrip("/") if runs else None


def run_ok(dormant, scenario, out, timeout=300, extra=(), prefix=()):
    """run_dormant that must succeed: prints its summary; on failure the servers' logs, then FAIL. Returns rundir."""
    rc, stdout, stderr, rundir = run_dormant(dormant, scenario, out, timeout, extra, prefix)
    print(stdout)
    if rc != 0:
        show_server_logs(rundir)
        fail(f"dormant exited {rc}: {stderr}")
    return rundir


# A private network namespace with its loopback up, for a run behind an emulated link that must not meet
# another run's emulator (198.19.0.1 is one per namespace). Empty where unshare(1) is missing.
PRIVATE_NETNS = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] if shutil.which("unshare") else []


def rows(rundir):
    with open(os.path.join(rundir, "wakes.csv")) as f:
        return list(csv.DictReader(f))


def summary(rundir):
    with open(os.path.join(rundir, "summary.json")) as f:
        return json.load(f)


def show_server_logs(rundir):
    for log in glob.glob(os.path.join(rundir or "", "servers", "*", "*.log")):
        print(f"--- {log}")
        with open(log, errors="replace") as f:
            print(f.read()[-4000:])


class Capture:
    """tshark on lo (or IFACE: "any" also sees TUN devices made later), filtered by BPF, started before a run."""

    def __init__(self, path, bpf, iface="lo"):
        self.path = path
        self.err = open(path + ".stderr", "w+")
        self.p = subprocess.Popen(["tshark", "-i", iface, "-f", bpf, "-w", path, "-q"],
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.err.seek(0)
            text = self.err.read()
            # tshark says "Capturing on 'Loopback: lo'", or, when its log goes
            # to stderr as messages, "Capture started."
            if "Capturing on" in text or "Capture started" in text:
                return
            if self.p.poll() is not None:
                if "ermission" in text or "don't have permission" in text:
                    print("SKIP: no permission to capture on lo:\n" + text)
                    sys.exit(SKIP)
                fail("tshark exited: " + text)
            time.sleep(0.05)
        self.p.kill()  # a tshark left behind would capture on for ever
        self.p.wait()
        fail("tshark did not start capturing within 20 s")

    def stop(self):
        time.sleep(0.3)  # let the last packets reach the capture
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("tshark did not stop")
        self.err.seek(0)
        text = self.err.read()
        for n in re.findall(r"(\d+) packets? dropped", text):
            if int(n):
                fail(f"the capture dropped {n} packets: it cannot be compared byte for byte\n{text}")
        return text

    def packets(self):
        """[(src, sport, dst, dport, ip_len, flags, tcp_hdr_len, tcp_len, stream)] for every IPv4/TCP packet;
        STREAM is tshark's tcp.stream, a new one for each connection even when a device's
        next wake reuses the same ports (the server closed first, so no TIME_WAIT held them)."""
        out = subprocess.run(["tshark", "-r", self.path, "-T", "fields", "-E", "separator=,",
                              "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                              "-e", "ip.len", "-e", "tcp.flags", "-e", "tcp.hdr_len", "-e", "tcp.len",
                              "-e", "tcp.stream"],
                             capture_output=True, text=True, check=True).stdout
        pk = []
        for line in out.splitlines():
            f = line.split(",")
            if len(f) < 9 or not f[4]:
                continue
            pk.append((f[0], int(f[1]), f[2], int(f[3]), int(f[4]), int(f[5], 16), int(f[6] or 0), int(f[7] or 0),
                       int(f[8])))
        return pk

    def ordinals(self, device_prefix="127.8"):
        """{tcp.stream: (device addr, device port, server port, n)}: the n-th connection (0, 1, ...)
        on those ports, so wakes that reused a 4-tuple are told apart (see conn_rows)."""
        if getattr(self, "_ordinals", None) is None:
            first = {}
            for src, sp, dst, dp, *_, st in self.packets():
                first.setdefault(st, conn_key(src, sp, dst, dp, device_prefix))
            seen, self._ordinals = {}, {}
            for st in sorted(first):
                k = first[st]
                self._ordinals[st] = k + (seen.get(k, 0),)
                seen[k] = seen.get(k, 0) + 1
        return self._ordinals


def stream_bytes(cap, device_prefix="127.8"):
    """{(device addr, device port, server port, n): [up, down]}: the TCP payload each way,
    each byte once, from the highest sequence number reached (tshark's relative
    numbers start at 0 on the SYN, which takes one), so a segment the server
    sent twice does not count twice."""
    out = subprocess.run(["tshark", "-r", cap.path, "-o", "tcp.relative_sequence_numbers:TRUE",
                          "-o", "tcp.analyze_sequence_numbers:TRUE", "-T", "fields", "-E", "separator=,",
                          "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                          "-e", "tcp.seq", "-e", "tcp.len", "-e", "tcp.flags", "-e", "tcp.stream"],
                         capture_output=True, text=True, check=True).stdout
    top = {}
    ords = cap.ordinals(device_prefix)
    for line in out.splitlines():
        f = line.split(",")
        if len(f) < 8 or not f[4]:
            continue
        up = f[0].startswith(device_prefix)
        t = top.setdefault(ords[int(f[7])], [0, 0])
        if int(f[6], 16) & 0x02 or not int(f[5] or 0):
            continue  # the SYN, and segments without payload (an ACK after a FIN is one past the data)
        end = int(f[4]) + int(f[5]) - 1  # payload bytes up to here (seq 1 is the first)
        d = 0 if up else 1
        t[d] = max(t[d], end)
    return top


def conn_key(src, sp, dst, dp, device_prefix="127.8"):
    """(device addr, device port, server port) of a packet either way: a device
    may reuse a local port towards another broker port in the same capture."""
    return (src, int(sp), int(dp)) if src.startswith(device_prefix) else (dst, int(dp), int(sp))


def row_key(r):
    return (r["local_addr"], int(r["local_port"]), int(r["server_port"]))


def conn_rows(rs):
    """{id(row): (device addr, device port, server port, n)}: rows on the same ports
    numbered in the order their wakes started, as Capture.ordinals numbers connections."""
    by = {}
    for r in rs:
        by.setdefault(row_key(r), []).append(r)
    out = {}
    for k, group in by.items():
        for n, r in enumerate(sorted(group, key=lambda r: int(r["start_unix_us"]))):
            out[id(r)] = k + (n,)
    return out


def per_connection(cap, device_prefix="127.8"):
    """{(device_addr, device_port, server_port, n): {up, down, segs_up, segs_down, rst_up, rst_down}}"""
    conns = {}
    ords = cap.ordinals(device_prefix)
    for src, sp, dst, dp, ln, flags, hl, tl, st in cap.packets():
        up = src.startswith(device_prefix)
        key = ords[st]
        c = conns.setdefault(key, dict(up=0, down=0, segs_up=0, segs_down=0, rst_up=0, rst_down=0,
                                       bare_rst_down=0, odd_hdr_up=0, odd_hdr_down=0, gso_up=0, gso_down=0))
        d = "up" if up else "down"
        c[d] += ln
        c["segs_" + d] += 1
        if tl > 32768:
            c["gso_" + d] += 1  # may be several TCP segments handed to lo as one GSO packet
        if hl != 32 and not flags & 0x02:
            c["odd_hdr_" + d] += 1  # options beyond timestamps (SACK/DSACK) or none
        if flags & 0x04:
            c["rst_" + d] += 1
            if not up and ln == 40:
                c["bare_rst_down"] += 1  # a RST without the timestamps option
    return conns


def run_captured(dormant, wd, scenario, timeout=300, extra=()):
    """Runs SCENARIO under a capture of the devices' range; fails on a non-zero exit.
    Returns (capture, rundir, rows, summary), having checked that the run has
    exactly the rows its plan expects and that every wake succeeded."""
    cap = Capture(os.path.join(wd.path, "lo.pcapng"), "net 127.80.0.0/14")
    rc, out, err, rundir = run_dormant(dormant, scenario, os.path.join(wd.path, "results"), timeout=timeout,
                                       extra=extra)
    cap.stop()
    if rc != 0:
        show_server_logs(rundir)
        fail(f"dormant exited {rc}: {err}")
    print(out)
    rs, sm = rows(rundir), summary(rundir)
    expected = sum(v["expected_wakes"] for v in sm["variants"])
    check(len(rs) == expected, f"{len(rs)} rows, the plan expects {expected}")
    bad = [r for r in rs if r["outcome"] != "ok"]
    check(not bad, f"{len(bad)} failed wakes, first: {bad[0] if bad else ''}")
    return cap, rundir, rs, sm


def retransmitted_by_server(cap):
    """Device connections in which the server sent a segment again (tshark's TCP analysis)."""
    out = subprocess.run(["tshark", "-r", cap.path, "-Y", "tcp.analysis.retransmission || "
                          "tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission",
                          "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "tcp.stream"],
                         capture_output=True, text=True, check=True).stdout
    ords = cap.ordinals()
    return {ords[int(f[1])] for f in (l.split(",") for l in out.splitlines()) if len(f) == 2
            and not f[0].startswith("127.8")}


def check_bytes_equal_capture(rs, cap, setups=0, max_resent=0.1):
    """Every wake's stream bytes, IP bytes and segments, each way, equal the capture's for its connection.

    dormant models what loss does to headers: each DSACK block the server
    sends (a segment of ours came twice) adds 12 bytes, each SYN sent again
    8; both were checked here under 4 % loss in a network namespace.
    One case cannot be exact from TCP_INFO: when the server sends a segment
    twice (a tail loss probe, say), the kernel counts the duplicate in
    tcpi_segs_in but not in tcpi_bytes_received, and answers with a DSACK the
    formula does not know. dormant marks the rows where that may have
    happened (ip_lower_bound=1; it may mark more, it must never miss): a
    marked row must still agree on segments and may only fall short on IP
    bytes; an unmarked row must be exact, and every wake in which the
    capture shows the server retransmitting must be marked. Likewise a bare
    RST (no options, 40 B) that crossed a segment of ours after RabbitMQ's
    linger-0 close: a row of a connection that got one must be marked
    ip_rst_unsure, and may then be exactly one bare RST off (40 B and a
    segment short, or 12 B over) and nothing else."""
    conns = per_connection(cap)
    streams = stream_bytes(cap)
    resent = retransmitted_by_server(cap)
    keys = conn_rows(rs)
    diff = nmarked = nshort = nrst_marked = 0
    # Per variant: rows compared, exact, marked and short, GSO frames, differing.
    per = {}
    for r in rs:
        key = keys[id(r)]
        v = per.setdefault(r["variant"], dict(rows=0, exact=0, short=0, gso=0, rst=0, differ=0))
        v["rows"] += 1
        diff_before = diff
        c = conns.get(key)
        if not c:
            fail(f"wake {r['variant']} {r['device']}/{r['seq']} ({key}) is not in the capture")
        # Stream bytes are the TCP payload each way, every byte once, always exact: with
        # TLS too, and a last record the server sent after the device's close included.
        s_want, s_got = tuple(streams.get(key, [0, 0])), (int(r["stream_up"]), int(r["stream_down"]))
        if s_want != s_got:
            diff += 1
            v["differ"] += 1
            print(f"MISMATCH {r['variant']} {r['device']}/{r['seq']} {key}: TCP payload up/down in the capture "
                  f"{s_want}, stream bytes {s_got}")
        # A RST without timestamps (40 B: RabbitMQ's kernel answering our close_notify
        # or FIN after its linger-0 close) is charged as such: exact here too.
        want = (c["up"], c["down"], c["segs_up"], c["segs_down"])
        got = (int(r["ip_up"]), int(r["ip_down"]), int(r["segs_up"]), int(r["segs_down"]))
        marked = r.get("ip_lower_bound") == "1"
        nmarked += marked
        rst_marked = r.get("ip_rst_unsure") == "1"
        nrst_marked += rst_marked
        if c["bare_rst_down"] and not rst_marked:
            diff += 1
            v["differ"] += 1
            print(f"MISSED {r['variant']} {r['device']}/{r['seq']} {key}: a bare RST came, the row is not "
                  f"marked ip_rst_unsure; capture {want}, dormant {got}")
            continue
        if key in resent and not marked:
            diff += 1
            v["differ"] += 1
            print(f"MISSED {r['variant']} {r['device']}/{r['seq']} {key}: the server retransmitted, the row is not "
                  f"marked ip_lower_bound; capture {want}, dormant {got}")
            continue
        if marked and want != got and want[2:] == got[2:] and got[0] <= want[0] and got[1] <= want[1]:
            nshort += 1
            v["short"] += 1
            print(f"NOTE {r['variant']} {r['device']}/{r['seq']} {key}: marked ip_lower_bound, "
                  f"{want[0] - got[0]}/{want[1] - got[1]} B short up/down (server retransmitted: {key in resent})")
            continue
        # TCP counts segments of at most its current MSS, which it bounds by half the
        # peer's largest window; lo carries a GSO packet of several such segments as
        # one frame. So a wake with frames over 32 KiB may count K more segments,
        # each with its 52 header bytes, than the capture has frames.
        k_up, k_down = got[2] - want[2], got[3] - want[3]
        if want != got and 0 <= k_up <= c["gso_up"] and 0 <= k_down <= c["gso_down"] and \
                got[0] - want[0] == 52 * k_up and got[1] - want[1] == 52 * k_down:
            print(f"NOTE {r['variant']} {r['device']}/{r['seq']} {key}: {k_up}/{k_down} more segments than "
                  f"frames, from GSO frames (up/down {c['gso_up']}/{c['gso_down']} over 32 KiB)")
            v["gso"] += 1
            continue
        # The RST cases no per-socket counter tells apart (sim/net/tcp.c), each marked
        # ip_rst_unsure from the namespace's counters: a bare RST (40 B, the server's kernel
        # answering our last segment after RabbitMQ's linger-0 close) that came after our
        # socket was gone (40 B and a segment short), or one charged as a RST with
        # timestamps (12 B over). Nothing else differs.
        if rst_marked and r["rst_in"] == "1" and c["bare_rst_down"] >= 1 and want[0] == got[0] and \
                want[2] == got[2] and ((got[1] - want[1], got[3] - want[3]) in ((-40, -1), (12, 0))):
            print(f"NOTE {r['variant']} {r['device']}/{r['seq']} {key}: marked ip_rst_unsure, a bare RST "
                  f"{'not counted' if got[1] < want[1] else 'charged 52 B'}: {got[1] - want[1]:+d} B down")
            v["rst"] += 1
            continue
        if want != got:
            diff += 1
            v["differ"] += 1
            print(f"MISMATCH {r['variant']} {r['device']}/{r['seq']} {key} rst_in {r['rst_in']} "
                  f"bare RSTs in the capture {c['bare_rst_down']} "
                  f"dsack_in {r.get('dsack_in')} retrans {r['retrans']}: capture up/down/segs {want}, dormant {got}; "
                  f"segments with other than 32 B of TCP header up/down {c['odd_hdr_up']}/{c['odd_hdr_down']}")
        v["exact"] += diff == diff_before and want == got
    print(f"{'variant':50} {'rows':>5} {'exact':>6} {'short*':>7} {'gso':>4} {'rst*':>5} {'differ':>7}")
    for name, v in per.items():
        print(f"{name:50} {v['rows']:5} {v['exact']:6} {v['short']:7} {v['gso']:4} {v['rst']:5} {v['differ']:7}")
    print("(exact: IP bytes, segments and stream bytes equal the capture; short*: marked ip_lower_bound and "
          "short of it; gso: more segments than lo's GSO frames, 52 B each; rst*: marked ip_rst_unsure and one bare RST off)")
    print(f"ip_lower_bound: {nmarked} of {len(rs)} rows marked, {nshort} of them short of the capture; "
          f"{len(resent)} wakes in which the server retransmitted; ip_rst_unsure: {nrst_marked} rows marked")
    check(diff == 0, f"{diff} of {len(rs)} wakes differ from the capture")
    check(len(resent) <= max_resent * len(rs),
          f"{len(resent)} of {len(rs)} wakes had retransmissions: too many to trust (at most {max_resent:.0%})")
    # SETUPS: connections of the devices before the window that are no wakes (session: before-window)
    check(len(conns) == len(rs) + setups,
          f"the capture has {len(conns)} device connections, wakes.csv {len(rs)}, set-ups {setups}")


def first_wakes(rs):
    """{(variant, device): the device's first seq in the variant}"""
    first = {}
    for r in rs:
        k = (r["variant"], r["device"])
        first[k] = min(first.get(k, 10**9), int(r["seq"]))
    return first


def tls_wire(cap, ports):
    """{(device addr, device port, server port): {types: [(up, handshake type)], client_sid, server_sid}}
    from the capture, decoded as TLS on the servers' PORTS."""
    decode = []
    for p in ports:
        decode += ["-d", f"tcp.port=={p},tls"]
    fields = subprocess.run(["tshark", "-r", cap.path, *decode, "-Y", "tls.handshake", "-T", "fields",
                             "-E", "separator=;", "-E", "aggregator=,", "-e", "ip.src", "-e", "tcp.srcport",
                             "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tls.handshake.type",
                             "-e", "tls.handshake.session_id", "-e", "tls.handshake.extension.type"],
                            capture_output=True, text=True, check=True).stdout
    wire = {}
    for line in fields.splitlines():
        src, sp, dst, dp, types, sids, exts = (line.split(";") + [""] * 7)[:7]
        up = src.startswith("127.8")
        w = wire.setdefault(conn_key(src, sp, dst, dp), dict(types=[], client_sid=None, server_sid=None,
                                                             client_ticket=False))
        ts = [int(t) for t in types.split(",") if t]
        w["types"] += [(up, t) for t in ts]
        for t, sid in zip(ts, (sids.split(",") if sids else [])):
            if t == 1:
                w["client_sid"] = sid
            if t == 2:
                w["server_sid"] = sid
        if up and 1 in ts and "35" in exts.split(","):
            w["client_ticket"] = True  # session_ticket extension (35) in the ClientHello
    return wire


# The test link profiles: figures chosen for a test, not a radio's. Every key
# a profile needs (sim/core/link.h), with these defaults; KEYS override them.
TEST_LINK = dict(delay_ms=40, up_kbps=200, down_kbps=200, loss_up=0, loss_down=0, queue_packets=200, mtu=1400,
                 link_overhead_bytes=4, attach_ms=100, attach_mj=10, nat_timeout_s=300, tx_mw=300, rx_mw=100,
                 idle_mw=20, tail_ms=1000, tail_mw=20, release_assist="false", sleep_uw=10)


# The listening figures (optional, all four or none): a test link gets them only when given.
LISTEN_KEYS = {"listen_uw", "listen_ms", "listen_attach_ms", "listen_attach_mj"}


def test_link(wd, name, **keys):
    """Writes WD/links/NAME.yaml, a test link profile (TEST_LINK with KEYS), and returns its path."""
    bad = set(keys) - set(TEST_LINK) - LISTEN_KEYS
    if bad:
        fail(f"test_link: unknown keys {sorted(bad)}")
    fig = {**TEST_LINK, **keys}
    lines = ["# A test link: figures chosen for the test, not a radio's.", f"name: {name}"]
    lines += [f"{k}: {v}  # chosen" for k, v in fig.items()]
    return wd.file(f"links/{name}.yaml", "\n".join(lines) + "\n")
