"""test/standin.py -- what the bats files' stand-in servers share: a server
on 127.0.0.1, on a port the kernel picks, that says which port once it
listens.

A bats file starts a stand-in with start_standin (test/helpers.bash): the
script it is given runs with the port file, $TMP/NAME.port, as its first
argument and this directory on its path, so it begins

    import sys, standin

The port file is written whole (a temporary file renamed over it), so a
reader that finds it non-empty has the whole number; the caller reads it
with port_of NAME or url NAME.
"""
import os
import socket
import threading


def publish_port(portfile, port):
    """Writes port to portfile, whole."""
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)


def serve_reply(reply, portfile):
    """Serves for ever: every connection's first read (up to 64 KiB, 5 s
    at most) is answered with reply (bytes), whatever it held, and the
    connection closed; for a client's view of a server that answers no
    valid HTTP."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    publish_port(portfile, s.getsockname()[1])

    def answer(c):
        try:
            c.settimeout(5)
            c.recv(65536)
            c.sendall(reply)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=answer, args=(c,), daemon=True).start()
