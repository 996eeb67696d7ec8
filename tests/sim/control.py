"""The control API under /_sim/ (no auth; never logged, faulted or delayed),
the fault table and the request log.

GET    /_sim/state        the whole dataset, every object as the API serves it:
    {"sim": {"now", "large_invoice": {"owner", "number"}},
     "clever": {"self": user, "summary": /v2/summary body,
                "organisations": [org],            (not the personal space)
                "applications":   {ownerId: [v2 app]},     ownerId: user id or orga id
                "addons":         {ownerId: [v2 addon]},
                "invoices":       {ownerId: [invoice]},    newest first
                "deployments":    {appId: [deployment]},   newest first
                "instances":      {appId: [instance]},
                "load_balancers": {appId: [load balancer]},  (the .../default body)
                "zones": [zone],
                "storage_policies": {pulsar realId: policy},
                "logs":           {appId: [APPLICATION_LOG event]}},  date order
     "upcloud": {"account": GET /1.3/account body,
                 "list": GET /1.3/account/list body,
                 "details": {username: GET /1.3/account/details/{username} body},
                 "metering": {"first_month", "current_month",
                              "resources": [{"resource_id", "type", "title", "plan", "zone"}]}}}
GET    /_sim/credentials  {"clever": {api_token, consumer_key, consumer_secret, token, secret},
                           "upcloud": {token, username, password}}
GET    /_sim/requests     [{"seq", "method", "path", "query", "headers", "body", "status",
                            "request_id", "t_start", "t_answer", "t_end"}] in arrival order
                           (headers: every request header, names in lower case; times:
                           time.time() seconds). t_start: the request was read; t_answer:
                           its answer starts going out (an SSE stream's headers), status
                           and t_answer are null before; t_end: it is over, null before.
                           status 0 = reset. The client sent the request before t_start
                           and has not had the whole answer at t_answer, so requests whose
                           [t_start, t_answer) overlap were all in flight at once for it.
DELETE /_sim/requests     clear the log
POST   /_sim/latency      {"ms": N}: every API response waits N ms first (0 = off)
GET    /_sim/faults       the faults still armed
POST   /_sim/faults       {"match": regex searched in "path?query", "method"?, "kind":
                           status|reset|truncate|malformed|slow|late|drop_stream, "status"?,
                           "retry_after"?, "times"? (1; -1 = forever), "delay_ms"?,
                           "after_events"?, "error_form"? (UpCloud: legacy|problem),
                           "probability"? (1.0; 0 < p <= 1)}
                           Each matching API request uses one "times" of the first
                           matching fault that applies to it: drop_stream applies to
                           SSE streams only, truncate and malformed to other requests only.
                           With a probability below 1, a matching request draws at random
                           and the fault applies only if the draw hits; a miss uses up no
                           "times" and the request goes on to the next armed fault.
                           slow waits delay_ms before the request is processed; late
                           processes it (a write is applied) and then waits delay_ms
                           before the answer goes out (the log's status stays null until then).
DELETE /_sim/faults       clear all faults
POST   /_sim/mutate       {"op": "invoice_status", "owner", "number", "status"}
                          {"op": "add_app", "owner", "app": {partial v2 app, id and name}}
                          {"op": "delete_app", "owner", "app": appId}
                          {"op": "add_log", "owner", "app": appId, "event": {partial, message}}
                          {"op": "set_account_field", "username", "field", "value"}
                          -> 200 with the resulting object (delete_app: the deleted app);
                          400/404 {"error": "..."} for a bad op or an unknown id
POST   /_sim/reset        seed data again; clears faults, the request log and latency
                          (back to --latency-ms). An optional body {"apps"?: N,
                          "subaccounts"?: N, "scale"?: K} sets the generated data of this
                          reset (see --apps, --subaccounts and --scale; each one left out,
                          and every later reset without a body, takes the command line's)
"""

import itertools
import random
import re
import threading
import time
from dataclasses import dataclass

import seed
from clock import iso
from server import ApiError, Route, Router, json_response

