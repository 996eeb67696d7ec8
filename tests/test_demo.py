"""The demo is true on any date (README "The two commands").

The simulator's "now" is the real clock at its start unless --now pins it,
and it serves every month that cloudfs lists from the real clock; whole-mount
walks (tar, rsync -a, du) of both providers end with status 0.
"""

import calendar
import csv
import json
import os
import subprocess
import time
import urllib.error
from datetime import datetime, timedelta, timezone

import pytest

from conftest import Simulator, current_month, month_before

TIMEOUT = 120


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sim_now(sim):
    return parse_time(sim.state()["sim"]["now"])


def upcloud_status(sim, path):
    token = sim.credentials()["upcloud"]["token"]
    try:
        sim.api(path, auth="Bearer " + token)
    except urllib.error.HTTPError as err:
        return err.code
    return 200


# -- the simulator's clock -------------------------------------------------------------------

def test_the_simulator_s_now_is_the_real_clock_at_its_start(workdir):
    before = int(time.time())
    sim = Simulator(workdir)
    try:
        after = time.time()
        now = sim_now(sim).timestamp()
    finally:
        sim.stop()
    assert before <= now <= after


def test_a_pinned_now_still_serves_every_month_cloudfs_lists(workdir):
    month = current_month()
    pinned = month_before(month, 14) + "-15T12:00:00Z"
    sim = Simulator(workdir, ("--now", pinned))
    try:
        assert sim_now(sim) == parse_time(pinned)
        for n in range(13):
            summary = "/1.3/account/billing/summary/" + month_before(month, n)
            assert upcloud_status(sim, summary) == 200, summary
        # a month after the pinned one has nothing used yet
        later = json.loads(sim.api("/1.3/account/billing/summary/" + month,
                                   auth="Bearer " + sim.credentials()["upcloud"]["token"]))
        assert later["total_amount"] == 0
        assert upcloud_status(sim, "/1.3/account/billing/summary/" + month_before(month, -1)) == 404
    finally:
        sim.stop()


def test_the_current_month_has_a_day_of_traffic_for_each_day_begun(sim, upcloud):
    """A day's row is there once its first hour has passed the simulator's now."""
    now, month = sim_now(sim), current_month()
    first = datetime.strptime(month, "%Y-%m").replace(tzinfo=timezone.utc)
    days = [first + timedelta(days=n) for n in range(calendar.monthrange(first.year, first.month)[1])]
    want = [day.strftime("%Y-%m-%dT%H:%M:%SZ") for day in days if day + timedelta(hours=1) <= now]
    with open(upcloud.p("network", month, "daily.csv"), newline="") as f:
        assert [row["start time"] for row in csv.DictReader(f)] == want


# -- whole-mount walks -----------------------------------------------------------------------

def relative_tree(top):
    return sorted(os.path.relpath(os.path.join(d, name), top)
                  for d, dirs, files in os.walk(top) for name in dirs + files)


@pytest.mark.parametrize("source", ["clever", "upcloud"])
def test_tar_rsync_and_du_of_the_whole_mount_exit_0(mount_fs, workdir, source):
    m = mount_fs(source)
    copy = os.path.join(workdir, "copy")
    walks = {
        # into a pipe: GNU tar reads no file into an archive that is /dev/null
        "tar": ["tar", "-cf", "-", "."],
        "rsync": ["rsync", "-a", m.path + "/", copy + "/"],
        "du": ["du", "-s", "."],
    }
    for name, cmd in walks.items():
        done = subprocess.run(cmd, cwd=m.path, capture_output=True, timeout=TIMEOUT)
        assert done.returncode == 0 and done.stderr == b"", (name, done.stderr.decode(errors="replace"))
        assert done.stdout or name == "rsync", name
    assert relative_tree(copy) == relative_tree(m.path)
