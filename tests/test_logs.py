"""Clever Cloud application logs as files (README "Logs", include/logs.h).

Every expectation is built while the test runs from the simulator: its history
(/_sim/state, clever.logs[appId], in date order), the events the test adds
(add_log) and its request log.  Nothing is copied from the seed.

A line is "<date> <instanceId> <severity> <message>\\n" with "-" for a missing
field; in the message a backslash is "\\\\", a newline "\\n", a carriage return
"\\r" and any other control character but tab "\\xHH".
"""

import json
import os
import re
import subprocess
import time
import urllib.parse
from datetime import datetime, timezone

import pytest

from conftest import quiet, stop_process, wait_for

LOGS_PREFIX = "/v4/logs/organisations/"
LIVE_WAIT = 15.0        # "within a few seconds", with room for a loaded machine
STOP_WAIT = 15.0
CFS_FOLLOW_WAIT = 3.0   # past the follow delay (1 s): a follower would have started


# -- expected text ---------------------------------------------------------------------

def escape(message):
    out = []
    for ch in message:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 and ch != "\t":
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def field(event, key):
    value = event.get(key)
    return "-" if value is None else value


def line(event):
    return "%s %s %s %s\n" % (field(event, "date"), field(event, "instanceId"),
                              field(event, "severity"), escape(event["message"]))


def text(events):
    return "".join(line(e) for e in events).encode("utf-8")


# -- simulator data --------------------------------------------------------------------

def apps(state):
    """[(ownerId, app)] for every application of the user and of each organisation."""
    return [(owner, app) for owner, lst in sorted(state["clever"]["applications"].items())
            for app in lst]


def history(state, app_id):
    return state["clever"]["logs"][app_id]


def first_app(sim):
    """(state, owner, app id, history) of an app whose history is not empty."""
    state = sim.state()
    for owner, app in apps(state):
        events = history(state, app["id"])
        if len(events) >= 25:
            return state, owner, app["id"], events
    pytest.fail("no application with 25 log events in the simulator's state")


def logs_path(m, owner, app_id, *rest):
    return m.p("orgs", owner, "apps", app_id, *(rest or ("logs",)))


def api_path(owner, app_id):
    return "%s%s/applications/%s/logs" % (LOGS_PREFIX, owner, app_id)


def log_requests(sim, owner=None, app_id=None):
    """The log stream requests in arrival order, with their query parsed."""
    out = []
    for r in sim.requests():
        if not r["path"].startswith(LOGS_PREFIX):
            continue
        if app_id is not None and r["path"] != api_path(owner, app_id):
            continue
        r = dict(r)
        r["q"] = urllib.parse.parse_qs(r["query"], keep_blank_values=True)
        out.append(r)
    return out


def snapshots(reqs):
    return [r for r in reqs if "until" in r["q"]]