KINDS = ("status", "reset", "truncate", "malformed", "slow", "late", "drop_stream")
FLEET_MINIMUMS = {"apps": 0, "subaccounts": 0, "scale": 1}  # what a reset body may set
INVOICE_STATUSES = ("PENDING", "PROCESSING", "PAYMENTHELD", "PAID", "CANCELED", "REFUNDED", "WONTPAY")


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = itertools.count(1)  # never restarts: seq stays unique across clears

    def open(self, req):
        with self.lock:
            entry = {"seq": next(self.seq), "method": req.method, "path": req.path, "query": req.query,
                     "headers": req.headers, "body": req.body.decode("utf-8", errors="replace"),
                     "status": None, "request_id": "", "t_start": time.time(), "t_answer": None,
                     "t_end": None}
            self.entries.append(entry)
            return entry

    def respond(self, entry, status, request_id):
        with self.lock:
            entry.update(status=status, request_id=request_id, t_answer=time.time())

    def done(self, entry):
        with self.lock:
            entry["t_end"] = time.time()

    def snapshot(self):
        with self.lock:
            return [dict(entry) for entry in self.entries]

    def clear(self):
        with self.lock:
            self.entries = []


@dataclass
class Fault:
    match: str
    kind: str
    method: str | None = None
    status: int = 503
    retry_after: int | None = None
    times: int = 1
    delay_ms: int = 0
    after_events: int = 0
    error_form: str | None = None
    probability: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if self.error_form not in (None, "legacy", "problem"):
            raise ValueError("error_form must be legacy or problem")
        if not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be -1 (forever) or >= 1")
        if type(self.probability) not in (int, float) or not 0 < self.probability <= 1:
            raise ValueError("probability must be a number, 0 < p <= 1")
        self.regex = re.compile(self.match)

    def applies(self, method, target, streaming):
        if self.method and self.method.upper() != method:
            return False
        if self.kind == "drop_stream" and not streaming:
            return False
        if self.kind in ("truncate", "malformed") and streaming:
            return False
        if not self.regex.search(target):
            return False
        return self.probability >= 1 or random.random() < self.probability

    def describe(self):
        return {key: value for key, value in vars(self).items() if key != "regex"}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.armed = []

    def add(self, fault):
        with self.lock:
            self.armed.append(fault)

    def take(self, req, streaming):
        """Use up one time of the first fault for this request, and return it."""
        target = f"{req.path}?{req.query}" if req.query else req.path
        with self.lock:
            for fault in self.armed:
                if fault.applies(req.method, target, streaming):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self.armed.remove(fault)
                    return fault
        return None

    def clear(self):
        with self.lock:
            self.armed = []

    def snapshot(self):
        with self.lock:
            return [fault.describe() for fault in self.armed]


def control_error(status, message):
    return ApiError(status, "CONTROL", message)


def body(req):
    try:
        value = req.json() if req.body else {}
    except ValueError:
        raise control_error(400, "body is not JSON") from None
    if not isinstance(value, dict):
        raise control_error(400, "body must be a JSON object")
    return value


def need(mapping, *keys):
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise control_error(400, f"missing {', '.join(missing)}")
    return [mapping[key] for key in keys]


