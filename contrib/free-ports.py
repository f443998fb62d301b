#!/usr/bin/env python3
# free-ports.py N -- prints N distinct free TCP ports on 127.0.0.1,
# space-separated.  Every socket stays bound until all N are chosen, so
# none repeats.  The one port picker of contrib/chaos.sh and of the bats
# helpers (test/helpers.bash: free_ports, closed_port).
import socket
import sys

socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