def lives(reqs):
    return [r for r in reqs if "until" not in r["q"]]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cat(path, timeout=30):
    r = subprocess.run(["cat", path], capture_output=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class Tail:
    """`tail -n +1 -f path` with its stdout in a file: the whole file, then what it grows by."""

    def __init__(self, workdir, path, name="tail.out"):
        self.out = os.path.join(workdir, name)
        self.err = os.path.join(workdir, name + ".err")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(["tail", "-n", "+1", "-f", path],
                                         stdout=out, stderr=err)

    def output(self):
        return read(self.out)

    def wait_for(self, expected, timeout=LIVE_WAIT):
        """True once the output is at least as long as expected (then compare it whole)."""
        return wait_for(lambda: len(self.output()) >= len(expected), timeout, 0.05)

    def stop(self):
        stop_process(self.proc)
        assert read(self.err) == b"", read(self.err)


def wait_live_stream(sim, owner, app_id, count=1, timeout=LIVE_WAIT):
    """The live stream requests once `count` of them have their status out."""
    found = []

    def ready():
        found[:] = [r for r in lives(log_requests(sim, owner, app_id)) if r["status"] is not None]
        return len(found) >= count

    assert wait_for(ready, timeout, 0.05), \
        "no live log stream after %.0f s: %r" % (timeout, log_requests(sim, owner, app_id))
    return found


def add_logs(sim, owner, app_id, messages, pause=0.0):
    events = []
    for msg in messages:
        events.append(sim.mutate(op="add_log", owner=owner, app=app_id, event={"message": msg}))
        if pause:
            time.sleep(pause)
    return events


# -- snapshots -------------------------------------------------------------------------

def check_whole_histories(sim, m):
    state = sim.state()
    assert apps(state)
    for owner, app in apps(state):
        path = logs_path(m, owner, app["id"])
        expected = text(history(state, app["id"]))
        assert expected, "empty history for %s" % app["id"]
        data = cat(path)
        assert data == expected, path
        assert os.stat(path).st_size == len(data)
        # one event, one line
        assert data.count(b"\n") == len(history(state, app["id"]))


def test_every_app_log_is_its_whole_history(sim, clever):
    check_whole_histories(sim, clever)


def test_generated_apps_logs_are_their_whole_history(sim, fleet, mount_fs):
    fleet(apps=3)
    check_whole_histories(sim, mount_fs("clever"))


def paced_seconds(sim, path, query):
    """How long the simulator took to send a stream to its end, read directly."""
    t0 = time.monotonic()
    body = sim.api(path + "?" + query, accept="text/event-stream")
    assert body.endswith(b"event: END_OF_STREAM\ndata: {\"endedBy\": \"UNTIL_REACHED\"}\n\n")
    return time.monotonic() - t0


def test_a_paced_snapshot_arrives_whole(sim, clever):
    """The API sends at most throttleElements events (default 100) per
    throttlePerInMilliseconds (default 300), history included: a 250-event
    history takes three windows (opening at 0, 0.3 and 0.6 s) by default,
    five (0 to 0.4 s) at 50 per 100 ms. cloudfs reads it whole, in one request."""
    state, owner, app_id, events = first_app(sim)
    events += add_logs(sim, owner, app_id, ["paced %03d" % i for i in range(250 - len(events))])
    query = "until=2100-01-01T00:00:00Z&service=all"
    assert paced_seconds(sim, api_path(owner, app_id), query) >= 0.6
    assert paced_seconds(sim, api_path(owner, app_id),
                         query + "&throttleElements=50&throttlePerInMilliseconds=100") >= 0.4
    sim.clear_requests()
    assert cat(logs_path(clever, owner, app_id)) == text(events)
    assert len(snapshots(log_requests(sim, owner, app_id))) == 1


def test_snapshot_request_ends_when_it_is_fetched_and_is_not_paced(sim, mount_fs):
    m = mount_fs("clever", "ttl=10")
    state, owner, app_id, events = first_app(sim)
    before = int(time.time())
    data = cat(logs_path(m, owner, app_id))
    after = time.time()
    assert data == text(events)
    reqs = log_requests(sim, owner, app_id)
    assert len(reqs) == 1, reqs
    r = reqs[0]
    assert r["method"] == "GET"
    assert r["status"] == 200
    assert r["t_end"] is not None
    assert r["q"]["service"] == ["all"]
    assert r["q"]["limit"] == ["1000"]
    assert r["q"]["throttleElements"] == ["1000"]
    assert "last-event-id" not in r["headers"]
    assert "text/event-stream" in r["headers"].get("accept", "")
    (until,) = r["q"]["until"]
    t = datetime.fromisoformat(until.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
    assert before <= t <= after, (until, before, after)


def test_two_reads_within_the_ttl_fetch_the_snapshot_once(sim, mount_fs):
    m = mount_fs("clever", "ttl=4")
    state, owner, app_id, events = first_app(sim)
    first = cat(logs_path(m, owner, app_id))
    # whatever wall-clock period boundary falls in between
    time.sleep(2)
    assert cat(logs_path(m, owner, app_id)) == first
    assert len(log_requests(sim, owner, app_id)) == 1


def test_size_matches_before_and_after_reading_and_rereads_send_nothing(sim, clever):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id)
    size = os.stat(path).st_size
    first = read(path)
    assert size == len(first) == len(text(events))
    assert os.stat(path).st_size == size
    second = read(path)
    assert second == first
    # within the TTL the same snapshot URL is never asked twice
    urls = [r["path"] + "?" + r["query"] for r in log_requests(sim, owner, app_id)]
    assert urls and len(urls) == len(set(urls)), urls


def check_filtered_logs(d, items, state, app_id, field):
    """Each item's file in d holds the app's events whose `field` is the
    item's id, with an exact size; {id: whether it has events}."""
    assert sorted(x["id"] for x in items) == sorted(os.listdir(d))
    has_events = {}
    for item in items:
        path = os.path.join(d, item["id"])
        expected = text([e for e in history(state, app_id) if e[field] == item["id"]])
        data = cat(path)
        assert data == expected, path
        assert os.stat(path).st_size == len(data)
        has_events[item["id"]] = bool(expected)
    return has_events


def test_deployment_logs(sim, clever):
    state = sim.state()
    checked = 0
    for owner, app in apps(state):
        app_id = app["id"]
        d = clever.p("orgs", owner, "apps", app_id, "deployment-logs")
        seen = check_filtered_logs(d, state["clever"]["deployments"][app_id], state, app_id,
                                   "deploymentId")
        checked += sum(seen.values())
    assert checked, "no deployment with events was checked"
    reqs = [r for r in snapshots(log_requests(sim)) if "deploymentId" in r["q"]]
    assert reqs and all(r["q"]["service"] == ["all"] and r["q"]["limit"] == ["1000"]
                        for r in reqs)


def test_instance_and_deleted_instance_logs(sim, clever):
    state = sim.state()
    live_checked = deleted_checked = 0
    for owner, app in apps(state):
        app_id = app["id"]
        d = clever.p("orgs", owner, "apps", app_id, "instance-logs")
        instances = state["clever"]["instances"][app_id]
        # live and deleted instances alike, one file each
        seen = check_filtered_logs(d, instances, state, app_id, "instanceId")
        for inst in instances:
            if seen[inst["id"]]:
                if inst["state"] == "DELETED":
                    deleted_checked += 1
                else:
                    live_checked += 1
    assert live_checked and deleted_checked
    reqs = [r for r in snapshots(log_requests(sim)) if "instanceId" in r["q"]]
    assert reqs and all(len(r["q"]["instanceId"]) == 1 for r in reqs)


def test_log_lines_option_keeps_the_most_recent(sim, mount_fs):
    m = mount_fs("clever", "log_lines=5")
    state, owner, app_id, events = first_app(sim)
    path = logs_path(m, owner, app_id)
    data = cat(path)
    assert data == text(events[-5:])
    assert os.stat(path).st_size == len(data)
    reqs = snapshots(log_requests(sim, owner, app_id))
    assert [r["q"]["limit"] for r in reqs] == [["5"]]


def test_message_with_a_newline_is_one_line(sim, clever):
    state = sim.state()
    found = [(owner, app["id"], e) for owner, app in apps(state)
             for e in history(state, app["id"]) if "\n" in e["message"]]
    assert found, "the seed has no message with a newline"
    owner, app_id, event = found[0]
    data = cat(logs_path(clever, owner, app_id)).decode("utf-8")
    lines = data.split("\n")
    want = line(event)[:-1]
    assert want in lines
    assert "\\n" in want
    rest = event["message"].split("\n", 1)[1]
    # no line is the message's second half on its own
    assert not any(ln.startswith(rest) for ln in lines)


def test_escapes_and_missing_fields(sim, clever):
    state, owner, app_id, events = first_app(sim)
    added = [
        sim.mutate(op="add_log", owner=owner, app=app_id,
                   event={"message": "back\\slash cr\rlf\nesc\x1bnul-ish\x01 tab\there"}),
        sim.mutate(op="add_log", owner=owner, app=app_id,
                   event={"message": "unicode \u00e9\u2713 end"}),
        sim.mutate(op="add_log", owner=owner, app=app_id,
                   event={"message": "no instance", "instanceId": None, "severity": None}),
    ]
    assert added[2]["instanceId"] is None
    state = sim.state()
    expected = text(history(state, app_id))
    assert expected.endswith(text(added))
    data = cat(logs_path(clever, owner, app_id))
    assert data == expected
    tail = data.decode("utf-8").split("\n")[-4:-1]
    assert tail[0].endswith("back\\\\slash cr\\rlf\\nesc\\x1bnul-ish\\x01 tab\there")
    assert tail[2].endswith(" - - no instance")


def test_dropped_snapshot_resumes_without_loss_or_repeat(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    state, owner, app_id, events = first_app(sim)
    assert len(events) > 20
    sim.fault(match="logs", kind="drop_stream", after_events=10, times=2)
    path = logs_path(m, owner, app_id)
    data = cat(path, timeout=60)
    assert data == text(events)
    assert os.stat(path).st_size == len(data)
    reqs = snapshots(log_requests(sim, owner, app_id))
    assert [r["q"]["limit"] for r in reqs] == [["1000"], ["990"], ["980"]], \
        [(r["query"], r["headers"].get("last-event-id")) for r in reqs]
    assert "last-event-id" not in reqs[0]["headers"]
    assert reqs[1]["headers"].get("last-event-id") == events[9]["id"]
    assert reqs[2]["headers"].get("last-event-id") == events[19]["id"]
    assert len({r["q"]["until"][0] for r in reqs}) == 1
    assert "ended early" in m.output() and "resuming" in m.output()


# -- live followers --------------------------------------------------------------------

def test_tail_f_follows_new_events_and_stops_after_tail_exits(sim, clever, workdir):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id)
    snapshot = text(events)
    tail = Tail(workdir, path)
    try:
        assert tail.wait_for(snapshot), tail.output()
        size0 = os.stat(path).st_size
        assert size0 == len(snapshot)
        live = wait_live_stream(sim, owner, app_id)
        assert len(live) == 1
        r = live[0]
        assert r["q"]["service"] == ["all"] and "limit" not in r["q"]
        assert r["headers"].get("last-event-id") == events[-1]["id"]
        assert r["t_end"] is None

        t0 = time.monotonic()
        new = add_logs(sim, owner, app_id, ["live event one"])
        expected = snapshot + text(new)
        assert tail.wait_for(expected), tail.output()[-500:]
        print("\nfirst live event seen by tail -f after %.2f s" % (time.monotonic() - t0))
        assert tail.output() == expected
        assert os.stat(path).st_size == len(expected) > size0

        more = add_logs(sim, owner, app_id, ["live event %d" % i for i in range(2, 6)], 0.1)
        expected += text(more)
        assert tail.wait_for(expected), tail.output()[-500:]
        assert tail.output() == expected
        assert os.stat(path).st_size == len(expected)
    finally:
        tail.stop()
    t_exit = time.time()

    def finished():
        reqs = lives(log_requests(sim, owner, app_id))
        return reqs and all(x["t_end"] is not None for x in reqs)

    assert wait_for(finished, STOP_WAIT, 0.1), lives(log_requests(sim, owner, app_id))
    ends = [x["t_end"] for x in lives(log_requests(sim, owner, app_id))]
    print("live stream finished %.2f s after tail exited" % (max(ends) - t_exit))
    # one live stream only, and nothing new once closed
    n = len(log_requests(sim, owner, app_id))
    time.sleep(2)
    assert len(log_requests(sim, owner, app_id)) == n
    # closed: the size is the snapshot's again
    assert os.stat(path).st_size == len(read(path))


def test_live_stream_resumes_after_a_drop(sim, mount_fs, workdir):
    m = mount_fs("clever", expect_warnings=True)
    state, owner, app_id, events = first_app(sim)
    path = logs_path(m, owner, app_id)
    snapshot = text(events)
    # only the live stream (no until) of this app drops, twice, after 3 events each time
    sim.fault(match=r"^(?!.*until=).*/applications/%s/logs" % re.escape(app_id),
              kind="drop_stream", after_events=3, times=2)
    tail = Tail(workdir, path)
    try:
        assert tail.wait_for(snapshot), tail.output()
        wait_live_stream(sim, owner, app_id)
        new = add_logs(sim, owner, app_id, ["after drop %02d" % i for i in range(12)], 0.15)
        expected = snapshot + text(new)
        assert tail.wait_for(expected, 30), tail.output()[len(snapshot):]
        time.sleep(1.5)      # a repeat would show up late
        out = tail.output()
        assert out == expected, out[len(snapshot):]
        assert os.stat(path).st_size == len(expected)
    finally:
        tail.stop()
    live = lives(log_requests(sim, owner, app_id))
    assert len(live) >= 3, [(r["query"], r["headers"].get("last-event-id")) for r in live]
    assert live[0]["headers"].get("last-event-id") == events[-1]["id"]
    ids = [e["id"] for e in new]
    assert live[1]["headers"].get("last-event-id") == ids[2]
    assert live[2]["headers"].get("last-event-id") == ids[5]


def test_size_grows_while_open_without_reading(sim, clever):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id)
    with open(path, "rb") as f:
        assert os.fstat(f.fileno()).st_size == len(text(events))
        wait_live_stream(sim, owner, app_id)
        new = add_logs(sim, owner, app_id, ["grow 1", "grow 2"])
        want = len(text(events)) + len(text(new))
        assert wait_for(lambda: os.stat(path).st_size == want, LIVE_WAIT, 0.05), \
            (os.stat(path).st_size, want)
        assert os.fstat(f.fileno()).st_size == want
        assert f.read() == text(events) + text(new)


