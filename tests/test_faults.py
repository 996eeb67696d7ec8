"""Errors and retries (README "Caching and errors") with faults injected into the simulator.

GETs are retried on a reset, a truncated or malformed body and 408/429/5xx:
4 attempts in all, backoff 0.25 s, 0.5 s, 1 s (x0.75-1.25) or Retry-After when
larger; then the last good copy (with a "serving the copy" warning), else EIO.
404 is ENOENT, 401/403 EACCES, and neither is retried.  Mounts here expect
warnings: a failed call is logged.
"""

import errno
import json
import os
import time
import urllib.error
from http import HTTPStatus

import pytest

ZONES = "/v4/products/zones"
ZONES_MATCH = r"^/v4/products/zones(\?|$)"


def fault_free(sim):
    sim.call("DELETE", "/_sim/faults")


def attempts(sim, path):
    return [r for r in sim.requests() if r["path"] == path]


def errno_of(func, *args):
    try:
        func(*args)
    except OSError as err:
        return err.errno
    return 0


def read_json(path):
    with open(path) as f:
        return json.load(f)


def zone_file(sim, m):
    zone = sim.state()["clever"]["zones"][0]
    return m.p("zones", zone["name"] + ".json"), zone


def an_app(sim):
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    return owner, state["applications"][owner][0]["id"]


def lb_path(owner, app):
    return f"/v4/load-balancers/organisations/{owner}/applications/{app}/load-balancers/default"


# -- retried, then fine --------------------------------------------------------------------


@pytest.mark.parametrize("kind,status", [
    ("status", 503), ("status", 500), ("status", 429), ("status", 408),
    ("reset", None), ("truncate", None), ("malformed", None)])
def test_a_failed_get_is_retried_then_succeeds(sim, mount_fs, kind, status):
    m = mount_fs("clever", expect_warnings=True)
    spec = {"match": ZONES_MATCH, "kind": kind, "times": 1}
    if status:
        spec["status"] = status
    sim.fault(**spec)
    path, zone = zone_file(sim, m)
    assert read_json(path) == zone
    tries = attempts(sim, ZONES)
    assert len(tries) == 2, [t["status"] for t in tries]
    assert tries[-1]["status"] == 200


