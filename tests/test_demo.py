"""The demo is true on any date (README "The two commands").

The simulator's "now" is the real clock at its start unless --now pins it,
and it serves every month that cloudfs lists from the real clock; whole-mount
walks (tar, rsync -a, du) of both providers end with status 0; scripts/demo
stays mounted without a terminal until it is signalled, then leaves nothing
mounted and no process behind.
"""

import calendar
import csv
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import (BUILD, ROOT, Simulator, current_month, is_mounted, month_before, stop_process,
                      wait_for)

TIMEOUT = 120
DEMO = os.path.join(ROOT, "scripts", "demo")
READY = "SIGTERM unmounts"  # the demo's last line before it waits
DEMO_START = 90  # seconds: a simulator, two mounts and a few reads, on a busy machine


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


# -- scripts/demo ----------------------------------------------------------------------------

def processes():
    """{pid: (parent pid, start time)} of every process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue   # it ended meanwhile
        found[int(entry)] = (int(fields[1]), fields[19])
    return found


def descendants(pid):
    """{pid: start time} of the processes pid started, and theirs."""
    table, found, parents = processes(), {}, [pid]
    while parents:
        parent = parents.pop()
        for child, (ppid, start) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                parents.append(child)
    return found


def still_running(started):
    """The processes of {pid: start time} that still exist (a reused pid does not count)."""
    table = processes()
    return [pid for pid, start in started.items() if pid in table and table[pid][1] == start]


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def api_json(url, path, token):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def read_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read())


def check_the_demo_s_mounts(text, top):
    """The URL, credentials and mountpoints the demo printed are the ones it uses."""
    url = re.search(r"^The simulator: (http://127\.0\.0\.1:\d+) ", text, re.M).group(1)
    env = dict(re.findall(r"^    export (\w+)=(\S+)$", text, re.M))
    assert sorted(env) == ["CLEVER_API_TOKEN", "UPCLOUD_TOKEN"], text
    for source in ("clever", "upcloud"):
        assert re.search(r"^(Mounted:| ) +%s$" % re.escape(os.path.join(top, source)), text, re.M), text
    assert read_json(os.path.join(top, "clever", "self.json")) == \
        api_json(url, "/v2/self", env["CLEVER_API_TOKEN"])
    assert read_json(os.path.join(top, "upcloud", "account.json")) == \
        api_json(url, "/1.3/account", env["UPCLOUD_TOKEN"])


def test_the_demo_stays_mounted_without_a_terminal_until_sigterm(workdir):
    top = os.path.join(workdir, "demo")
    mounts = [os.path.join(top, source) for source in ("clever", "upcloud")]
    out_path, err_path = os.path.join(workdir, "demo.out"), os.path.join(workdir, "demo.err")

    def output(path=out_path):
        with open(path) as f:
            return f.read()

    # CLOUDFS_BUILD: the build under test, as it is (the demo builds nothing)
    env = dict(os.environ, CLOUDFS_BUILD=BUILD)
    with open(out_path, "w") as out, open(err_path, "w") as err:
        demo = subprocess.Popen([DEMO, top], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env)
    started = {}
    try:
        assert wait_for(lambda: READY in output() or demo.poll() is not None, DEMO_START), output()
        time.sleep(1)
        assert demo.poll() is None, (output(), output(err_path))
        started = descendants(demo.pid)
        assert sorted(comm(pid) for pid in started) == ["cloudfs", "cloudfs", "python3"], started
        assert all(is_mounted(m) for m in mounts)
        check_the_demo_s_mounts(output(), top)
        demo.send_signal(signal.SIGTERM)
        status = demo.wait(timeout=30)
        left, mounted = still_running(started), [m for m in mounts if is_mounted(m)]
    finally:
        if demo.poll() is None:
            started.update(descendants(demo.pid))
        stop_process(demo)
        for pid in still_running(started):
            os.kill(pid, signal.SIGKILL)
        for m in mounts:
            if is_mounted(m):
                subprocess.run(["fusermount3", "-u", "-z", m], check=False)
    assert status == 0, output(err_path)
    assert mounted == [] and left == []
    assert not os.path.exists(top)
    assert output(err_path) == ""
