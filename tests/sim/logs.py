"""Clever Cloud application logs: the v4 SSE stream and live events.

GET /v4/logs/organisations/{ownerId}/applications/{appId}/logs answers
`: hello`, then the matching history in date order as
`id: <id>\\nevent: APPLICATION_LOG\\ndata: <one-line JSON>\\n\\n` frames. With `until`
(or once `limit` events went out) it ends with an END_OF_STREAM frame
(`{"endedBy": "UNTIL_REACHED"}`) and closes; otherwise it stays open, sending
`event: HEARTBEAT` frames every --heartbeat-ms and pushing the events that the
add_log mutate op adds, when they match the stream's filters.

An added event is dated one millisecond after the one added before it, the first
one a millisecond after the newest seeded event (minutes before "now"): it comes
after the whole history, and it is already past for a client whose clock reads
"now" or later (cloudfs asks for a snapshot until the current millisecond).

Query: since (inclusive), until (exclusive), limit (>= 1; without since, the most
recent ones), deploymentId, instanceId and service (repeatable; no service or
`all` = every service), filter (case-insensitive substring of the message). The
Last-Event-ID header resumes strictly after that id (ids are fixed-width
counters, so they compare as strings).

Pacing, like the API's: throttleElements (default 100) and
throttlePerInMilliseconds (default 300), both >= 1. A stream sends at most that
many events, history and live ones alike, per that many milliseconds: the
window opens at the first event that goes out, and once full, the next event
waits for the next window. So a 1,000-event snapshot takes about 3 s with the
defaults. Heartbeats keep their period while a stream waits.
"""

import json
import queue
import time

from clock import MILLISECOND, parse_iso
from server import ApiError, Stream
import seed

HELLO = ": hello\n\n"
HEARTBEAT = "event: HEARTBEAT\ndata: \n\n"
END = 'event: END_OF_STREAM\ndata: {"endedBy": "UNTIL_REACHED"}\n\n'
THROTTLE_ELEMENTS, THROTTLE_MS = 100, 300  # the API's defaults


def bad_request(message, **context):
    return ApiError(400, "BAD_REQUEST", message, context=context)


def date_param(req, name):
    value = req.param(name)
    try:
        return None if value is None else parse_iso(value)
    except ValueError:
        raise bad_request(f"{name} is not an ISO 8601 date", **{name: value}) from None


def positive_param(req, name, default=None):
    value = req.param(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise bad_request(f"{name} must be an integer >= 1", **{name: value})
    return int(value)


class LogQuery:
    """The filters of one stream, parsed from its request."""

    def __init__(self, req, app_id):
        self.app_id = app_id
        self.since = date_param(req, "since")
        self.until = date_param(req, "until")
        self.limit = positive_param(req, "limit")
        self.throttle_elements = positive_param(req, "throttleElements", THROTTLE_ELEMENTS)
        self.throttle_ms = positive_param(req, "throttlePerInMilliseconds", THROTTLE_MS)
        self.deployment = req.param("deploymentId")
        self.instances = set(req.params.get("instanceId", []))
        services = set(req.params.get("service", []))
        self.services = None if not services or "all" in services else services
        self.needle = (req.param("filter") or "").lower()
        self.after_id = req.headers.get("last-event-id")

    def matches(self, event):
        date = parse_iso(event["date"])
        return (event["applicationId"] == self.app_id
                and (self.since is None or date >= self.since)
                and (self.until is None or date < self.until)
                and self.deployment in (None, event["deploymentId"])
                and (not self.instances or event["instanceId"] in self.instances)
                and (self.services is None or event["service"] in self.services)
                and self.needle in event["message"].lower()
                and (self.after_id is None or event["id"] > self.after_id))

    def select(self, history):
        """The history to send, in date order."""
        events = sorted((e for e in history if self.matches(e)), key=lambda e: (e["date"], e["id"]))
        if self.limit is None:
            return events
        return events[:self.limit] if self.since else events[-self.limit:]


def frame(event):
    data = json.dumps(event, ensure_ascii=False)
    return f"id: {event['id']}\nevent: APPLICATION_LOG\ndata: {data}\n\n"


class LogHub:
    """Open streams and the live events pushed to them (all under store.lock)."""

    def __init__(self, store, settings):
        self.store = store
        self.settings = settings
        self.streams = set()

    def open(self, req, owner, app_id):
        if self.store.app(owner, app_id) is None:
            raise ApiError(404, "NOT_FOUND", "Application not found", context={"applicationId": app_id})
        query = LogQuery(req, app_id)
        stream = LogStream(self, query, query.select(self.store.clever["logs"][app_id]))
        self.streams.add(stream)
        return stream

    def close(self, stream):
        """Forget a stream that ended."""
        with self.store.lock:
            self.streams.discard(stream)

    def add(self, owner, app_id, partial):
        """The add_log mutate op: complete, store and push one event."""
        app = self.store.app(owner, app_id)
        if app is None:
            raise LookupError(f"no application {app_id} in {owner}")
        number = self.store.take_log_id()
        date = self.store.logs_end + self.store.live_logs * MILLISECOND
        event = seed.new_log_event(app, self.store.clever["instances"][app_id], partial, number, date)
        self.store.clever["logs"][app_id].append(event)
        for stream in self.streams:
            if stream.query.matches(event):
                stream.queue.put(event)
        return event


class LogStream(Stream):
    def __init__(self, hub, query, history):
        super().__init__()
        self.hub = hub
        self.query = query
        self.history = history
        self.queue = queue.SimpleQueue()

    def close(self):
        self.hub.close(self)

    def run(self, write, drop_after):
        write(HELLO)
        if drop_after == 0:
            return
        beat = Heartbeat(self.hub.settings.heartbeat_ms / 1000, write)
        pace = Pace(self.query.throttle_elements, self.query.throttle_ms / 1000)
        sent = 0
        for event in self.events(beat):
            beat.sleep(pace.take())
            write(frame(event))
            sent += 1
            if sent == drop_after:
                return  # the drop_stream fault: close without END_OF_STREAM
            if sent == self.query.limit:
                break
        write(END)

    def events(self, beat):
        """The history, then (without until) live events, heartbeating between them."""
        yield from self.history
        if self.query.until is not None:
            return
        while True:
            try:
                yield self.queue.get(timeout=beat.due_in())
            except queue.Empty:
                beat.send()


class Heartbeat:
    """A HEARTBEAT frame every `period` seconds of the stream."""

    def __init__(self, period, write):
        self.period = period
        self.write = write
        self.deadline = time.monotonic() + period

    def due_in(self):
        return max(0.0, self.deadline - time.monotonic())

    def send(self):
        self.write(HEARTBEAT)
        self.deadline += self.period

    def sleep(self, seconds):
        """Waits that long, sending the heartbeats that fall due meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.due_in() == 0:
                self.send()
            else:
                time.sleep(min(left, self.due_in()))


class Pace:
    """At most `elements` events per window of `period` seconds."""

    def __init__(self, elements, period):
        self.elements = elements
        self.period = period
        self.opened = float("-inf")  # when the current window opened
        self.sent = 0                # events sent in it

    def take(self):
        """Counts one more event; returns the seconds it must wait first."""
        now = time.monotonic()
        if now >= self.opened + self.period:
            self.opened, self.sent = now, 0
        wait = 0.0
        if self.sent == self.elements:
            wait = self.opened + self.period - now
            self.opened, self.sent = self.opened + self.period, 0
        self.sent += 1
        return wait
