#!/usr/bin/env python3
"""test/linearizable.py -- a linearizability checker for single-register
histories with read, write and compare-and-swap.

    python3 test/linearizable.py HISTORY.jsonl [--max-states N] [--quiet]
    python3 test/linearizable.py --self-test

The history is what test/cas_history.py writes: JSON lines of operations
{"p","f","v","out","t0","t1","res"} (see there).  The register starts
absent (null) unless the history writes it first.

THE MODEL.  One register; each operation acts on its value x:
  read      ok with out=y         allowed when x == y; x unchanged
  write v   ok                    x = v
  cas [a,b] ok                    allowed when x == a; x = b
  cas [a,b] fail (412)            allowed when x != a; x unchanged
An "info" operation (503, timeout: outcome unknown) may have taken effect
at any point after it was invoked, or never, and it has no deadline (its
answer never came): the search places it only where it takes effect (a
write sets x, a cas swaps when x == a) and may leave it out, which stands
for "never" and for "did nothing".  An info read says nothing and is
skipped.

THE SEARCH is Wing and Gong's, with Lowe's memoization: a depth-first
search for an order of the operations that respects real time (an
operation may come next only if no operation still to be placed had
answered before it was invoked) and the model, remembering every (set of
operations placed, register value) it has already failed from.  The
history is linearizable when every operation that answered ok or fail is
placed; info operations left over never took effect.

OUTPUT: one JSON object on stdout: ops, the counts per result, states
(search states visited), ms, and "linearizable": true or false; when
false, "stuck" names the operations that could not be placed after the
longest linearizable prefix found, and "prefix" its length.  Exit status
0 linearizable, 1 not, 2 bad input, 3 the search gave up (--max-states).
"""
import json
import sys
import time

INF = float("inf")


def load(path):
    ops = []
    with (sys.stdin if path == "-" else open(path)) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except ValueError:
                raise SystemExit(2) from None
            ops.append(o)
    return ops


def prepare(raw):
    """Operations to place: those that answered first, in invocation order
    (ids 0..), then the info ones; each a dict with id, f, v, out, t0, t1,
    res."""
    ops = []
    for o in raw:
        res = o.get("res")
        f = o.get("f")
        if f not in ("read", "write", "cas") or res not in ("ok", "fail", "info"):
            raise ValueError("bad operation: %r" % (o,))
        if f == "read" and res != "ok":
            continue		# an unknown read changes nothing
        if f != "cas" and res == "fail":
            raise ValueError("only a cas can fail: %r" % (o,))
        op = dict(o)
        op["t1"] = INF if res == "info" else o["t1"]
        if op["t1"] < op["t0"]:
            raise ValueError("answered before invoked: %r" % (o,))
        ops.append(op)
    ops.sort(key=lambda o: (o["res"] == "info", o["t0"]))
    for i, op in enumerate(ops):
        op["id"] = i
    return ops


def outcomes(op, x):
    """The register values op may leave after x, in the order to try."""
    f, res, v = op["f"], op["res"], op.get("v")
    if f == "read":
        return [x] if x == op.get("out") else []
    if f == "write":
        return [v]
    a, b = v
    if res == "fail":
        return [x] if x != a else []
    return [b] if x == a else []


