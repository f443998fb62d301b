#!/usr/bin/env python3
"""contrib/bench/features.py -- `make bench-features`: the figures issue 14
asks for about three features, measured from one sequential client.

    python3 contrib/bench/features.py [--reps N] [--quick] ...
    make bench-features

Python 3 standard library only.  Starts its own kvd processes on free
127.0.0.1 ports in a temporary directory (every node --snapshot-interval 0,
otherwise the defaults), kills every process it started when it exits,
also on an error or a signal (and, on Linux, when it is itself killed:
each kvd gets PR_SET_PDEATHSIG), and prints one Markdown report to stdout.
Progress goes to stderr.

1. Batch against single requests, on 3 nodes (N=3 W=2 R=2, loopback):
   100 keys (16-byte keys key:000000000000 .., 16-byte values, written
   first), all sent to node 1 on one keep-alive connection.  Per
   repetition: 100 sequential GET /kv/KEY, and one POST /batch of 100 get
   ops; then 100 sequential PUTs and one POST /batch of 100 put ops (the
   two kinds alternate which goes first).  Every answer is checked (200;
   201 or 200 for puts).  The time is per 100 keys, median and p99 over
   --reps repetitions.  A row of 100 GET /health on the same connection
   shows what a round trip of this client costs without any quorum work.

2. 1,000 parked watchers on one node (a single-node kvd, --max-watchers
   2000, --max-conns 4096): 100 keys, watcher i waits on key i mod 100
   with wait=its current ETag and timeout=300, each on its own connection
   (kvd serves each connection with one thread).  The node's VmRSS and
   thread count (/proc/PID/status) and /health latency (--health
   sequential requests, on one keep-alive connection and on a new
   connection each) are measured before the watchers connect and while
   they are parked.  "Parked" is checked: kvd_connections in /metrics
   counts them, and no watcher has had an answer when the figures are
   taken.  Then one POST /batch of 100 puts wakes them all; every watcher
   must answer 200 with the new ETag, and the time until the last one
   did is reported.  Once they are closed, the same figures again.

3. PUT to watcher wake-up, on the 3 nodes of part 1: a watcher parked on
   node 2 (GET /kv/KEY?wait=ETAG&timeout=60), then, --settle seconds
   later, a PUT of the key through node 1 (first row) or node 2 itself
   (second row).  One thread waits on both sockets with select(), so
   the times taken are: t(PUT sent), t(PUT answer read), t(watch answer
   read).  The watch answer must be a 200 carrying the PUT's ETag.

Times are time.perf_counter() in this process; the client is Python, so
each figure includes this client's own cost (see the /health row), and
the client and every kvd share the machine's CPUs.
"""

import argparse
import atexit
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VALUE = "v" * 16


def say(msg):
    print("bench-features: " + msg, file=sys.stderr, flush=True)


# ---- a minimal HTTP/1.1 keep-alive client ----

class Conn:
    """One keep-alive connection to 127.0.0.1:port.  send() and recv() are
    separate so that a request can be left outstanding (a watch)."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    def send(self, method, path, body=None, close=False):
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
        if body is not None:
            head += ("Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n" % len(body))
        if close:
            head += "Connection: close\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("kvd closed the connection")
        self.buf += chunk

    def recv(self):
        """Reads one whole response: (status, headers, body), header names
        in lower case.  kvd always sends Content-Length."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "chunked" in hdrs.get("transfer-encoding", ""):
            raise ValueError("chunked response: not expected from kvd")
        n = 0 if status in (204, 304) else int(hdrs.get("content-length", 0))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def request(self, method, path, body=None, close=False):
        self.send(method, path, body, close)
        return self.recv()


def readable(conns, timeout=0.0):
    r, _, _ = select.select(conns, [], [], timeout)
    return r


# ---- kvd processes ----

# A SIGTERM, SIGHUP or SIGINT raises SystemExit, so that main()'s finally
# kills every kvd; but not while Popen runs, where it could leave a child
# started and not yet recorded: there it is held until the kvd is in the
# list (deferred).
_signals = {"critical": 0, "pending": 0}


def _on_signal(sig, _frame):
    if _signals["critical"]:
        _signals["pending"] = sig
    else:
        raise SystemExit(128 + sig)


