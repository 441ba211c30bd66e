"""The HTTP server of ``yof-darknet serve`` (the standard library's, one thread per connection):
GET and HEAD of the paths in the site's table, nothing else.

Every answer carries the headers that make the page cross-origin isolated (COOP ``same-origin``
+ COEP ``require-corp``): only then may ONNX Runtime Web share memory between WebAssembly
threads. The Content-Security-Policy lets the page load scripts, WebAssembly and workers from
this server alone, so the page cannot fetch anything from elsewhere.

A request path is percent-decoded once and refused (400) when it holds a ``..`` or ``.``
segment, a backslash or a NUL byte, or is not a path at all; a path not in the table is 404.
"""

from __future__ import annotations

import errno
import shutil
import socket
import sys
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from yof_darknet.core.errors import ServeError
from yof_darknet.serve.site import Resource

SECURITY_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
        "connect-src 'self' blob: data:; img-src 'self' blob: data:; media-src 'self' blob: "
        "mediastream:; style-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_CHUNK = 1 << 20


def request_path(raw: str) -> str | None:
    """The decoded path of a request target (query and fragment dropped), or None when it must be
    refused: not a path, or a path that could step outside (``..``, ``.``, ``\\``, NUL, ``//``).

    >>> request_path("/app/app.js?v=1"), request_path("/app/%2e%2e/x"), request_path("//etc")
    ('/app/app.js', None, None)
    """
    path = raw.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/") or path.startswith("//"):
        return None
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or "\x00" in decoded or "//" in decoded:
        return None
    if any(part in (".", "..") for part in decoded.split("/")):
        return None
    return decoded


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    server_version = "yof-darknet-serve"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _answer(self, body: bool) -> None:
        path = request_path(self.path)
        if path is None:
            self._error(HTTPStatus.BAD_REQUEST, "refused: this server serves its own pages only")
            return
        resource = self.server.routes.get(path)
        if resource is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            self._send(resource, body)
        except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-file
            self.close_connection = True

    def _send(self, resource: Resource, body: bool) -> None:
        if resource.data is not None:
            self._headers(HTTPStatus.OK, resource, len(resource.data))
            if body:
                self.wfile.write(resource.data)
            return
        assert resource.path is not None
        try:
            handle = resource.path.open("rb")
        except OSError as exc:  # removed since the start (a re-export under way...)
            self._error(HTTPStatus.NOT_FOUND, f"{resource.path.name}: {exc.strerror}")
            return
        with handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            self._headers(HTTPStatus.OK, resource, size)
            if body:
                shutil.copyfileobj(handle, self.wfile, _CHUNK)

    def _headers(self, status: HTTPStatus, resource: Resource, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "max-age=86400" if resource.cache else "no-cache")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()

    def _error(self, status: HTTPStatus, text: str, extra: Mapping[str, str] | None = None) -> None:
        data = f"{status.value} {status.phrase}: {text}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            sys.stderr.write(f"serve: {self.address_string()} {format % args}\n")


class DemoServer(ThreadingHTTPServer):
    """Serves ``routes`` (path -> :class:`Resource`) on ``host``:``port``."""

    daemon_threads = True

    def __init__(
        self, routes: Mapping[str, Resource], host: str, port: int, verbose: bool = False
    ) -> None:
        self.routes = dict(routes)
        self.verbose = verbose
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise ServeError(_bind_problem(host, port, exc)) from None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{host}:{port} is in use: stop what listens there, or pick another --port (0: any)"
    if exc.errno == errno.EACCES:
        return f"{host}:{port}: ports under 1024 need root; pick --port 8000 or above"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host}: not an address of this machine ({exc.strerror or exc})"
    return f"{host}:{port}: cannot listen there ({exc.strerror or exc})"
