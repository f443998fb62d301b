#!/usr/bin/env python3
# free-ports.py N -- prints N distinct free TCP ports on 127.0.0.1,
# space-separated.  Every socket stays bound until all N are chosen, so
# none repeats.  The one port picker of contrib/chaos.sh and of the bats
# helpers (test/helpers.bash: free_ports, closed_port).
#
# With TEST_PORT_RANGE=LO-HI the ports come from LO..HI, tried in a random
# order; test/run.sh gives each test file it runs at once a range of its
# own, below the kernel's ephemeral ports.  Without it the kernel picks
# (port 0), from the ephemeral ports, where a port a file picked and a
# node of it let go (killed) could be picked again by a file running
# beside it: its node then gossiped with the other file's cluster.
import os
import random
import socket
import sys


def bound(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    return s


def main():
    n = int(sys.argv[1])
    socks = []
    spec = os.environ.get("TEST_PORT_RANGE", "")
    if spec:
        lo, hi = (int(p) for p in spec.split("-"))
        candidates = list(range(lo, hi + 1))
        random.shuffle(candidates)
        for port in candidates:
            if len(socks) == n:
                break
            s = bound(port)
            if s is not None:
                socks.append(s)
        if len(socks) < n:
            sys.exit("free-ports.py: %d free ports in %s, not %d" %
                     (len(socks), spec, n))
    else:
        for _ in range(n):
            socks.append(bound(0))
    print(" ".join(str(s.getsockname()[1]) for s in socks))


main()