def _pdeathsig():
    """In the child, before exec: SIGKILL when this script dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Cluster:
    """The kvd processes this script started; stop_all() kills them all."""

    def __init__(self, kvd, tmp):
        self.kvd = kvd
        self.tmp = tmp
        self.procs = []

    def start(self, nid, port, datadir, peers=None, extra=()):
        args = [self.kvd, "--id", nid, "--addr", "127.0.0.1:%d" % port,
                "--data-dir", datadir, "--log-level", "warn",
                "--snapshot-interval", "0"]
        if peers:
            args += ["--peers", ",".join("%s=127.0.0.1:%d" % p
                                         for p in peers)]
            args += ["--n", "3", "--w", "2", "--r", "2"]
        args += list(extra)
        log = open(os.path.join(self.tmp, "kvd-%s.log" % nid), "ab")
        pre = _pdeathsig if sys.platform.startswith("linux") else None
        _signals["critical"] += 1
        try:
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, preexec_fn=pre)
            self.procs.append(p)
        finally:
            _signals["critical"] -= 1
            log.close()
        if _signals["pending"]:
            raise SystemExit(128 + _signals["pending"])
        return p

    def wait_ready(self, p, port, path, seconds=30.0):
        """Polls path (/health or /ready) until it answers 200."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if p.poll() is not None:
                break
            try:
                c = Conn(port, timeout=2)
                st, _, _ = c.request("GET", path, close=True)
                c.close()
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop_all()
        logs = ""
        for f in sorted(os.listdir(self.tmp)):
            if f.endswith(".log"):
                with open(os.path.join(self.tmp, f), errors="replace") as fh:
                    logs += "--- %s\n%s" % (f, fh.read()[-2000:])
        raise RuntimeError("kvd on port %d not ready (%s)\n%s" %
                           (port, path, logs))

    def stop(self, p):
        if p.poll() is None:
            p.kill()
        p.wait()

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []


