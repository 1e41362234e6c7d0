#!/usr/bin/env python3
"""An HTTPS host of module packages for the modules' tests: Python's own
http.server over its ssl module (OpenSSL), serving the files of one
directory, plus what a hostile or broken host does:

  /redirect/NAME       302 to /NAME on this same https origin
  /redirect-http/NAME  302 to http://ADDRESS:PORT/NAME (off HTTPS)
  /liar                claims a body larger than any package may be
  /endless             a body without a length that never ends

usage: package-host.py ADDRESS DIRECTORY CERT_PEM KEY_PEM
Listens on a port the kernel picks and prints "ready PORT". Standard
library only.
"""
import http.server
import ssl
import sys

ADDRESS, DIRECTORY, CERT, KEY = sys.argv[1:5]
PORT = 0


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=DIRECTORY, **kwargs)

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/redirect/"):
            self.redirect("https://%s:%s/%s" % (ADDRESS, PORT, self.path[len("/redirect/"):]))
        elif self.path.startswith("/redirect-http/"):
            self.redirect("http://%s:%s/%s" % (ADDRESS, PORT, self.path[len("/redirect-http/"):]))
        elif self.path == "/liar":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            self.wfile.write(b"\0" * 4096)
        elif self.path == "/endless":
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.end_headers()
            block = b"\0" * (1 << 20)
            try:
                while True:
                    self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
        else:
            super().do_GET()

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer((ADDRESS, 0), Handler)
PORT = server.server_address[1]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready %d" % PORT, flush=True)
server.serve_forever()