# -- scanners --------------------------------------------------------------------------

def test_grep_find_tar_over_the_whole_mount_end(sim, clever):
    state, owner, app_id, events = first_app(sim)
    needle = next(e["message"] for e in reversed(events)
                  if "\n" not in e["message"] and "\\" not in e["message"])
    t0 = time.monotonic()
    r = subprocess.run(["grep", "-r", "-F", "-l", "--", needle, clever.path],
                       capture_output=True, timeout=60)
    print("\ngrep -r over the mount: %.2f s" % (time.monotonic() - t0))
    assert r.returncode == 0, r.stderr
    hits = r.stdout.decode().split()
    assert logs_path(clever, owner, app_id) in hits, hits

    t0 = time.monotonic()
    r = subprocess.run(["find", clever.path, "-type", "f"], capture_output=True, timeout=60)
    print("find -type f: %.2f s" % (time.monotonic() - t0))
    assert r.returncode == 0, r.stderr
    files = r.stdout.decode().split("\n")
    assert logs_path(clever, owner, app_id) in files

    t0 = time.monotonic()
    r = subprocess.run(["tar", "-cf", "/dev/null", clever.path], capture_output=True, timeout=120)
    print("tar -cf /dev/null: %.2f s" % (time.monotonic() - t0))
    assert r.returncode == 0, r.stderr
    # GNU tar does not read the files when the archive is /dev/null: read them through a pipe
    t0 = time.monotonic()
    r = subprocess.run(["bash", "-c", 'set -o pipefail; tar -cf - -C "$1" . | wc -c', "-",
                        clever.path], capture_output=True, timeout=120)
    print("tar -cf - | wc -c: %.2f s, %s bytes" % (time.monotonic() - t0, r.stdout.decode().strip()))
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert int(r.stdout) > len(text(events))
    # none of them held a file open long enough to start a live stream
    time.sleep(1.5)
    assert lives(log_requests(sim)) == [], lives(log_requests(sim))


