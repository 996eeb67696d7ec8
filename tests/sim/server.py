"""HTTP plumbing of the simulator.

Owns the request/response types every provider module uses (Request, Response,
Stream, ApiError, Route, Router), and the one request handler that wraps every API
call: request log entry, fault lookup, latency, authentication, dispatch, the
provider's error form, and the fault's effect on the bytes that go out (reset,
truncate, malformed, late, dropped stream). /_sim/ requests go to the control
router and skip all of that.
"""

import json
import re
import socket
import struct
import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MALFORMED_BODY = b'{"malformed": true, "items": [1, 2,'


class ApiError(Exception):
    """An API failure; the provider renders it in its own error form."""

    def __init__(self, status, code, message, headers=None, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    @classmethod
    def from_status(cls, status, retry_after=None):
        """A generic error for an injected status (faults)."""
        phrase = HTTPStatus(status).phrase
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(status, phrase.upper().replace(" ", "_"), phrase, headers)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes

    @cached_property
    def params(self):
        return parse_qs(self.query, keep_blank_values=True)

    def param(self, name, default=None):
        values = self.params.get(name)
        return values[0] if values else default

    def json(self):
        """The body as JSON; ValueError if it is not."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict = field(default_factory=dict)


def json_response(obj, status=200, content_type="application/json"):
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return Response(status, body, content_type)


class Stream:
    """A response whose body is written over time (SSE); ends by closing."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self):
        self.headers = {}

    def run(self, write, drop_after):
        """Write the body with write(str); stop after drop_after events if set."""
        raise NotImplementedError

    def close(self):
        """Called once the stream is over, however it ended."""


@dataclass
class Route:
    method: str
    pattern: str
    handler: object
    stream: bool = False
    form: str | None = None  # provider-specific error form of this endpoint

    def __post_init__(self):
        self.regex = re.compile(self.pattern)


class Router:
    """Method + regex route table; lookup returns (route, groups) or raises."""

    def __init__(self, routes):
        self.routes = list(routes)

    def lookup(self, method, path):
        allowed = False
        for route in self.routes:
            match = route.regex.fullmatch(path)
            if match and route.method == method:
                return route, match.groupdict()
            allowed = allowed or bool(match)
        if allowed:
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        raise ApiError(404, "NOT_FOUND", "Not found")


@dataclass
class Settings:
    latency_ms: int = 0
    heartbeat_ms: int = 2000
    verbose: bool = False


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new
    # connections (a client opening max_conns at once): each dropped one
    # is sent again a second later, a full round trip at 1 s latency
    request_queue_size = 128

    def __init__(self, address, sim):
        self.sim = sim
        super().__init__(address, SimHandler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudsim/1.0"
    # headers and body go out in separate sends: without this, Nagle and
    # delayed ACKs add ~40 ms to every request on a kept-alive connection
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, fmt, *args):
        if self.server.sim.settings.verbose:
            super().log_message(fmt, *args)

    # -- request intake -------------------------------------------------------

    def dispatch(self):
        url = urlsplit(self.path)
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        req = Request(self.command, url.path, url.query, headers, self.read_body())
        if req.path.startswith("/_sim/"):
            self.send(self.server.sim.control.handle(req))
            return
        provider = self.server.sim.provider_for(req.path)
        self.serve_api(req, provider)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self):
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    # -- API calls ---------------------------------------------------------------

    def serve_api(self, req, provider):
        entry = self.server.sim.requests.open(req)
        try:
            self.answer(req, provider, entry)
        finally:
            self.server.sim.requests.done(entry)

    def answer(self, req, provider, entry):
        sim = self.server.sim
        route, groups, miss = self.route(req, provider)
        fault = sim.faults.take(req, streaming=bool(route and route.stream))
        time.sleep(sim.settings.latency_ms / 1000)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay_ms / 1000)
        if fault and fault.kind == "reset":
            sim.requests.respond(entry, 0, "")
            self.reset_connection()
            return
        result = self.produce(req, provider, route, groups, miss, fault)
        if fault and fault.kind == "malformed":
            result = Response(200, MALFORMED_BODY, "application/json")
        request_id = provider.finish(result) if provider else ""
        if fault and fault.kind == "late":
            time.sleep(fault.delay_ms / 1000)  # processed (a write applied); the answer waits
        sim.requests.respond(entry, result.status, request_id)
        if isinstance(result, Stream):
            self.send_stream(result, fault.after_events if fault and fault.kind == "drop_stream" else None)
        else:
            self.send(result, truncate=bool(fault and fault.kind == "truncate"))

    @staticmethod
    def route(req, provider):
        """(route, groups, None), or (None, None, the 404/405 to answer once authenticated)."""
        if provider is None:
            return None, None, None
        try:
            return (*provider.router.lookup(req.method, req.path), None)
        except ApiError as err:
            return None, None, err

    def produce(self, req, provider, route, groups, miss, fault):
        """The response (or Stream) to an API request that is not reset."""
        if provider is None:
            return json_response({"error": "no such API"}, 404)
        if fault and fault.kind == "status":
            err = ApiError.from_status(fault.status, fault.retry_after)
            return provider.error(req, route, err, fault.error_form)
        try:
            provider.authenticate(req)
            if miss:
                raise miss
            with self.server.sim.store.lock:
                return route.handler(req, **groups)
        except ApiError as err:
            return provider.error(req, route, err)
        except Exception:  # a simulator bug: say so loudly, answer 500
            traceback.print_exc()
            return provider.error(req, route, ApiError.from_status(500))

    # -- output ----------------------------------------------------------------

    def send(self, resp, truncate=False):
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.status != 204:
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
        self.close_connection = self.close_connection or truncate
        self.end_headers()
        self.wfile.write(resp.body[: len(resp.body) // 2] if truncate else resp.body)

    def send_stream(self, stream, drop_after):
        """Headers without Content-Length, the body as it comes, then close."""
        self.close_connection = True

        def write(text):
            self.wfile.write(text.encode("utf-8"))
            self.wfile.flush()

        try:
            self.send_response(stream.status)
            for name, value in stream.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", stream.content_type)
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            stream.run(write, drop_after)
        except OSError:
            pass  # the client went away
        finally:
            stream.close()

    def reset_connection(self):
        """Close the TCP connection with RST and send nothing."""
        self.close_connection = True
        linger = struct.pack("ii", 1, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.connection.close()