def free_ports(n):
    """n distinct free loopback ports (held open together while chosen)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def proc_status(pid):
    """VmRSS (KiB) and Threads of pid from /proc, or None each."""
    rss = threads = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return rss, threads


def metric(port, name):
    c = Conn(port)
    st, _, body = c.request("GET", "/metrics", close=True)
    c.close()
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


# ---- statistics ----

def pct(xs, p):
    """Nearest-rank percentile p (0-100] of xs."""
    s = sorted(xs)
    k = max(1, -(-len(s) * p // 100))
    return s[int(k) - 1]


def ms(x):
    return "%.3f" % (x * 1000)


# ---- keys ----

def key(i):
    return "key:%012d" % i


def kpath(k):
    return "/kv/" + urllib.parse.quote(k, safe=":")


def batch_body(op, keys, value=None):
    ops = []
    for k in keys:
        o = {"op": op, "key": k}
        if value is not None:
            o["value"] = value
        ops.append(o)
    return json.dumps({"ops": ops}).encode()


def check_batch(st, body, ok, n):
    if st != 200:
        raise RuntimeError("POST /batch answered %d: %s" % (st, body[:200]))
    res = json.loads(body)["results"]
    bad = [r for r in res if r["status"] not in ok]
    if len(res) != n or bad:
        raise RuntimeError("POST /batch: %d results, bad: %s" %
                           (len(res), bad[:3]))
    return res


# ---- 1. batch against single requests ----

def bench_batch(c, nkeys, reps):
    keys = [key(i) for i in range(nkeys)]
    paths = [kpath(k) for k in keys]
    st, _, b = c.request("POST", "/batch", batch_body("put", keys, VALUE))
    check_batch(st, b, (200, 201), nkeys)
    get_body = batch_body("get", keys)
    t = {"get1": [], "getb": [], "put1": [], "putb": [], "health": []}

    def singles_get():
        t0 = time.perf_counter()
        for p in paths:
            st, _, b = c.request("GET", p)
            if st != 200:
                raise RuntimeError("GET %s: %d %s" % (p, st, b[:200]))
        t["get1"].append(time.perf_counter() - t0)

    def batch_get():
        t0 = time.perf_counter()
        st, _, b = c.request("POST", "/batch", get_body)
        t["getb"].append(time.perf_counter() - t0)
        check_batch(st, b, (200,), nkeys)

    def singles_put(rep):
        body = json.dumps({"value": "%016d" % rep}).encode()
        t0 = time.perf_counter()
        for p in paths:
            st, _, b = c.request("PUT", p, body)
            if st not in (200, 201):
                raise RuntimeError("PUT %s: %d %s" % (p, st, b[:200]))
        t["put1"].append(time.perf_counter() - t0)

    def batch_put(rep):
        body = batch_body("put", keys, "%016d" % rep)
        t0 = time.perf_counter()
        st, _, b = c.request("POST", "/batch", body)
        t["putb"].append(time.perf_counter() - t0)
        check_batch(st, b, (200, 201), nkeys)

    def health():
        t0 = time.perf_counter()
        for _ in range(nkeys):
            st, _, _ = c.request("GET", "/health")
            if st != 200:
                raise RuntimeError("GET /health: %d" % st)
        t["health"].append(time.perf_counter() - t0)

    for _ in range(3):	# warm-up, not counted
        singles_get()
        batch_get()
    for k in t:
        t[k].clear()
    for rep in range(reps):
        if rep % 2 == 0:
            singles_get()
            batch_get()
            singles_put(rep)
            batch_put(rep)
        else:
            batch_get()
            singles_get()
            batch_put(rep)
            singles_put(rep)
        health()
        if (rep + 1) % 50 == 0:
            say("batch: %d/%d repetitions" % (rep + 1, reps))
    return t


# ---- 3. PUT to watcher wake-up ----

def bench_wake(put_port, watch_port, k, reps, settle):
    """reps PUTs of k through put_port, each woken watcher on watch_port.
    Returns (sent->wake, ack->wake) lists in seconds."""
    pc = Conn(put_port)
    wc = Conn(watch_port, timeout=120)
    st, h, _ = pc.request("PUT", kpath(k), json.dumps({"value": "0"}).encode())
    if st not in (200, 201):
        raise RuntimeError("PUT %s: %d" % (k, st))
    etag = h["etag"].strip('"')
    sent_wake, ack_wake = [], []
    for rep in range(-5, reps):	# 5 warm-up rounds, not counted
        wc.send("GET", "%s?wait=%s&timeout=60" %
                (kpath(k), urllib.parse.quote(etag, safe="")))
        time.sleep(settle)
        if readable([wc]):
            st, _, b = wc.recv()
            raise RuntimeError("the watcher answered %d before the PUT: %s"
                               % (st, b[:200]))
        body = json.dumps({"value": "%d" % rep}).encode()
        t0 = time.perf_counter()
        pc.send("PUT", kpath(k), body)
        got = {}
        while len(got) < 2:
            r = readable([x for x in (pc, wc) if x not in got], 30)
            if not r:
                raise RuntimeError("no answer 30 s after the PUT")
            for c in r:
                got[c] = (time.perf_counter(), c.recv())
        t_ack, (pst, ph, pb) = got[pc]
        t_wake, (wst, wh, wb) = got[wc]
        if pst not in (200, 201):
            raise RuntimeError("PUT %s: %d %s" % (k, pst, pb[:200]))
        if wst != 200 or wh.get("etag") != ph.get("etag"):
            raise RuntimeError("watch answered %d %s, the PUT's ETag is %s"
                               % (wst, wh.get("etag"), ph.get("etag")))
        etag = ph["etag"].strip('"')
        if rep >= 0:
            sent_wake.append(t_wake - t0)
            ack_wake.append(t_wake - t_ack)
    pc.close()
    wc.close()
    return sent_wake, ack_wake


# ---- 2. parked watchers on one node ----

def health_latency(port, n):
    """n sequential GET /health: on one keep-alive connection, and on a
    new connection each.  Two lists of seconds."""
    ka, fresh = [], []
    c = Conn(port)
    for _ in range(n):
        t0 = time.perf_counter()
        st, _, _ = c.request("GET", "/health")
        ka.append(time.perf_counter() - t0)
        if st != 200:
            raise RuntimeError("GET /health: %d" % st)
    c.close()
    for _ in range(n):
        t0 = time.perf_counter()
        c = Conn(port)
        st, _, _ = c.request("GET", "/health", close=True)
        fresh.append(time.perf_counter() - t0)
        c.close()
        if st != 200:
            raise RuntimeError("GET /health: %d" % st)
    return ka, fresh


def bench_watchers(cl, tmp, nwatch, nkeys, nhealth):
    port, = free_ports(1)
    p = cl.start("w1", port, os.path.join(tmp, "watch"),
                 extra=["--max-watchers", "2000", "--max-conns", "4096"])
    cl.wait_ready(p, port, "/health")
    keys = [key(i) for i in range(nkeys)]
    c = Conn(port)
    st, _, b = c.request("POST", "/batch", batch_body("put", keys, VALUE))
    res = check_batch(st, b, (200, 201), nkeys)
    etags = [r["etag"] for r in res]
    health_latency(port, 50)	# warm-up
    out = {}
    out["hb_ka"], out["hb_new"] = health_latency(port, nhealth)
    time.sleep(0.5)
    out["rss0"], out["thr0"] = proc_status(p.pid)
    out["conns0"] = metric(port, "kvd_connections")

    say("opening %d watchers" % nwatch)
    watchers = []
    for i in range(nwatch):
        w = Conn(port, timeout=60)
        w.send("GET", "%s?wait=%s&timeout=300" %
               (kpath(keys[i % nkeys]),
                urllib.parse.quote(etags[i % nkeys], safe="")))
        watchers.append(w)
    deadline = time.monotonic() + 30
    while (metric(port, "kvd_connections") or 0) < out["conns0"] + nwatch:
        if time.monotonic() > deadline:
            raise RuntimeError("kvd_connections never reached %d" % nwatch)
        time.sleep(0.1)
    time.sleep(1.0)
    early = readable(watchers)
    if early:
        st, _, b = early[0].recv()
        raise RuntimeError("%d watchers answered before any change, e.g. "
                           "%d %s" % (len(early), st, b[:200]))
    out["conns1"] = metric(port, "kvd_connections")
    out["rss1"], out["thr1"] = proc_status(p.pid)
    out["hw_ka"], out["hw_new"] = health_latency(port, nhealth)
    out["rss1b"], _ = proc_status(p.pid)
    early = readable(watchers)
    if early:
        raise RuntimeError("%d watchers answered before any change" %
                           len(early))

    say("waking the %d watchers with one batch of %d puts" % (nwatch, nkeys))
    t0 = time.perf_counter()
    st, _, b = c.request("POST", "/batch", batch_body("put", keys, "w" * 16))
    t_ack = time.perf_counter()
    res = check_batch(st, b, (200,), nkeys)
    new = {k: r["etag"] for k, r in zip(keys, res)}
    index = {w: i for i, w in enumerate(watchers)}
    pending = set(watchers)
    last = t0
    while pending:
        r = readable(list(pending), 30)
        if not r:
            raise RuntimeError("%d watchers still parked 30 s after the "
                               "change" % len(pending))
        for w in r:
            st, h, _ = w.recv()
            last = time.perf_counter()
            i = index[w]
            want = new[keys[i % nkeys]]
            if st != 200 or h.get("etag", "").strip('"') != want:
                raise RuntimeError("watcher %d answered %d %s" %
                                   (i, st, h.get("etag")))
            pending.discard(w)
    out["wake_all"] = last - t0
    out["wake_ack"] = t_ack - t0
    for w in watchers:
        w.close()
    deadline = time.monotonic() + 30
    while (metric(port, "kvd_connections") or 0) > out["conns0"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the watchers' connections never closed")
        time.sleep(0.1)
    time.sleep(1.0)
    out["conns2"] = metric(port, "kvd_connections")
    out["rss2"], out["thr2"] = proc_status(p.pid)
    out["ha_ka"], out["ha_new"] = health_latency(port, nhealth)
    c.close()
    cl.stop(p)
    return out


# ---- the report ----

def fstype(path):
    """The type of the file system path is on, from /proc/mounts, or "?"."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                m = line.split()
                if (path == m[1] or path.startswith(m[1].rstrip("/") + "/")) \
                        and len(m[1]) >= len(best):
                    best, kind = m[1], m[2]
    except (OSError, IndexError):
        pass
    return kind