def check(ops, max_states=2000000):
    """(verdict, states, prefix, stuck): verdict True, False or None (gave up)."""
    main = [op for op in ops if op["res"] != "info"]
    infos = [op for op in ops if op["res"] == "info"]
    m = len(main)
    need = (1 << m) - 1		# the answered operations must all be placed
    memo = set()
    best = (0, [])

    def candidates(placed):
        """The operations that may come next: invoked before every
        operation still to be placed had answered."""
        low = (~placed & (placed + 1)).bit_length() - 1
        horizon = INF
        seen = []
        for op in main[low:]:
            if op["t0"] > horizon:
                break
            if not placed >> op["id"] & 1:
                seen.append(op)
                if op["t1"] < horizon:
                    horizon = op["t1"]
        out = [op for op in seen if op["t0"] <= horizon]
        out += [op for op in infos
                if not placed >> op["id"] & 1 and op["t0"] <= horizon]
        return out

    # An explicit stack of (placed bits, value, candidate list, index).
    stack = [(0, None, None, 0)]
    states = 0
    while stack:
        placed, x, cands, i = stack.pop()
        if cands is None:
            if placed & need == need:
                return True, states, bin(placed).count("1"), []
            if (placed, x) in memo:
                continue
            memo.add((placed, x))
            states += 1
            if states > max_states:
                return None, states, best[0], []
            nxt = candidates(placed)
            depth = bin(placed & need).count("1")
            if depth >= best[0]:
                best = (depth, nxt)
            cands = [(op, y) for op in nxt for y in outcomes(op, x)]
            i = 0
        if i < len(cands):
            op, y = cands[i]
            stack.append((placed, x, cands, i + 1))
            stack.append((placed | 1 << op["id"], y, None, 0))
    return False, states, best[0], best[1]


def describe(op):
    d = {k: op[k] for k in ("p", "f", "v", "out", "res") if k in op}
    d["t0"] = op["t0"]
    d["t1"] = None if op["t1"] == INF else op["t1"]
    return d


def run(raw, max_states):
    started = time.monotonic()
    ops = prepare(raw)
    verdict, states, prefix, stuck = check(ops, max_states) if ops else \
        (True, 0, 0, [])
    out = {"ops": len(ops)}
    for res in ("ok", "fail", "info"):
        out[res] = sum(1 for o in ops if o["res"] == res)
    out.update({"states": states,
                "ms": int((time.monotonic() - started) * 1000),
                "linearizable": verdict})
    if verdict is False:
        out["prefix"] = prefix
        out["stuck"] = [describe(o) for o in stuck[:8]]
    return out


# ---- self-test: histories whose verdicts are known --------------------

def h(*ops):
    """Operations as (p, f, v, out, t0, t1, res) tuples."""
    return [{"p": p, "f": f, "v": v, "out": out, "t0": t0, "t1": t1,
             "res": res} for p, f, v, out, t0, t1, res in ops]


