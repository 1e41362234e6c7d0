"""A real WSGI upstream (wsgiref) that answers every request with the HTTP_*
part of the environ it was given, as JSON. WSGI, CGI and PHP fold `-` and `_`
in header names together, so this shows what such an upstream believes.

Prints the port it listens on (127.0.0.1 only), then serves until killed."""

import json
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
