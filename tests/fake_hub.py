"""A Hugging Face Hub stand-in on 127.0.0.1: the few endpoints an upload uses, every commit recorded.

The Hub is unreachable from the test machine. huggingface_hub talks to ``HF_ENDPOINT``; pointed at
this server, transformers' own ``push_to_hub`` path (repo creation, pre-upload, the commit of each
upload) runs unchanged against it, and the test reads back what was uploaded. Every file is
accepted as a "regular" (inline, base64) file, so no LFS or Xet transfer is involved.

Endpoints: ``POST /api/repos/create``, ``POST /api/validate-yaml``,
``POST /api/models/{owner}/{name}/preupload/{revision}``, ``POST /api/models/{owner}/{name}/commit/{revision}``.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    """``with FakeHub() as hub:`` serves on ``hub.url``; ``hub.commits`` lists every commit as
    ``{"repo", "revision", "message", "files": {path: bytes}}``; ``hub.requests`` every request line."""

    def __init__(self) -> None:
        self.commits: list[dict[str, Any]] = []
        self.repos: list[str] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                with hub.lock:
                    hub.requests.append(f"POST {path}")
                parts = path.strip("/").split("/")
                if path == "/api/repos/create":
                    req = json.loads(body or b"{}")
                    repo = f"{req.get('organization') or 'user'}/{req['name']}" if "/" not in req["name"] else req["name"]
                    with hub.lock:
                        hub.repos.append(repo)
                    return self._reply(200, {"url": f"{hub.url}/{repo}", "name": repo})
                if path == "/api/validate-yaml":
                    return self._reply(200, {"errors": [], "warnings": []})
                if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                       for f in files]})
                if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                    commit: dict[str, Any] = {"repo": f"{parts[2]}/{parts[3]}", "revision": "/".join(parts[5:]), "files": {}}
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            commit["message"] = item["value"].get("summary")
                        elif item["key"] == "file":
                            commit["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    with hub.lock:
                        hub.commits.append(commit)
                        n = len(hub.commits)
                    oid = f"{n:040x}"
                    return self._reply(200, {"commitUrl": f"{hub.url}/{commit['repo']}/commit/{oid}", "commitOid": oid,
                                             "pullRequestUrl": None})
                return self._reply(404, {"error": f"fake hub: no endpoint {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def uploaded(self, path: str) -> list[bytes]:
        """Every version of ``path`` uploaded, in commit order."""
        with self.lock:
            return [c["files"][path] for c in self.commits if path in c["files"]]