def loadavg():
    try:
        return " ".join("%.2f" % x for x in os.getloadavg())
    except (AttributeError, OSError):
        return "?"


def report(args, bt, wk1, wk2, wt, started, load0, elapsed, fs):
    n = args.keys
    lines = []
    add = lines.append
    ver = subprocess.run([args.kvd, "--version"], capture_output=True,
                         text=True).stdout.strip().splitlines()
    add("# kvd feature benchmarks (issue 14)")
    add("")
    add("%s, %s %s, nproc %d, load average at start %s, at end %s; %s; "
        "Python %s." % (started, os.uname().sysname, os.uname().machine,
                        nproc(), load0, loadavg(), ver[0] if ver else "kvd",
                        sys.version.split()[0]))
    add("One sequential Python client (contrib/bench/features.py); every kvd "
        "and the client share the machine; the nodes' data on %s. Whole "
        "run: %.0f s." % (fs, elapsed))
    if args.quick:
        add("")
        add("**--quick: a check that the script works, not a measurement.**")
    add("")
    add("## Batch against single requests, 3 nodes (N=3 W=2 R=2)")
    add("")
    add("%d keys, 16-byte values, all through node 1 on one keep-alive "
        "connection; time per %d keys over %d repetitions." %
        (n, n, args.reps))
    add("")
    add("| operation | median ms | p99 ms | median single / median batch |")
    add("|---|---:|---:|---:|")

    def row(name, xs, ratio=""):
        add("| %s | %s | %s | %s |" % (name, ms(statistics.median(xs)),
                                        ms(pct(xs, 99)), ratio))

    def ratio(a, b):
        return "%.1f×" % (statistics.median(a) / statistics.median(b))

    row("%d × GET /kv/KEY" % n, bt["get1"])
    row("POST /batch, %d get ops" % n, bt["getb"],
        ratio(bt["get1"], bt["getb"]))
    row("%d × PUT /kv/KEY" % n, bt["put1"])
    row("POST /batch, %d put ops" % n, bt["putb"],
        ratio(bt["put1"], bt["putb"]))
    row("%d × GET /health (this client's round trip, no quorum)" % n,
        bt["health"])
    add("")
    add("## PUT to watcher wake-up, 3 nodes (N=3 W=2 R=2)")
    add("")
    add("A watcher parked on node 2; %d PUTs of its key, each %.0f ms after "
        "the watch was sent. Sent: the PUT's first byte written; ack: the "
        "PUT's answer read; wake: the watch's answer read (a 200 with the "
        "PUT's ETag). A negative ack → wake means the watcher answered "
        "first."
        % (args.wake_reps, args.settle * 1000))
    add("")
    add("| PUT through | sent → wake p50 ms | p99 ms | ack → wake p50 ms "
        "| p99 ms | watcher first |")
    add("|---|---:|---:|---:|---:|---:|")
    for name, (sw, aw) in (("node 1", wk1), ("node 2 (the watcher's node)",
                                              wk2)):
        first = sum(1 for x in aw if x < 0)
        add("| %s | %s | %s | %s | %s | %d of %d |" %
            (name, ms(statistics.median(sw)), ms(pct(sw, 99)),
             ms(statistics.median(aw)), ms(pct(aw, 99)), first, len(aw)))
    add("")
    add("## %d parked watchers on one node" % args.watchers)
    add("")
    add("A single-node kvd (--max-watchers 2000 --max-conns 4096); %d keys, "
        "watcher i waits on key i mod %d (timeout=300), one connection "
        "each. /health: %d sequential requests per row." %
        (n, n, args.health))
    add("")

    def kib(v):
        return "–" if v is None else "%.1f MiB" % (v / 1024)

    add("| measure | before | %d watchers parked | after they were woken "
        "and closed |" % args.watchers)
    add("|---|---:|---:|---:|")
    add("| kvd_connections (/metrics; counts the /metrics request and this "
        "client's control connection) | %s | %s | %s |" %
        (fmt(wt["conns0"]), fmt(wt["conns1"]), fmt(wt["conns2"])))
    add("| Threads (/proc/PID/status) | %s | %s | %s |" %
        (fmt(wt["thr0"]), fmt(wt["thr1"]), fmt(wt["thr2"])))
    add("| VmRSS | %s | %s | %s |" %
        (kib(wt["rss0"]), kib(wt["rss1"]), kib(wt["rss2"])))
    for label, a, b, c in (("keep-alive", "hb_ka", "hw_ka", "ha_ka"),
                           ("a new connection each", "hb_new", "hw_new",
                            "ha_new")):
        for q in (50, 99):
            add("| /health p%d ms, %s | %s | %s | %s |" %
                (q, label, ms(pct(wt[a], q)), ms(pct(wt[b], q)),
                 ms(pct(wt[c], q))))
    add("")
    if wt["rss0"] is not None and wt["rss1"] is not None:
        add("VmRSS per parked watcher: (%d − %d) KiB / %d = %.1f KiB "
            "(%.1f MiB after the /health rows with the watchers parked)." %
            (wt["rss1"], wt["rss0"], args.watchers,
             (wt["rss1"] - wt["rss0"]) / args.watchers, wt["rss1b"] / 1024))
    add("One POST /batch of %d puts then woke all %d, each with a 200 and "
        "its key's new ETag: the batch was answered after %s ms, the last "
        "watcher after %s ms." %
        (n, args.watchers, ms(wt["wake_ack"]), ms(wt["wake_all"])))
    return "\n".join(lines) + "\n"


