"""Alertmanager webhook receiver for docker compose: prints one line per alert.

`docker compose logs -f alert-log` then shows what a pager would receive.
Standard library only, so it runs in the plain python image.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AlertLog(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        for alert in json.loads(body).get("alerts", []):
            labels = alert.get("labels", {})
            annotations = alert.get("annotations", {})
            print(
                f"{alert.get('status', '?').upper():8} {labels.get('alertname', '?')}"
                f" [{labels.get('severity', '?')}] {annotations.get('summary', '')}",
                flush=True,
            )
        # Answer only once the alerts are printed: a 200 means "logged".
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Requests are logged as alerts above, not as access lines."""


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5001
    ThreadingHTTPServer(("0.0.0.0", port), AlertLog).serve_forever()
