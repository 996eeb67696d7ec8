"""Stable metadata for backup tools (README "Stable metadata", include/nodes.h).

Unchanged content keeps its inode number, size and mtime across SIGHUP, a
trimmed node cache and a remount; when one resource changes, only its own
files' lines change.  Every check compares `find -printf '%i %T@ %s %P'` over
the whole mount, for both providers.  Before a second walk the tests wait into
a new second of the clock, so that an mtime that moved would show.
"""

import os
import subprocess
import time
from datetime import datetime

import pytest

from conftest import wait_for

TIMEOUT = 120
SOURCES = ["clever", "upcloud"]


def run(*cmd):
    done = subprocess.run(list(cmd), capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{cmd}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def walk(m):
    """{relative path: "inode mtime size"} of every entry, the root included."""
    out = run("find", m.path, "-printf", "%P\t%i %T@ %s\n").decode()
    lines = dict(line.split("\t") for line in out.splitlines())
    assert len(lines) > 20, lines
    return lines


def read_all(m):
    run("find", m.path, "-type", "f", "-exec", "cat", "{}", "+")


def next_second():
    time.sleep(1.05 - time.time() % 1)


def unmount(m):
    """Unmounts and waits for the daemon, which saves its state as it ends."""
    subprocess.run(["fusermount3", "-u", m.path], check=True, timeout=TIMEOUT)
    m.proc.wait(timeout=30)


def gets(sim):
    return [r for r in sim.requests() if r["method"] == "GET"]


def differing(before, after):
    assert before.keys() == after.keys()
    return {p for p in before if before[p] != after[p]}


@pytest.mark.parametrize("source", SOURCES)
def test_sighup_moves_no_inode_size_or_mtime(sim, mount_fs, source):
    m = mount_fs(source)
    before = walk(m)
    next_second()
    sim.clear_requests()
    m.sighup()
    after = walk(m)
    assert gets(sim), "the walk after SIGHUP asked the API nothing"
    assert differing(before, after) == set()


@pytest.mark.parametrize("source", SOURCES)
def test_a_tiny_node_cache_moves_nothing(mount_fs, source):
    m = mount_fs(source, "node_cache=1K")
    before = walk(m)
    read_all(m)
    next_second()
    read_all(m)
    assert differing(before, walk(m)) == set()


@pytest.mark.concurrency
@pytest.mark.parametrize("source", SOURCES)
def test_walks_at_once_with_sighups_and_trims_agree(mount_fs, source):
    m = mount_fs(source, "node_cache=4K")
    before = walk(m)
    cmd = ["find", m.path, "-printf", "%P\t%i %T@ %s\n"]
    walks = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]
    readers = [subprocess.Popen(["find", m.path, "-type", "f", "-exec", "cat", "{}", "+"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for _ in range(2)]
    for _ in range(3):
        time.sleep(0.2)
        m.sighup()
    for proc in readers:
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err.decode(errors="replace")
    for proc in walks:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err.decode(errors="replace")
        got = dict(line.split("\t") for line in out.decode().splitlines())
        assert differing(before, got) == set()


@pytest.mark.parametrize("source", SOURCES)
def test_a_remount_moves_nothing(mount_fs, workdir, source):
    cache = "cache_dir=" + os.path.join(workdir, "state")
    first = mount_fs(source, cache)
    before = walk(first)
    read_all(first)
    unmount(first)
    next_second()
    second = mount_fs(source, cache)
    assert differing(before, walk(second)) == set()


def test_a_remount_without_the_state_file_keeps_inode_numbers(mount_fs, workdir):
    first = mount_fs("upcloud", "cache_dir=" + os.path.join(workdir, "one"))
    before = walk(first)
    unmount(first)
    second = mount_fs("upcloud", "cache_dir=" + os.path.join(workdir, "two"))
    after = walk(second)
    assert {p: v.split()[0] for p, v in before.items()} == \
        {p: v.split()[0] for p, v in after.items()}


def changed_invoice(sim):
    """Changes one Clever Cloud invoice's status: (its paths, how to see it)."""
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    inv = state["invoices"][owner][0]
    number = inv["invoice_number"]
    # of another length: the files' mtimes are the invoice's date, so only
    # their sizes can show the change
    status = "PAID" if len(inv["status"]) != len("PAID") else "REFUNDED"
    sim.mutate(op="invoice_status", owner=owner, number=number, status=status)
    base = f"orgs/{owner}/invoices/{number}"
    # invoices.csv has a status column; costs.svg draws no status
    return {base + ext for ext in (".json", ".html", ".pdf")} | {f"orgs/{owner}/invoices.csv"}, \
        (base + ".json", f'"status": "{status}"')


def changed_account(sim):
    """Changes one UpCloud account's city: (its paths, how to see it)."""
    sim.mutate(op="set_account_field", username="acme_ops", field="city",
               value="Tampere")
    return {"accounts/acme_ops/details.json", "accounts/acme_ops/city"}, \
        ("accounts/acme_ops/city", "Tampere\n")


@pytest.mark.parametrize("source, change", [("clever", changed_invoice),
                                            ("upcloud", changed_account)])
def test_a_change_moves_only_the_changed_files(sim, mount_fs, source, change):
    m = mount_fs(source, "ttl=1")
    before = walk(m)
    next_second()
    paths, (probe, text) = change(sim)

    def shows():
        with open(m.p(probe)) as f:
            return text in f.read()
    assert wait_for(shows, 10, 0.2), f"{probe} never showed {text!r}"
    after = walk(m)
    moved = differing(before, after)
    assert moved and moved <= paths, moved
    for p in moved:   # the same inode; what moved is the content's
        assert before[p].split()[0] == after[p].split()[0], p


def last_line_date(data):
    stamp = data.decode().splitlines()[-1].split(" ")[0]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_log_s_mtime_is_its_newest_event_s_open_or_not(sim, clever):
    state = sim.state()["clever"]
    owner, apps = next((o, a) for o, a in sorted(state["applications"].items()) if a)
    app = apps[0]["id"]
    path = clever.p("orgs", owner, "apps", app, "logs")
    with open(path, "rb") as f:
        snapshot = f.read()
    closed = os.stat(path).st_mtime
    assert closed == int(last_line_date(snapshot))
    with open(path, "rb") as f:
        assert os.stat(path).st_mtime == closed
        event = sim.mutate(op="add_log", owner=owner, app=app,
                           event={"message": "metadata test"})
        newest = int(last_line_date(event["date"].encode() + b" -"))
        assert wait_for(lambda: os.stat(path).st_mtime == newest, 15, 0.05), \
            (os.stat(path).st_mtime, newest)
        assert os.fstat(f.fileno()).st_mtime == newest


@pytest.mark.parametrize("source", SOURCES)
def test_readdir_and_stat_give_the_same_inode_numbers(mount_fs, source):
    m = mount_fs(source)
    seen = 0
    for top, _, _ in os.walk(m.path):
        with os.scandir(top) as it:
            for entry in it:
                assert entry.inode() == os.lstat(entry.path).st_ino, entry.path
                seen += 1
    assert os.stat(m.path).st_ino == 1
    assert seen > 20
