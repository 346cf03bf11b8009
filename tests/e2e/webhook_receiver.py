#!/usr/bin/env python3
"""A real local HTTP receiver for alert webhooks in the e2e scenarios (python3 standard library).

usage: webhook_receiver.py OUT_FILE PORT_FILE [STATUS]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening), appends each request's
body as one line to OUT_FILE (with the Content-Type as a JSON comment line before it:
"#content-type: …"), and answers STATUS (default 200).
"""
import http.server
import sys

out_file, port_file = sys.argv[1], sys.argv[2]
status = int(sys.argv[3]) if len(sys.argv) > 3 else 200


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        with open(out_file, "a") as f:
            f.write("#" + self.command + " " + self.path + " content-type: "
                    + str(self.headers.get("Content-Type")) + "\n")
            f.write(body.replace("\n", " ") + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