def test_tar_reads_log_files_whole(sim, clever, workdir):
    state, owner, app_id, events = first_app(sim)
    d = clever.p("orgs", owner, "apps", app_id)
    out = os.path.join(workdir, "logs.tar")
    r = subprocess.run(["tar", "-cf", out, "-C", d, "logs", "instances", "deployments"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["tar", "-xOf", out, "logs"], capture_output=True, timeout=30)
    assert r.stdout == text(events)


# -- memory ----------------------------------------------------------------------------

def test_rss_stays_bounded_while_following(sim, clever, workdir):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id)
    snapshot = text(events)
    before = vm_rss_kib(clever.pid)
    tail = Tail(workdir, path)
    try:
        assert tail.wait_for(snapshot), tail.output()
        wait_live_stream(sim, owner, app_id)
        new = add_logs(sim, owner, app_id,
                       ["rss event %03d %s" % (i, "x" * 200) for i in range(200)])
        expected = snapshot + text(new)
        assert tail.wait_for(expected, 60), len(tail.output())
        assert tail.output() == expected
        during = vm_rss_kib(clever.pid)
    finally:
        tail.stop()
    time.sleep(1)
    after = vm_rss_kib(clever.pid)
    print("\ndaemon VmRSS: before %d KiB, following 200 events %d KiB (%+d), after tail exited "
          "%d KiB (%+d)" % (before, during, during - before, after, after - before))
    assert during - before < 50 * 1024
    assert after - before < 50 * 1024