class Control:
    def __init__(self, sim):
        self.sim = sim
        self.router = Router([
            Route("GET", "/_sim/state", self.state),
            Route("GET", "/_sim/credentials", self.credentials),
            Route("GET", "/_sim/requests", self.requests),
            Route("DELETE", "/_sim/requests", self.clear_requests),
            Route("POST", "/_sim/latency", self.latency),
            Route("GET", "/_sim/faults", self.faults),
            Route("POST", "/_sim/faults", self.add_fault),
            Route("DELETE", "/_sim/faults", self.clear_faults),
            Route("POST", "/_sim/mutate", self.mutate),
            Route("POST", "/_sim/reset", self.reset),
        ])
        self.ops = {"invoice_status": self.invoice_status, "add_app": self.add_app,
                    "delete_app": self.delete_app, "add_log": self.add_log,
                    "set_account_field": self.set_account_field}

    def handle(self, req):
        try:
            route, groups = self.router.lookup(req.method, req.path)
            with self.sim.store.lock:
                return route.handler(req, **groups)
        except ApiError as err:
            return json_response({"error": err.message}, err.status)

    def state(self, req):
        store = self.sim.store
        owner = next(owner for owner in store.clever["invoices"] if store.invoice(owner, store.large_invoice))
        return json_response({
            "sim": {"now": iso(store.now), "large_invoice": {"owner": owner, "number": store.large_invoice}},
            "clever": self.sim.clever.state(),
            "upcloud": {**self.sim.upcloud.state(), "metering": self.sim.metering.state()},
        })

    def credentials(self, req):
        return json_response(self.sim.credentials)

    def requests(self, req):
        return json_response(self.sim.requests.snapshot())

    def clear_requests(self, req):
        self.sim.requests.clear()
        return json_response({"cleared": True})

    def latency(self, req):
        (ms,) = need(body(req), "ms")
        if type(ms) is not int or ms < 0:
            raise control_error(400, "ms must be an integer >= 0")
        self.sim.settings.latency_ms = ms
        return json_response({"ms": ms})

    def faults(self, req):
        return json_response(self.sim.faults.snapshot())

    def add_fault(self, req):
        spec = body(req)
        try:
            fault = Fault(**spec)
        except (TypeError, ValueError, re.error) as err:
            raise control_error(400, f"bad fault: {err}") from None
        self.sim.faults.add(fault)
        return json_response(fault.describe())

    def clear_faults(self, req):
        self.sim.faults.clear()
        return json_response({"cleared": True})

    def reset(self, req):
        spec = body(req)
        unknown = sorted(set(spec) - set(FLEET_MINIMUMS))
        if unknown:
            raise control_error(400, f"reset takes {', '.join(FLEET_MINIMUMS)}, not {', '.join(unknown)}")
        sizes = {}
        for key, least in FLEET_MINIMUMS.items():
            value = spec.get(key, getattr(self.sim.store.fleet, key))
            if type(value) is not int or value < least:
                raise control_error(400, f"{key} must be an integer >= {least}")
            sizes[key] = value
        fleet = seed.Fleet(**sizes)
        self.sim.store.reset(fleet)
        self.sim.metering.rescale(fleet.scale)
        self.sim.faults.clear()
        self.sim.requests.clear()
        self.sim.settings.latency_ms = self.sim.base_latency_ms
        return json_response({"reset": True})

    # -- mutate ops ----------------------------------------------------------------------

    def mutate(self, req):
        spec = body(req)
        op = self.ops.get(spec.get("op"))
        if op is None:
            raise control_error(400, f"op must be one of {', '.join(self.ops)}")
        try:
            return json_response(op(spec))
        except LookupError as err:
            raise control_error(404, str(err.args[0])) from None

    def owner(self, spec):
        (owner,) = need(spec, "owner")
        if not self.sim.store.is_owner(owner):
            raise LookupError(f"no owner {owner}")
        return owner

    def app(self, spec):
        owner = self.owner(spec)
        (app_id,) = need(spec, "app")
        app = self.sim.store.app(owner, app_id)
        if app is None:
            raise LookupError(f"no application {app_id} in {owner}")
        return owner, app

    def invoice_status(self, spec):
        owner = self.owner(spec)
        number, status = need(spec, "number", "status")
        if status not in INVOICE_STATUSES:
            raise control_error(400, f"status must be one of {', '.join(INVOICE_STATUSES)}")
        invoice = self.sim.store.invoice(owner, number)
        if invoice is None:
            raise LookupError(f"no invoice {number} for {owner}")
        invoice["status"] = status
        return invoice

    def add_app(self, spec):
        owner = self.owner(spec)
        (partial,) = need(spec, "app")
        if not isinstance(partial, dict):
            raise control_error(400, "app must be an object")
        need(partial, "id", "name")
        if any(self.sim.store.app(other, partial["id"]) for other in self.sim.store.clever["applications"]):
            raise control_error(400, f"application {partial['id']} exists")
        app = seed.new_app(owner, partial, self.sim.store.now)
        self.sim.store.add_app(owner, app)
        return app

    def delete_app(self, spec):
        owner, app = self.app(spec)
        self.sim.store.delete_app(owner, app)
        return app

    def add_log(self, spec):
        owner, app = self.app(spec)
        (partial,) = need(spec, "event")
        if not isinstance(partial, dict) or not isinstance(partial.get("message"), str):
            raise control_error(400, "event must be an object with a message")
        return self.sim.logs.add(owner, app["id"], partial)

    def set_account_field(self, spec):
        username, field, value = need(spec, "username", "field", "value")
        account = self.sim.store.upcloud["details"].get(username)
        if account is None:
            raise LookupError(f"no account {username}")
        account[field] = value
        return {"account": account}