CASES = [
    ("empty", h(), True),
    ("a read of the absent register", h((1, "read", None, None, 0, 1, "ok")),
     True),
    ("a read of a value nobody wrote",
     h((1, "read", None, "5", 0, 1, "ok")), False),
    ("write then read, sequential",
     h((1, "write", "1", None, 0, 1, "ok"), (2, "read", None, "1", 2, 3, "ok")),
     True),
    ("a stale read after a write has answered",
     h((1, "write", "1", None, 0, 1, "ok"), (1, "write", "2", None, 2, 3, "ok"),
       (2, "read", None, "1", 4, 5, "ok")), False),
    ("a read concurrent with a write may see either value",
     h((1, "write", "1", None, 0, 1, "ok"), (1, "write", "2", None, 2, 6, "ok"),
       (2, "read", None, "1", 3, 4, "ok"), (3, "read", None, "2", 3, 5, "ok")),
     True),
    ("two reads may not see the new value and then the old one",
     h((1, "write", "1", None, 0, 1, "ok"), (1, "write", "2", None, 2, 9, "ok"),
       (2, "read", None, "2", 3, 4, "ok"), (3, "read", None, "1", 5, 6, "ok")),
     False),
    ("two concurrent cas from one value: one ok, one fail",
     h((1, "write", "0", None, 0, 1, "ok"),
       (1, "cas", ["0", "1"], None, 2, 5, "ok"),
       (2, "cas", ["0", "1"], None, 2, 5, "fail"),
       (3, "read", None, "1", 6, 7, "ok")), True),
    ("two concurrent cas from one value both ok (a lost update)",
     h((1, "write", "0", None, 0, 1, "ok"),
       (1, "cas", ["0", "1"], None, 2, 5, "ok"),
       (2, "cas", ["0", "1"], None, 2, 5, "ok"),
       (3, "read", None, "1", 6, 7, "ok")), False),
    ("a cas that failed although the value matched throughout",
     h((1, "write", "0", None, 0, 1, "ok"),
       (2, "cas", ["0", "1"], None, 2, 3, "fail")), False),
    ("an info cas may take effect late",
     h((1, "write", "0", None, 0, 1, "ok"),
       (1, "cas", ["0", "1"], None, 2, 3, "info"),
       (2, "read", None, "0", 4, 5, "ok"), (3, "read", None, "1", 6, 7, "ok")),
     True),
    ("an info cas may never take effect",
     h((1, "write", "0", None, 0, 1, "ok"),
       (1, "cas", ["0", "1"], None, 2, 3, "info"),
       (2, "read", None, "0", 4, 5, "ok")), True),
    ("an info write cannot take effect before it was invoked",
     h((2, "read", None, "9", 0, 1, "ok"),
       (1, "write", "9", None, 2, 3, "info")), False),
    ("an increment chain through cas, with a failed one read again",
     h((1, "read", None, None, 0, 1, "ok"),
       (1, "cas", [None, "1"], None, 2, 3, "ok"),
       (2, "cas", [None, "1"], None, 2, 4, "fail"),
       (2, "read", None, "1", 5, 6, "ok"),
       (2, "cas", ["1", "2"], None, 7, 8, "ok"),
       (3, "read", None, "2", 9, 10, "ok")), True),
    ("a counter that lost an acknowledged increment",
     h((1, "read", None, "1", 0, 1, "ok"),
       (2, "read", None, "1", 0, 1, "ok"),
       (1, "cas", ["1", "2"], None, 2, 3, "ok"),
       (2, "cas", ["1", "2"], None, 2, 4, "ok"),
       (1, "read", None, "2", 5, 6, "ok"),
       (1, "cas", ["2", "3"], None, 7, 8, "ok"),
       (3, "read", None, "3", 9, 10, "ok")), False),
]


def self_test():
    failed = 0
    for i, (name, hist, want) in enumerate(CASES, 1):
        got = run(hist, 100000)["linearizable"]
        good = got is want
        failed += not good
        print("%sok %d - %s: %s" % ("" if good else "not ", i, name,
                                    "linearizable" if got else "not linearizable"))
    # A long history that must pass: 8 clients incrementing in turn.
    hist, t, val = [], 0, None
    for k in range(300):
        p = k % 8 + 1
        new = str(k + 1)
        hist.append({"p": p, "f": "read", "v": None, "out": val, "t0": t,
                     "t1": t + 3, "res": "ok"})
        hist.append({"p": p, "f": "cas", "v": [val, new], "t0": t + 1,
                     "t1": t + 5, "res": "ok"})
        val, t = new, t + 4
    r = run(hist, 1000000)
    good = r["linearizable"] is True
    failed += not good
    print("%sok %d - 600 overlapping operations check in %d ms" %
          ("" if good else "not ", len(CASES) + 1, r["ms"]))
    total = len(CASES) + 1
    print("1..%d" % total)
    print("%d passed, %d failed" % (total - failed, failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "--self-test":
        return self_test()
    args = [a for a in argv[1:] if not a.startswith("--")]
    max_states = 2000000
    for a in argv[1:]:
        if a.startswith("--max-states="):
            max_states = int(a.split("=", 1)[1])
    if len(args) != 1:
        sys.stderr.write("usage: linearizable.py HISTORY.jsonl "
                         "[--max-states=N] | --self-test\n")
        return 2
    try:
        out = run(load(args[0]), max_states)
    except (ValueError, KeyError, TypeError) as e:
        sys.stderr.write("linearizable.py: %s\n" % e)
        return 2
    print(json.dumps(out))
    return {True: 0, False: 1, None: 3}[out["linearizable"]]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