def fmt(v):
    if v is None:
        return "–"
    return "%d" % v


def nproc():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


# ---- main ----

def main():
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _on_signal)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kvd", default=os.path.join(ROOT, "kvd"))
    ap.add_argument("--keys", type=int, default=100,
                    help="keys per batch, and watched keys (100)")
    ap.add_argument("--reps", type=int, default=200,
                    help="repetitions of the batch comparison (200)")
    ap.add_argument("--watchers", type=int, default=1000)
    ap.add_argument("--health", type=int, default=500,
                    help="/health requests per latency row (500)")
    ap.add_argument("--wake-reps", type=int, default=200,
                    help="PUTs per wake-up row (200)")
    ap.add_argument("--settle", type=float, default=0.05,
                    help="seconds between sending a watch and the PUT (0.05)")
    ap.add_argument("--quick", action="store_true",
                    help="10 repetitions, 100 watchers: checks the script")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.wake_reps, args.watchers, args.health = 10, 10, 100, 50
    if not os.access(args.kvd, os.X_OK):
        sys.exit("bench-features: %s not found: run make first" % args.kvd)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.watchers + 256
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit("bench-features: the open-file limit's hard limit %d is "
                     "below the %d this needs" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = loadavg()
    t_start = time.monotonic()
    tmp = cl = None
    try:
        tmp = tempfile.mkdtemp(prefix="kvd-features.")
        cl = Cluster(args.kvd, tmp)
        atexit.register(cl.stop_all)
        say("temporary directory %s" % tmp)
        ports = free_ports(3)
        ids = ["n1", "n2", "n3"]
        procs = []
        for i, nid in enumerate(ids):
            peers = [(ids[j], ports[j]) for j in range(3) if j != i]
            procs.append(cl.start(nid, ports[i], os.path.join(tmp, "cluster"),
                                  peers=peers))
        for p, port in zip(procs, ports):
            cl.wait_ready(p, port, "/ready")
        say("3 nodes on ports %s" % ports)
        c = Conn(ports[0])
        bt = bench_batch(c, args.keys, args.reps)
        c.close()
        say("wake-up through node 1")
        wk1 = bench_wake(ports[0], ports[1], "watch:a", args.wake_reps,
                         args.settle)
        say("wake-up through node 2")
        wk2 = bench_wake(ports[1], ports[1], "watch:b", args.wake_reps,
                         args.settle)
        cl.stop_all()
        wt = bench_watchers(cl, tmp, args.watchers, args.keys, args.health)
        print(report(args, bt, wk1, wk2, wt, started, load0,
                     time.monotonic() - t_start, fstype(tmp)), end="")
    finally:
        if cl is not None:
            cl.stop_all()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