def test_the_fourth_attempt_is_the_last_and_backoff_doubles(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    sim.fault(match=ZONES_MATCH, kind="status", status=503, times=3)
    path, zone = zone_file(sim, m)
    assert read_json(path) == zone
    tries = attempts(sim, ZONES)
    assert [t["status"] for t in tries] == [503, 503, 503, 200]
    for i, base in enumerate((0.25, 0.5, 1.0)):
        gap = tries[i + 1]["t_start"] - tries[i]["t_end"]
        assert base * 0.75 - 0.02 <= gap <= base * 1.25 + 0.15, \
            f"wait before attempt {i + 2}: {gap:.3f} s, expected {base} s x0.75-1.25"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(sim, mount_fs, status):
    m = mount_fs("clever", expect_warnings=True)
    sim.fault(match=ZONES_MATCH, kind="status", status=status, retry_after=1, times=2)
    path, zone = zone_file(sim, m)
    assert read_json(path) == zone
    tries = attempts(sim, ZONES)
    assert [t["status"] for t in tries] == [status, status, 200]
    for first, second in zip(tries, tries[1:]):
        gap = second["t_start"] - first["t_start"]
        assert 1.0 <= gap <= 1.7, f"{gap:.3f} s between attempts, Retry-After: 1"


def test_a_slow_answer_times_out_and_is_retried_within_the_timeout(sim, mount_fs):
    """An attempt may take half the timeout, so a retry still fits in it."""
    m = mount_fs("clever", "timeout=2", expect_warnings=True)
    sim.fault(match=ZONES_MATCH, kind="slow", delay_ms=3000, times=1)
    path, zone = zone_file(sim, m)
    start = time.monotonic()
    assert read_json(path) == zone
    took = time.monotonic() - start
    tries = attempts(sim, ZONES)
    assert len(tries) == 2
    assert 0.9 <= tries[1]["t_start"] - tries[0]["t_start"] <= 1.9
    assert took < 2.5, f"the read waited {took:.2f} s for an answer past timeout=2"


# -- the budget spent --------------------------------------------------------------------


@pytest.mark.parametrize("kind,status", [("status", 503), ("status", 429), ("reset", None)])
def test_eio_never_enoent_once_the_four_attempts_fail(sim, mount_fs, kind, status):
    m = mount_fs("clever", expect_warnings=True)
    spec = {"match": ZONES_MATCH, "kind": kind, "times": -1}
    if status:
        spec["status"] = status
    sim.fault(**spec)
    assert errno_of(os.listdir, m.p("zones")) == errno.EIO
    assert len(attempts(sim, ZONES)) == 4


@pytest.mark.parametrize("kind", ["malformed", "truncate"])
def test_a_bad_body_is_never_cached_or_shown(sim, mount_fs, kind):
    m = mount_fs("clever", expect_warnings=True)
    sim.fault(match=ZONES_MATCH, kind=kind, times=-1)
    path, zone = zone_file(sim, m)
    assert errno_of(read_json, path) == errno.EIO
    assert len(attempts(sim, ZONES)) == 4
    fault_free(sim)
    deadline = time.monotonic() + 5
    while errno_of(read_json, path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_json(path) == zone


@pytest.mark.parametrize("kind", ["status", "malformed"])
def test_the_last_good_copy_is_served_after_the_ttl(sim, mount_fs, kind):
    m = mount_fs("clever", "ttl=1", expect_warnings=True)
    path, zone = zone_file(sim, m)
    good = open(path, "rb").read()
    sim.fault(match=ZONES_MATCH, kind=kind, status=503, times=-1)
    time.sleep(1.2)   # past ttl=1
    sim.clear_requests()
    assert open(path, "rb").read() == good
    assert os.stat(path).st_size == len(good)
    assert len(attempts(sim, ZONES)) == 4
    served = [line for line in m.output().splitlines() if "serving the copy" in line]
    assert served and all(": warning: " in line for line in served), m.output()


# -- errors that are not retried -------------------------------------------------------------


@pytest.mark.parametrize("status,code", [(404, errno.ENOENT), (401, errno.EACCES), (403, errno.EACCES)])
def test_http_errors_map_to_errno_without_retry(sim, mount_fs, status, code):
    m = mount_fs("clever", expect_warnings=True)
    owner, app = an_app(sim)
    # before the listing: its read-ahead meets the error too, and does
    # not retry it either
    sim.fault(match="^" + lb_path(owner, app) + "$", kind="status", status=status, times=-1)
    os.listdir(m.p("orgs", owner, "apps", app))
    path = m.p("orgs", owner, "apps", app, "load-balancer.json")
    assert errno_of(read_json, path) == code
    assert len(attempts(sim, lb_path(owner, app))) == 1


# -- what the log says -------------------------------------------------------------------------


def test_a_failed_call_is_logged_with_status_message_and_request_id(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    sim.fault(match=ZONES_MATCH, kind="status", status=503, times=1)
    os.listdir(m.p("zones"))
    failed = attempts(sim, ZONES)[0]
    assert failed["status"] == 503
    lines = [line for line in m.output().splitlines() if "id=" + failed["request_id"] in line]
    assert len(lines) == 1, m.output()
    line = lines[0]
    for part in ("GET", ZONES, "503", HTTPStatus(503).phrase):
        assert part in line, f"{part!r} missing from {line!r}"


def test_a_404_from_the_api_is_logged_with_its_message(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    owner, app = an_app(sim)
    # the apps, not the app: its listing's read-ahead would fetch the file
    # before the deletion
    os.listdir(m.p("orgs", owner, "apps"))
    sim.mutate(op="delete_app", owner=owner, app=app)
    path = m.p("orgs", owner, "apps", app, "load-balancer.json")
    assert errno_of(read_json, path) == errno.ENOENT
    failed = attempts(sim, lb_path(owner, app))
    assert [r["status"] for r in failed] == [404]
    with pytest.raises(urllib.error.HTTPError) as err:   # the API's own answer, for its message
        sim.api(lb_path(owner, app))
    message = json.loads(err.value.read())["error"]
    assert message
    lines = [line for line in m.output().splitlines() if "id=" + failed[0]["request_id"] in line]
    assert len(lines) == 1, m.output()
    for part in ("GET", lb_path(owner, app), "404", message):
        assert part in lines[0], f"{part!r} missing from {lines[0]!r}"
