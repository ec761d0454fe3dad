"""Slack's stand-in for the tests: keeps every POST body (Alertmanager's Slack webhook calls).

    python3 slack_receiver.py --port 8099 --out messages.jsonl

Each request becomes one JSON line {"path": ..., "body": <the JSON posted>}; the answer is
Slack's: 200 "ok".
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler_for(out: str) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"path": self.path, "body": payload}) + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.out)).serve_forever()


if __name__ == "__main__":
    main()
