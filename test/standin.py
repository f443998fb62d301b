"""test/standin.py -- what the bats files' stand-in servers share: a server
on 127.0.0.1, on a port the kernel picks, that says which port once it
listens; an HTTP handler that answers JSON and logs nothing; and servers
that are no kvd: one answering no valid HTTP (serve_reply), one that never
answers (serve_silence), one that is some other HTTP server (serve_plain).

A bats file starts a stand-in with start_standin (test/helpers.bash): the
script it is given runs with the port file, $TMP/NAME.port, as its first
argument and this directory on its path, so it reads

    import sys, standin
    class H(standin.Handler):
        def do_GET(self):
            self.answer(200, {"id": "node1"})
    standin.serve(H, sys.argv[1])

The port file is written whole (a temporary file renamed over it), so a
reader that finds it non-empty has the whole number; the caller reads it
with port_of NAME or url NAME.
"""
import http.server
import json
import os
import socket
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    """A request handler with JSON answers and no log lines (their
    stderr would be the stand-in's log, and tell nothing)."""

    def body(self):
        """The request's body: Content-Length bytes, none without it."""
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, code, body, *headers):
        """Answers code with body (bytes) as application/json, with its
        Content-Length and then each (name, value) of headers."""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def answer(self, code, obj):
        """Answers code with obj as JSON."""
        self.send(code, json.dumps(obj).encode())

    def log_message(self, *args):
        pass


def listen(handler):
    """A threading HTTP server with handler on 127.0.0.1, a free port (its
    server_address[1]), not serving yet."""
    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


def serve(handler, portfile):
    """Serves handler for ever, its port published in portfile."""
    s = listen(handler)
    publish_port(portfile, s.server_address[1])
    s.serve_forever()


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


def serve_silence(portfile):
    """Serves for ever: every connection is accepted and held open, and
    nothing is ever answered on it; for a client's view of a hung server
    (a stopped process's kernel accepts for it in the same way)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    publish_port(portfile, s.getsockname()[1])
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)


def serve_unaccepted(portfile):
    """Serves for ever a port whose connections never complete: it listens
    with a backlog of 0 and never accepts, and its own connections fill
    that queue, so the kernel drops every later SYN and a client's
    connect waits until its own deadline (a host that blackholes)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    fill = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fill.append(c)
    time.sleep(0.5)     # their handshakes done, or dropped: queue full
    publish_port(portfile, port)
    threading.Event().wait()


def serve_plain(portfile, root):
    """Serves for ever a plain HTTP server that is no kvd: Python's own
    file server on the directory root, which answers a GET of a file not
    there 404 and a PUT or POST 501, each with an HTML page."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=root, **kwargs)

        def log_message(self, *args):
            pass

    serve(Quiet, portfile)