# -- log-search ------------------------------------------------------------------------

def search_path(m, owner, app_id, text_):
    return logs_path(m, owner, app_id, "log-search", text_)


def matching(events, text_):
    """The API's filter: a case-insensitive substring of the message."""
    return [e for e in events if text_.lower() in e["message"].lower()]


def some_but_not_all(events):
    """A word of the messages that some events hold and others do not."""
    for e in events:
        for word in re.findall(r"[A-Za-z]{4,}", e["message"]):
            if 0 < len(matching(events, word)) < len(events):
                return word
    pytest.fail("no word that only some of the events hold")


def test_log_search_holds_exactly_the_matching_events(sim, clever):
    state, owner, app_id, events = first_app(sim)
    word = some_but_not_all(events)
    for name in (word, word.swapcase()):
        sim.clear_requests()
        path = search_path(clever, owner, app_id, name)
        data = cat(path)
        assert data == text(matching(events, word)), name
        assert os.stat(path).st_size == len(data)
        reqs = log_requests(sim, owner, app_id)
        assert [r["q"]["filter"] for r in reqs] == [[name]], reqs
        assert reqs[0]["q"]["service"] == ["all"] and "until" in reqs[0]["q"]


def test_log_search_finds_what_the_last_log_lines_left_out(sim, mount_fs):
    m = mount_fs("clever", "log_lines=5")
    state, owner, app_id, events = first_app(sim)
    old = add_logs(sim, owner, app_id, ["the needle-in-history event"])
    newer = add_logs(sim, owner, app_id, ["later event %d" % i for i in range(6)])
    assert cat(logs_path(m, owner, app_id)) == text(newer[-5:])
    assert cat(search_path(m, owner, app_id, "needle-in-history")) == text(old)


