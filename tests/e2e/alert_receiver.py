"""A webhook receiver for the compose stack: a container on the stack's network, so the DAG processor and the
triggerer reach it by name, as they would reach a chat service. It prints each JSON body it receives as one
line; the test reads them with `docker logs`."""

from __future__ import annotations

import json
import subprocess
from typing import Any

PORT = 8080
# The whole server: one line per POST on stdout, 200 for every request.
SCRIPT = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        print(json.dumps({"path": self.path, "body": body}), flush=True)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""


def start(name: str, network: str, image: str) -> None:
    """Run the receiver as container `name` on `network`: non-root (the image's user), read-only, no capability."""
    subprocess.run(
        ["docker", "run", "--detach", "--name", name, "--network", network, "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", image, "python", "-c", SCRIPT, str(PORT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def received(name: str) -> list[dict[str, Any]]:
    """Every request the receiver got so far: {"path": ..., "body": ...}."""
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in logs.splitlines() if line.startswith("{")]


def stop(name: str) -> None:
    subprocess.run(["docker", "rm", "--force", name], capture_output=True)
