"""Can a backup job, a script and a careless user trust the mount?

Each test reproduces one failure met by using cloudfs the way they do: reads
beside listings and beside a writer, concurrent appends, oversized writes,
writes that must go out once, a write whose answer never came, a slow or dead
API, and a few small ones (CRLF labels, xattrs of temporary files, modes of
a read-only mount).  The contract is the README; expectations come from the
simulator's state and request log while the test runs.

Errnos of close() are checked with os.open()/os.write()/os.close(): a shell
redirection hides them.  Every program run here has a timeout, so a hang
fails the test instead of hanging the suite.
"""

import errno
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from conftest import settled_writes, stop_process, wait_for

DETAILS = "/1.3/account/details/%s"
NEW_SUB = {"password": "Sup3r-secret-42", "email": "kerran@acme.example", "phone": "+358.401112223",
           "currency": "EUR", "language": "en", "timezone": "Europe/Helsinki",
           "first_name": "Kerran", "last_name": "Vain"}
MB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------

def accounts(sim):
    return {name: d["account"] for name, d in sim.state()["upcloud"]["details"].items()}


def account(sim, username):
    return accounts(sim)[username]


def a_sub(sim):
    """A subaccount with at least two labels."""
    return next(name for name, a in sorted(accounts(sim).items())
                if a["type"] == "sub" and len(a["labels"]) >= 2)


def labels_text(labels):
    return "".join("%s=%s\n" % (label["key"], label["value"]) for label in labels)


def parse_labels(text):
    return [dict(zip(("key", "value"), line.split("=", 1))) for line in text.splitlines() if line]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_all(fd, data):
    """Writes all of data as a program does (again after a short write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_bytes(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    """open/write/close; the errno close() raised, or 0 (write errors raise)."""
    fd = os.open(path, flags, 0o644)
    try:
        write_all(fd, data)
    except BaseException:
        os.close(fd)
        raise
    try:
        os.close(fd)
    except OSError as err:
        return err.errno
    return 0


def write_file(path, text, flags=os.O_WRONLY | os.O_TRUNC):
    return write_bytes(path, text.encode("utf-8"), flags)


def oserror(fn, *args):
    """The errno fn(*args) raised, or 0."""
    try:
        fn(*args)
    except OSError as err:
        return err.errno
    return 0


def errname(code):
    return errno.errorcode.get(code, str(code)) if code else "0"


STUCK = []   # programs killed after their timeout that have not gone yet


@pytest.fixture(scope="module", autouse=True)
def reap_stuck():
    """A program killed while the kernel waits on the daemon for its close
    (FUSE flush cannot be interrupted) goes only once the mount fixture has
    stopped the daemon; reap it then."""
    yield
    while STUCK:
        stop_process(STUCK.pop())


def run(cmd, cwd=None, timeout=30, shell=False):
    """Runs a program (never interactive); (CompletedProcess, seconds).  A
    program still running after `timeout` is killed and fails the test."""
    start = time.monotonic()
    proc = subprocess.Popen(["sh", "-c", cmd] if shell else cmd, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            STUCK.append(proc)
        pytest.fail("%s: still running after %d s" % (cmd, timeout))
    took = time.monotonic() - start
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took


def run_threads(targets, timeout=90):
    """Runs each callable in a thread of its own; re-raises the first exception."""
    errors = []

    def wrap(fn):
        def body():
            try:
                fn()
            except BaseException as err:   # reported below, in the test's thread
                errors.append(err)
        return body

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads still running after %d s" % timeout
    if errors:
        raise errors[0]


def status_kb(pid, key):
    """A "kB" line of /proc/PID/status (VmRSS, VmHWM), in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def pulsar(sim):
    """(ownerId, addonId, realId) of the first Pulsar add-on."""
    for owner, addons in sim.state()["clever"]["addons"].items():
        for addon in addons:
            if addon["realId"].startswith("pulsar_"):
                return owner, addon["id"], addon["realId"]
    raise AssertionError("no Pulsar add-on in the simulator")


def policies_path(real_id):
    return "/v4/addon-providers/addon-pulsar/addons/%s/storage-policies" % real_id


def tar_contents(archive):
    """{member name: (type, bytes of a file or target of a link)} of a tar file."""
    out = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile():
                out[member.name] = ("file", tar.extractfile(member).read())
            else:
                out[member.name] = (member.type, member.linkname)
    return out


# -- 1. reads beside listings -------------------------------------------------------------