def test_log_search_text_is_percent_encoded_in_the_request(sim, clever):
    state, owner, app_id, events = first_app(sim)
    name = "50% off & a+b=c #1 é?"
    added = add_logs(sim, owner, app_id, ["promo: " + name + " today", "no match here"])
    sim.clear_requests()
    assert cat(search_path(clever, owner, app_id, name)) == text(added[:1])
    (r,) = log_requests(sim, owner, app_id)
    assert "filter=" + urllib.parse.quote(name, safe="") in r["query"].split("&"), r["query"]
    assert r["q"]["filter"] == [name]


def test_log_search_of_an_invalid_name_is_enoent_without_a_request(sim, clever):
    state, owner, app_id, events = first_app(sim)
    os.listdir(logs_path(clever, owner, app_id, "log-search"))
    quiet(sim)
    sim.clear_requests()
    with pytest.raises(FileNotFoundError):
        os.stat(search_path(clever, owner, app_id, "x" * 201))
    assert sim.requests() == []
    # 200 bytes is still a search
    assert cat(search_path(clever, owner, app_id, "x" * 200)) == b""
    assert [r["q"]["filter"] for r in log_requests(sim, owner, app_id)] == [["x" * 200]]


def test_listing_an_app_costs_no_log_search_request(sim, clever):
    state, owner, app_id, events = first_app(sim)
    app_dir = clever.p("orgs", owner, "apps", app_id)
    done = subprocess.run(["ls", "-l", app_dir], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "log-search" in done.stdout
    quiet(sim)
    assert [r for r in log_requests(sim) if "filter" in r["q"]] == []
    sim.clear_requests()
    done = subprocess.run(["ls", "-l", os.path.join(app_dir, "log-search")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "total 0\n", done
    quiet(sim)
    assert sim.requests() == []


def test_tail_f_of_a_log_search_follows_matching_events_only(sim, clever, workdir):
    state, owner, app_id, events = first_app(sim)
    path = search_path(clever, owner, app_id, "followed")
    tail = Tail(workdir, path)
    try:
        live = wait_live_stream(sim, owner, app_id)
        assert [r["q"]["filter"] for r in live] == [["followed"]]
        new = add_logs(sim, owner, app_id, ["not this one", "FOLLOWED one", "nor this",
                                            "followed two"])
        expected = text([new[1], new[3]])
        assert tail.wait_for(expected), tail.output()
        time.sleep(0.5)
        assert tail.output() == expected
    finally:
        tail.stop()


# -- logs.jsonl ----------------------------------------------------------------------

def test_logs_jsonl_is_the_logs_snapshots_events_from_one_request(sim, clever):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id, "logs.jsonl")
    data = cat(path)
    assert os.stat(path).st_size == len(data)
    done = subprocess.run(["jq", "-c", ".", path], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = data.decode().splitlines()
    assert data.endswith(b"\n") and len(lines) == len(events)
    got = [json.loads(ln) for ln in lines]
    # every field of every event, as the API sent it
    assert got == events
    snapshot = cat(logs_path(clever, owner, app_id))
    assert text(got) == snapshot
    assert [e["id"] for e in got] == [e["id"] for e in history(sim.state(), app_id)]
    assert len(snapshots(log_requests(sim, owner, app_id))) == 1
    newest = datetime.fromisoformat(events[-1]["date"].replace("Z", "+00:00")).timestamp()
    assert int(os.stat(path).st_mtime) == int(newest)


def test_logs_jsonl_is_a_snapshot_that_tail_f_does_not_grow(sim, clever, workdir):
    state, owner, app_id, events = first_app(sim)
    path = logs_path(clever, owner, app_id, "logs.jsonl")
    tail = Tail(workdir, path)
    try:
        assert tail.wait_for(cat(path))
        add_logs(sim, owner, app_id, ["after the snapshot"])
        time.sleep(CFS_FOLLOW_WAIT)
        assert b"after the snapshot" not in tail.output()
    finally:
        tail.stop()
    assert lives(log_requests(sim, owner, app_id)) == []
