#!/usr/bin/env python3
"""test/cas_history.py -- records a single-register history from a real
kvd cluster, for test/linearizable.py to check.

    python3 test/cas_history.py --servers http://127.0.0.1:8080,... \
        [--workload incr|mixed] [--clients 8] [--duration 10] \
        [--max-ops 400] [--key K] [--read serial|plain] [--timeout 5] \
        [--stop-file F] [--out history.jsonl]

Every client is a thread with keep-alive connections to every server; each
operation goes to a server picked at random (so every node coordinates),
and a server that cannot be reached is skipped for half a second.

  incr   the counter: each step reads the key (GET ?serial=1, or a plain
         GET with --read plain) and writes the value plus one with
         If-Match: <the ETag read> (If-None-Match: * while the key is
         absent): a compare-and-swap increment.  A 412 reads again.
  mixed  reads, compare-and-swaps of the value last read to a fresh value,
         and writes (PUT If-Match: *, which needs the key to exist) of
         fresh values, in random order; the key is created first.

Every value written is distinct (increments rise; mixed values name their
client and step), so a value names the version that holds it and an ETag
condition is the register's compare.

THE HISTORY is JSON lines, one per operation, in invocation order:

    {"p":3,"f":"read","v":null,"out":"7","t0":N,"t1":N,"res":"ok"}
    {"p":3,"f":"cas","v":["7","8"],"t0":N,"t1":N,"res":"fail"}
    {"p":1,"f":"write","v":"c1-9","t0":N,"t1":N,"res":"info"}

p is the client, f the operation, v its argument (cas: [expected, new]),
out what a read returned (null: the key was absent), t0/t1 the monotonic
clock in nanoseconds at invocation and at the answer, and res "ok" (200,
201, 204), "fail" (412: the condition did not hold) or "info" (503, a
timeout or a broken connection: the outcome is unknown).  A read that
failed is left out (it changed nothing and returned nothing).  After the
run one final serial read is appended, as its own client, once every
other operation has ended.

The run ends after --duration seconds, or once --max-ops operations were
recorded, or once the file --stop-file exists (a test that injects faults
ends it when they are done), whichever comes first.

A summary goes to stdout as one JSON object: ops, ok, fail, info per
operation and status, acked (increments answered ok), unknown
(increments answered 503 or not at all), final (the counter read at the
end) and lost = max(0, acked - final).  Exit status 0, or 2 when the
cluster never answered.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def parse_servers(s):
    out = []
    for u in s.split(","):
        p = urllib.parse.urlparse(u.strip())
        if p.scheme != "http" or not p.hostname or not p.port:
            sys.exit("cas_history: bad server URL %r" % u)
        out.append((p.hostname, p.port))
    return out


class Client:
    """One client: a connection per server, reused; all calls bounded."""

    def __init__(self, servers, timeout):
        self.servers = servers
        self.timeout = timeout
        self.conns = {}
        self.down_until = {}

    def pick(self):
        now = time.monotonic()
        up = [s for s in self.servers if self.down_until.get(s, 0) <= now]
        return random.choice(up or self.servers)

    def call(self, server, method, path, body=None, headers=None):
        """(status, headers dict, body bytes), or None: the outcome is unknown."""
        h = {"Host": "%s:%d" % server}
        h.update(headers or {})
        for attempt in (0, 1):
            c = self.conns.get(server)
            if c is None:
                c = http.client.HTTPConnection(server[0], server[1],
                                               timeout=self.timeout)
                self.conns[server] = c
            try:
                c.request(method, path, body, h)
                r = c.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (OSError, http.client.HTTPException) as e:
                c.close()
                self.conns.pop(server, None)
                # A connection the server closed while idle fails at once,
                # before anything was sent: try once more on a new one.
                fresh = isinstance(e, (http.client.RemoteDisconnected,
                                       BrokenPipeError, ConnectionResetError))
                if attempt == 0 and fresh and method == "GET":
                    continue
                self.down_until[server] = time.monotonic() + 0.5
                return None
        return None

    def close(self):
        for c in self.conns.values():
            c.close()


def kv_path(key, serial):
    p = "/kv/" + urllib.parse.quote(key, safe="")
    return p + "?serial=1" if serial else p


class Recorder:
    def __init__(self):
        self.mu = threading.Lock()
        self.ops = []

    def add(self, op):
        with self.mu:
            self.ops.append(op)


def result_of(status):
    if status is None:
        return "info"
    if status in (200, 201, 204):
        return "ok"
    if status == 412:
        return "fail"
    if status >= 500:
        return "info"
    return "error:%d" % status


def do_read(cl, srv, key, serial, p, rec):
    t0 = time.monotonic_ns()
    r = cl.call(srv, "GET", kv_path(key, serial), None,
                {"Accept": "application/octet-stream"})
    t1 = time.monotonic_ns()
    if r is None or r[0] not in (200, 404):
        return None
    status, hdrs, data = r
    out = data.decode() if status == 200 else None
    etag = hdrs.get("etag") if status == 200 else None
    rec.add({"p": p, "f": "read", "v": None, "out": out, "t0": t0,
             "t1": t1, "res": "ok"})
    return (out, etag)


def do_put(cl, srv, key, value, headers, f, v, p, rec):
    t0 = time.monotonic_ns()
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers)
    r = cl.call(srv, "PUT", kv_path(key, False), value.encode(), h)
    t1 = time.monotonic_ns()
    res = result_of(None if r is None else r[0])
    rec.add({"p": p, "f": f, "v": v, "t0": t0, "t1": t1, "res": res})
    return res


def incr_client(p, args, servers, rec, stop, counts):
    cl = Client(servers, args.timeout)
    while not stop.is_set():
        srv = cl.pick()
        got = do_read(cl, srv, args.key, args.read == "serial", p, rec)
        if got is None:
            time.sleep(0.05)
            continue
        out, etag = got
        if out is not None and not out.lstrip("-").isdigit():
            counts["bad"] += 1
            break
        cur = int(out) if out is not None else 0
        new = str(cur + 1)
        hdr = {"If-Match": etag} if out is not None else {"If-None-Match": "*"}
        res = do_put(cl, cl.pick(), args.key, new, hdr, "cas", [out, new], p,
                     rec)
        with rec.mu:
            counts[res] = counts.get(res, 0) + 1
    cl.close()


def mixed_client(p, args, servers, rec, stop, counts):
    cl = Client(servers, args.timeout)
    last = None		# (value, etag) this client read last
    step = 0
    while not stop.is_set():
        srv = cl.pick()
        step += 1
        fresh = "c%d-%d" % (p, step)
        roll = random.random()
        if roll < 0.4 or last is None:
            got = do_read(cl, srv, args.key, args.read == "serial", p, rec)
            if got is not None:
                last = got
            continue
        if roll < 0.8:
            res = do_put(cl, srv, args.key, fresh, {"If-Match": last[1]},
                         "cas", [last[0], fresh], p, rec)
            last = None
        else:
            res = do_put(cl, srv, args.key, fresh, {"If-Match": "*"},
                         "write", fresh, p, rec)
        with rec.mu:
            counts[res] = counts.get(res, 0) + 1
    cl.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", required=True)
    ap.add_argument("--workload", choices=("incr", "mixed"), default="incr")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--max-ops", type=int, default=400,
                    help="stop once this many operations were recorded")
    ap.add_argument("--key", default="counter")
    ap.add_argument("--read", choices=("serial", "plain"), default="serial")
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--stop-file", default=None)
    ap.add_argument("--out", default="-")
    args = ap.parse_args()
    servers = parse_servers(args.servers)
    rec = Recorder()
    counts = {"bad": 0}
    stop = threading.Event()

    if args.workload == "mixed":
        cl = Client(servers, args.timeout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = cl.call(cl.pick(), "PUT", kv_path(args.key, False), b"init",
                        {"Content-Type": "application/octet-stream",
                         "If-None-Match": "*"})
            if r is not None and r[0] in (201, 412):
                break
            time.sleep(0.2)
        else:
            sys.exit("cas_history: cannot create %s" % args.key)
        r = cl.call(cl.pick(), "GET", kv_path(args.key, args.read == "serial"),
                    None, {"Accept": "application/octet-stream"})
        if r is None or r[0] != 200:
            sys.exit("cas_history: cannot read %s back" % args.key)
        cl.close()
        rec.add({"p": 0, "f": "write", "v": r[2].decode(), "t0": 0, "t1": 1,
                 "res": "ok"})

    body = incr_client if args.workload == "incr" else mixed_client
    threads = [threading.Thread(target=body, args=(p + 1, args, servers, rec,
                                                    stop, counts))
               for p in range(args.clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() - started < args.duration:
        with rec.mu:
            if len(rec.ops) >= args.max_ops:
                break
        if args.stop_file and os.path.exists(args.stop_file):
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()

    # The final read: serial when the cluster has it, retried until it
    # answers (a node may still be coming back).
    cl = Client(servers, args.timeout)
    final = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = do_read(cl, cl.pick(), args.key, args.read == "serial",
                      args.clients + 1, rec)
        if got is not None:
            final = got[0]
            break
        time.sleep(0.2)
    cl.close()
    if final is None and not rec.ops:
        sys.exit(2)

    ops = sorted(rec.ops, key=lambda o: o["t0"])
    out = sys.stdout if args.out == "-" else open(args.out, "w")
    for o in ops:
        out.write(json.dumps(o, separators=(",", ":")) + "\n")
    if out is not sys.stdout:
        out.close()

    summary = {"workload": args.workload, "clients": args.clients,
               "servers": len(servers), "ops": len(ops),
               "seconds": round(time.monotonic() - started, 1)}
    for f in ("read", "write", "cas"):
        for res in ("ok", "fail", "info"):
            n = sum(1 for o in ops if o["f"] == f and o["res"] == res)
            if n:
                summary["%s_%s" % (f, res)] = n
    errors = sum(1 for o in ops if o["res"].startswith("error"))
    if errors:
        summary["errors"] = errors
    if args.workload == "incr":
        acked = counts.get("ok", 0)
        unknown = counts.get("info", 0)
        fin = int(final) if final is not None and final.isdigit() else 0
        summary.update({"acked": acked, "unknown": unknown, "final": fin,
                        "lost": max(0, acked - fin),
                        "extra": max(0, fin - acked)})
    out = sys.stderr if args.out == "-" else sys.stdout
    out.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