@pytest.mark.concurrency
@pytest.mark.parametrize("readers,reads", [(4, 2000)])
def test_reads_beside_listings_return_the_whole_file(sim, clever, readers, reads):
    zone = next(z for z in sim.state()["clever"]["zones"] if z["name"] == "par")
    zones = clever.p("zones")
    path = os.path.join(zones, "par.json")
    first = read_bytes(path)
    assert json.loads(first) == zone
    stop = threading.Event()
    listings = []
    bad = []

    def lister():
        while not stop.is_set():
            listings.append(len(os.listdir(zones)))

    def reader(n):
        for _ in range(n):
            data = read_bytes(path)
            if data != first:
                bad.append(len(data))

    def readers_then_stop():
        try:
            run_threads([lambda: reader(reads // readers)] * readers)
        finally:
            stop.set()

    run_threads([lister, readers_then_stop])
    assert listings and set(listings) == {len(sim.state()["clever"]["zones"])}
    assert not bad, "%d of %d reads were not the file's %d bytes (got lengths %s)" % (
        len(bad), reads, len(first), sorted(set(bad)))


# -- 2. readers beside an alternating writer -------------------------------------------------

@pytest.mark.concurrency
@pytest.mark.parametrize("reads,cats", [(3000, 200)])
def test_readers_beside_an_alternating_writer_see_whole_versions(sim, upcloud, reads, cats):
    user = a_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    initial = labels_text(account(sim, user)["labels"]).encode()
    assert read_bytes(path) == initial
    versions = (b"a=1\n", b"b=" + b"0" * 200 + b"\n")
    stop = threading.Event()
    written = []            # the errno of each close, in order
    seen = {}               # what the readers got -> how many times

    def writer():
        while not stop.is_set():
            written.append(write_bytes(path, versions[len(written) % 2]))

    def reader(n):
        for _ in range(n):
            data = read_bytes(path)
            seen[data] = seen.get(data, 0) + 1

    def cat(n):
        for _ in range(n):
            proc = subprocess.run(["cat", path], capture_output=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
            seen[proc.stdout] = seen.get(proc.stdout, 0) + 1

    def readers_then_stop():
        try:
            half = (reads - cats) // 2
            run_threads([lambda: reader(half), lambda: reader(half), lambda: cat(cats)])
        finally:
            stop.set()

    run_threads([writer, readers_then_stop])
    assert sum(seen.values()) == reads
    failed = [(i, errname(e)) for i, e in enumerate(written) if e]
    others = {(len(data), data[:6]): count for data, count in seen.items()
              if data not in versions + (initial,)}
    assert not failed and not others, (
        "%d of %d closes failed %s; %d of %d reads were no whole version "
        "((length, first bytes): count): %s" % (
            len(failed), len(written), failed[:5], sum(others.values()), reads, others))
    puts = [r for r in settled_writes(sim, len(written)) if r["path"] == DETAILS % user]
    assert len(puts) == len(written) and all(r["status"] == 200 for r in puts)
    last = versions[(len(written) - 1) % 2].decode()
    assert account(sim, user)["labels"] == parse_labels(last)
    assert read(path) == last


# -- 3. concurrent appends ---------------------------------------------------------------------

APPENDER = r"""
import os, sys
path, line = sys.argv[1], sys.argv[2].encode()
sys.stdin.readline()                      # all start together
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, line)
try:
    os.close(fd)
    print(0, flush=True)
except OSError as err:
    print(err.errno, flush=True)
"""


@pytest.mark.concurrency
@pytest.mark.parametrize("how", ["python", "sh"])
@pytest.mark.parametrize("count", [8])
def test_concurrent_appends_all_land(sim, upcloud, how, count):
    user = a_sub(sim)
    d = upcloud.p("accounts", user)
    path = os.path.join(d, "labels")
    assert write_file(path, "base=1\n") == 0
    lines = ["k%d=v\n" % i for i in range(count)]
    if how == "python":
        cmds = [[sys.executable, "-c", APPENDER, path, line] for line in lines]
    else:
        cmds = [["sh", "-c", "read go; printf 'k%d=v\\n' >> labels" % i] for i in range(count)]
    children = [subprocess.Popen(cmd, cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for cmd in cmds]
    try:
        time.sleep(0.3)                    # every child is up and waiting
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outcomes = [child.communicate(timeout=30) for child in children]
    finally:
        for child in children:
            stop_process(child)
    assert [c.returncode for c in children] == [0] * count, outcomes
    if how == "python":
        closes = [errname(int(out.strip())) for out, _ in outcomes]
        assert closes == ["0"] * count, "close() of each appender: %s" % closes
    puts = [r for r in settled_writes(sim, 1 + count) if r["method"] == "PUT"]
    assert len(puts) == 1 + count and all(r["path"] == DETAILS % user for r in puts), \
        [(r["method"], r["path"], r["status"]) for r in puts]
    labels = account(sim, user)["labels"]
    assert labels[:1] == [{"key": "base", "value": "1"}], labels
    assert sorted(labels_text(labels[1:]).splitlines(keepends=True)) == sorted(lines), \
        "the server holds %s" % labels_text(labels)
    assert read(path) == labels_text(labels)


# -- 4. the write buffer's cap ----------------------------------------------------------------

def labels_file(workdir, lines):
    """A labels-like file of `lines` lines (k0000001=v ...), made by seq (%.0f:
    %g would turn 1000000 into 1e+06)."""
    path = os.path.join(workdir, "labels-%d" % lines)
    proc, _ = run("seq -f 'k%%07.0f=v' %d > %s" % (lines, path), shell=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return path


def unmounts_cleanly(m):
    """fusermount3 -u succeeds and the daemon exits."""
    proc, _ = run(["fusermount3", "-u", m.path], timeout=20)
    assert proc.returncode == 0, proc.stderr
    try:
        m.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon was still running 10 s after the unmount")


def test_cp_of_a_huge_file_onto_labels_is_efbig(sim, mount_fs, workdir):
    m = mount_fs("upcloud", expect_warnings=True)
    user = a_sub(sim)
    d = m.p("accounts", user)
    before = account(sim, user)["labels"]
    big = labels_file(workdir, 50 * MB // len("k0000001=v\n"))
    assert os.path.getsize(big) > 49 * MB
    proc, took = run(["cp", big, os.path.join(d, "labels")], timeout=20)
    assert proc.returncode != 0 and b"File too large" in proc.stderr, (proc.returncode, proc.stderr)
    assert took < 10, "cp took %.1f s to fail" % took
    assert settled_writes(sim, 0) == []
    assert account(sim, user)["labels"] == before
    unmounts_cleanly(m)


def test_a_large_labels_file_under_the_cap_is_one_put(sim, upcloud, workdir):
    user = a_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    content = read(labels_file(workdir, 20000))
    assert 200 * 1024 < len(content) < MB
    start = time.monotonic()
    rc = write_file(path, content)
    took = time.monotonic() - start
    assert rc == 0, errname(rc)
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["status"]) for r in w] == [("PUT", DETAILS % user, 200)]
    assert account(sim, user)["labels"] == parse_labels(content)
    assert len(account(sim, user)["labels"]) == 20000
    assert took < 10, "writing %d labels took %.1f s" % (20000, took)
    assert read(path) == content


@pytest.mark.parametrize("size", ["4K", "4096"])
def test_write_buffer_option_caps_a_write(sim, mount_fs, workdir, size):
    m = mount_fs("upcloud", "write_buffer=" + size, expect_warnings=True)
    user = a_sub(sim)
    path = m.p("accounts", user, "labels")
    before = account(sim, user)["labels"]
    line = b"k0000001=v\n"
    too_big = b"".join(b"k%07d=v\n" % i for i in range(5000 // len(line) + 1))[:5000]
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        write_err = oserror(write_all, fd, too_big)
    finally:
        close_err = oserror(os.close, fd)
    assert errno.EFBIG in (write_err, close_err), \
        "write: %s, close: %s" % (errname(write_err), errname(close_err))
    assert settled_writes(sim, 0) == []
    assert account(sim, user)["labels"] == before
    fits = b"".join(b"k%07d=v\n" % i for i in range(4090 // len(line)))   # 4081 bytes
    assert write_bytes(path, fits) == 0
    assert [r["method"] for r in settled_writes(sim, 1)] == ["PUT"]
    assert account(sim, user)["labels"] == parse_labels(fits.decode())


# -- 5. a write far past the end ----------------------------------------------------------------

def test_dd_seek_one_gigabyte_is_efbig_and_memory_stays_small(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = a_sub(sim)
    d = m.p("accounts", user)
    before = account(sim, user)["labels"]
    proc, took = run(["dd", "if=/dev/zero", "of=labels", "bs=1", "count=1", "seek=1G",
                      "conv=notrunc"], cwd=d, timeout=30)
    peak = status_kb(m.pid, "VmHWM")
    assert (proc.returncode != 0 and b"File too large" in proc.stderr and took < 10
            and peak < 100 * 1024), "dd: exit %d in %.1f s (%s); the daemon's RSS peaked at %d MB" % (
                proc.returncode, took, proc.stderr.decode().strip(), peak // 1024)
    assert status_kb(m.pid, "VmRSS") < 100 * 1024
    assert settled_writes(sim, 0) == []
    assert account(sim, user)["labels"] == before


# -- 6. writes are sent at most once ----------------------------------------------------------

def put_labels(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = a_sub(sim)
    path = m.p("accounts", user, "labels")
    before = account(sim, user)
    read(path)                                     # a GET: a kept-alive connection
    return ("PUT", DETAILS % user, lambda: write_file(path, "once=1\n"),
            lambda: account(sim, user) == before)


def patch_policies(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    owner, addon, real_id = pulsar(sim)
    path = m.p("orgs", owner, "addons", addon, "storage-policies.json")
    before = sim.state()["clever"]["storage_policies"][real_id]
    assert json.loads(read(path)) == before        # a GET: a kept-alive connection
    return ("PATCH", policies_path(real_id),
            lambda: write_file(path, json.dumps({"retentionSizeInMB": 4096})),
            lambda: sim.state()["clever"]["storage_policies"][real_id] == before)


def post_subaccount(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    name = "acme_once"
    assert name not in accounts(sim)
    assert name not in os.listdir(m.p("accounts"))  # a GET: a kept-alive connection
    path = m.p("accounts", name + ".json")
    return ("POST", "/1.3/account/sub",
            lambda: write_file(path, json.dumps({"sub_account": NEW_SUB}),
                               os.O_WRONLY | os.O_CREAT | os.O_EXCL),
            lambda: name not in accounts(sim))


def delete_subaccount(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = a_sub(sim)
    assert user in os.listdir(m.p("accounts"))     # a GET: a kept-alive connection
    return ("DELETE", "/1.3/account/sub/%s" % user,
            lambda: oserror(os.rmdir, m.p("accounts", user)),
            lambda: user in accounts(sim))


@pytest.mark.parametrize("setup", [put_labels, patch_policies, post_subaccount, delete_subaccount],
                         ids=["PUT", "PATCH", "POST", "DELETE"])
def test_a_write_is_sent_at_most_once(sim, mount_fs, setup):
    method, path, write, unchanged = setup(sim, mount_fs)
    sim.fault(match="^%s$" % path, method=method, kind="reset", times=1)
    rc = write()
    sent = [r["status"] for r in settled_writes(sim, 1) if (r["method"], r["path"]) == (method, path)]
    assert (errname(rc), sent) == ("EIO", [0]), \
        "errno and the statuses of every %s %s (0 = reset)" % (method, path)
    assert unchanged()


# -- 7. a write whose answer never came ---------------------------------------------------------

@pytest.mark.parametrize("name,new", [("phone", "+358.409999999\n"), ("labels", "late=1\n")],
                         ids=["phone", "labels"])
def test_a_write_whose_answer_is_late_shows_the_server_state_soon(sim, mount_fs, name, new):
    m = mount_fs("upcloud", "timeout=2", expect_warnings=True)
    user = a_sub(sim)
    path = m.p("accounts", user, name)
    old = read(path)
    assert old != new
    sim.fault(match="^%s$" % (DETAILS % user), method="PUT", kind="late", delay_ms=3000)
    start = time.monotonic()
    rc = write_file(path, new)
    took = time.monotonic() - start
    assert rc == errno.EIO, errname(rc)
    assert took < 8, "close took %.1f s with timeout=2" % took
    if name == "phone":                             # the server did apply it
        assert account(sim, user)["phone"] + "\n" == new
    else:
        assert labels_text(account(sim, user)["labels"]) == new
    assert wait_for(lambda: read(path) == new, timeout=8, interval=0.2), \
        "8 s after the failed close the file still reads %r instead of %r" % (read(path), new)
    puts = [r for r in settled_writes(sim, 1) if r["method"] == "PUT"]
    assert len(puts) == 1


# -- 8. bounded waits and a dead API ------------------------------------------------------------

def test_stat_against_a_hung_api_is_eio_within_the_timeout(sim, mount_fs):
    m = mount_fs("clever", "timeout=3", expect_warnings=True)
    zone = sim.state()["clever"]["zones"][0]["name"]
    assert not [r for r in sim.requests() if r["path"].startswith("/v4/products/zones")]
    sim.fault(match="", kind="slow", delay_ms=300000, times=-1)
    try:
        proc, took = run(["stat", m.p("zones", zone + ".json")], timeout=30)
    finally:
        sim.clear_faults()
    assert proc.returncode != 0 and b"Input/output error" in proc.stderr, (proc.stdout, proc.stderr)
    assert took < 8, "stat took %.1f s to fail with timeout=3" % took


@pytest.mark.parametrize("kind,options", [("reset", ()), ("slow", ("timeout=3",))],
                         ids=["reset", "slow"])
def test_tar_of_a_dead_api_gets_the_last_good_copies(sim, mount_fs, workdir, kind, options):
    m = mount_fs("upcloud", "ttl=1", *options, expect_warnings=True)
    first, second = os.path.join(workdir, "1.tar"), os.path.join(workdir, "2.tar")
    tar = ["tar", "-C", m.path]
    proc, _ = run(tar + ["-cf", first, "."], timeout=60)
    assert proc.returncode == 0, proc.stderr
    good = tar_contents(first)
    assert len(good) > 50
    spec = {"match": "", "kind": kind, "times": -1}
    if kind == "slow":
        spec["delay_ms"] = 300000
    sim.fault(**spec)
    try:
        time.sleep(2)                               # past ttl=1
        proc, took = run(tar + ["-cf", second, "."], timeout=40)
    finally:
        sim.clear_faults()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert took < 30, "tar took %.1f s against a dead API" % took
    again = tar_contents(second)
    assert sorted(again) == sorted(good)
    changed = [name for name in good if again[name] != good[name]]
    assert not changed, "not the last good copy: %s" % changed[:10]


# -- 9. small ones -------------------------------------------------------------------------------

def test_crlf_labels_are_stored_without_cr(sim, upcloud):
    user = a_sub(sim)
    proc, _ = run("printf 'a=1\\r\\nb=2\\r\\n' > labels", cwd=upcloud.p("accounts", user), shell=True)
    assert proc.returncode == 0, proc.stderr
    settled_writes(sim, 1)
    assert account(sim, user)["labels"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert read(upcloud.p("accounts", user, "labels")) == "a=1\nb=2\n"


def test_a_temporary_file_has_no_url_xattr(sim, upcloud):
    user = a_sub(sim)
    path = upcloud.p("accounts", user, "tmpfile")
    assert write_file(path, "draft\n", os.O_WRONLY | os.O_CREAT | os.O_EXCL) == 0
    try:
        assert read(path) == "draft\n"
        assert errname(oserror(os.getxattr, path, "user.cloudfs.url")) == "ENODATA"
        assert os.listxattr(path) == []
        labels = upcloud.p("accounts", user, "labels")  # an API file next to it has one
        assert os.getxattr(labels, "user.cloudfs.url").decode().endswith(DETAILS % user)
    finally:
        os.unlink(path)
    assert settled_writes(sim, 0) == []


@pytest.mark.parametrize("source", ["upcloud", "clever"])
def test_read_only_mount_modes(sim, mount_fs, source):
    m = mount_fs(source, "ro")
    dirs, files = {}, {}
    skip = {"logs", "deployment-logs", "instance-logs"}   # log files: a stream each
    for top, subdirs, names in os.walk(m.path):
        dirs[top] = stat.S_IMODE(os.stat(top).st_mode)
        subdirs[:] = [s for s in subdirs if s not in skip]
        if source == "clever":
            names = [n for n in names if n.endswith(".json")]
        for name in names:
            path = os.path.join(top, name)
            if not os.path.islink(path):
                files[path] = stat.S_IMODE(os.stat(path).st_mode)
    if source == "upcloud":
        user = a_sub(sim)
        writable = [m.p("accounts", user, n) for n in ("labels", "roles", "details.json", "phone")]
    else:
        owner, addon, _ = pulsar(sim)
        writable = [m.p("orgs", owner, "addons", addon, "storage-policies.json")]
    assert set(writable) <= set(files)
    assert len(dirs) > 10
    wrong = {os.path.relpath(p, m.path) + "/": "%o" % mode for p, mode in dirs.items() if mode != 0o555}
    wrong.update({os.path.relpath(p, m.path): "%o" % mode for p, mode in files.items() if mode != 0o444})
    assert not wrong, "modes on a ro mount: %s" % dict(list(wrong.items())[:12])
