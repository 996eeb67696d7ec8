"""The daemon's life: where it mounts, how it ends, and what it refuses.

- The mountpoint is made absolute before mounting, so a relative one unmounts
  cleanly on SIGINT or SIGTERM and the daemon exits 0.
- SIGTERM ends the daemon cleanly (unmounted, exit 0, no sanitizer report),
  even while `tail -f` holds a log open with a live follower running.
- Refusals end the command with one line on stderr and a non-zero exit,
  before any API request: a mountpoint that is already a mount, a regular
  file, a non-empty directory (unless `-o nonempty`), a bad libfuse option,
  a bad cloudfs option value, a credentials file writable by its group.

Every daemon here is started by the test (subprocess.Popen, in the
foreground) and stopped by its PID; a mount left behind is cleared with
`fusermount3 -u -z`.
"""

import os
import signal
import subprocess
import time

import pytest

from conftest import CLOUDFS, Mount, clever_env, stop_process, upcloud_env, wait_for

EXIT_WAIT = 20          # seconds a signalled daemon gets to unmount and exit
MOUNT_WAIT = 20         # seconds a command gets to mount or to fail


def mount_count(path):
    with open("/proc/mounts") as f:
        return sum(1 for line in f if line.split()[1] == path)


def clear_mounts(path, keep=0):
    """Lazily unmounts path until `keep` mounts remain on it (the topmost go first)."""
    for _ in range(8):
        if mount_count(path) <= keep:
            return
        subprocess.run(["fusermount3", "-u", "-z", path], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert mount_count(path) <= keep, "cannot clear the mounts on " + path


class Daemon(Mount):
    """`cloudfs SOURCE MOUNTPOINT -f -o api_url=...` on a mountpoint the test chose.

    `mountpoint` is passed as given (it may be relative to `cwd`); `path` is
    where it lands in /proc/mounts.  The output is one log file, as in Mount,
    whose unexpected_log_lines() applies.
    """

    def __init__(self, workdir, source, mountpoint, options, env, cwd=None):
        self.workdir = workdir
        self.path = os.path.realpath(os.path.join(cwd or os.getcwd(), mountpoint))
        self.expect_warnings = False
        self.logfile = os.path.join(workdir, "daemon-%d.log" % time.monotonic_ns())
        self.log = open(self.logfile, "w+")
        cmd = [CLOUDFS, source, mountpoint, "-f"]
        for opt in options:
            cmd += ["-o", opt]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd)
        if not wait_for(lambda: mount_count(self.path) or self.proc.poll() is not None,
                        MOUNT_WAIT):
            out = self.output()
            self.cleanup()
            raise RuntimeError("cloudfs neither mounted nor exited: " + out)
        if self.proc.poll() is not None:
            out = self.output()
            self.cleanup()
            raise RuntimeError("cloudfs exited %d: %s" % (self.proc.returncode, out))

    def end(self, sig):
        """Sends sig and waits: the exit status, or None if the daemon did not exit."""
        os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=EXIT_WAIT)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self):
        stop_process(self.proc)
        clear_mounts(self.path)
        self.log.close()


@pytest.fixture
def daemons(sim, workdir):
    """daemons(mountpoint, *options, source="clever", cwd=None) -> Daemon (api_url set)."""
    sim.reset()
    started = []

    def start(mountpoint, *options, source="clever", cwd=None):
        env = clever_env(sim, workdir) if source == "clever" else upcloud_env(sim, workdir)
        d = Daemon(workdir, source, mountpoint, ("api_url=" + sim.url,) + options, env, cwd)
        started.append(d)
        return d

    yield start
    for d in started:
        d.cleanup()


def assert_ended_cleanly(d, rc):
    out = d.output()
    assert rc is not None, "the daemon did not exit within %d s:\n%s" % (EXIT_WAIT, out)
    assert not mount_count(d.path), "still in /proc/mounts after the daemon exited:\n" + out
    assert d.unexpected_log_lines() == [], out
    assert rc == 0, "exit status %d:\n%s" % (rc, out)


# -- ending on a signal --------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_relative_mountpoint_unmounts_on_a_signal(sim, daemons, workdir, sig):
    os.makedirs(os.path.join(workdir, "mnt", "k9"))
    d = daemons(os.path.join("mnt", "k9"), cwd=workdir)
    assert d.path == os.path.join(os.path.realpath(workdir), "mnt", "k9")
    # stat, not listdir: libfuse frees a directory handle only when the
    # kernel's asynchronous RELEASEDIR arrives, which a signal may beat
    assert os.path.isdir(d.p("orgs")) and os.path.isfile(d.p("self.json"))
    assert_ended_cleanly(d, d.end(sig))


@pytest.mark.parametrize("source", ["clever", "upcloud"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_absolute_mountpoint_unmounts_on_a_signal(sim, daemons, workdir, source, sig):
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    d = daemons(mnt, source=source)
    assert os.path.isfile(d.p("self.json" if source == "clever" else "account.json"))
    assert_ended_cleanly(d, d.end(sig))


def blocked_signals(pid, tid):
    """The SigBlk mask of one thread, or None once it has ended."""
    try:
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return int(line.split()[1], 16)
    except FileNotFoundError:
        return None
    raise AssertionError("no SigBlk for thread %d" % tid)


def test_only_the_loop_thread_takes_the_stop_signals(sim, daemons, workdir):
    # a stop signal taken by any other thread would end the loop only at
    # the next FUSE request: every thread of ours blocks them
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    d = daemons(mnt)
    subprocess.run(["grep", "-r", "no-such-text", d.path], stdout=subprocess.DEVNULL,
                   timeout=60)
    pid = d.proc.pid
    stop = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    masks = {int(t): blocked_signals(pid, int(t)) for t in os.listdir("/proc/%d/task" % pid)}
    taking = [t for t, mask in masks.items() if mask is not None and mask & stop != stop]
    assert len(masks) > 3, masks
    assert taking == [pid], masks
    assert_ended_cleanly(d, d.end(signal.SIGTERM))


def test_sigterm_while_tail_f_follows_a_log(sim, daemons, workdir):
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    stream = "/v4/logs/organisations/%s/applications/%s/logs" % (owner, app)
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    d = daemons(mnt)
    out = open(os.path.join(workdir, "tail.out"), "wb")
    tail = subprocess.Popen(["tail", "-f", d.p("orgs", owner, "apps", app, "logs")],
                            stdout=out, stderr=subprocess.STDOUT)
    try:
        def live_stream_open():
            return any(r["path"] == stream and "until=" not in r["query"] and
                       r["status"] == 200 and r["t_end"] is None for r in sim.requests())

        assert wait_for(live_stream_open, 15), "no live stream was opened for tail -f"
        time.sleep(2.5)  # the follower has been running a while (past the 2 s heartbeat)
        assert tail.poll() is None
        rc = d.end(signal.SIGTERM)
    finally:
        stop_process(tail)
        out.close()
    assert_ended_cleanly(d, rc)


# -- refusals ------------------------------------------------------------------------------


def attempt(sim, workdir, mountpoint, *options, env=None):
    """Runs `cloudfs clever MOUNTPOINT -f -o api_url=... OPTIONS`, expected to fail.

    Returns (exit status, stderr, requests the simulator saw).  A command that
    mounts instead fails the test; its daemon is stopped by PID and its
    mount cleared (leaving the mounts that were there before).
    """
    sim.clear_requests()
    before = mount_count(mountpoint)
    cmd = [CLOUDFS, "clever", mountpoint, "-f", "-o", "api_url=" + sim.url]
    for opt in options:
        cmd += ["-o", opt]
    errfile = os.path.join(workdir, "attempt.err")
    with open(errfile, "wb") as err:
        proc = subprocess.Popen(cmd, env=env or clever_env(sim, workdir),
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: proc.poll() is not None or mount_count(mountpoint) > before,
                 MOUNT_WAIT)
        mounted = mount_count(mountpoint) > before
        running = proc.poll() is None
    finally:
        stop_process(proc)
        clear_mounts(mountpoint, keep=before)
    with open(errfile) as f:
        stderr = f.read()
    assert not mounted, "it mounted on %s (stderr: %r)" % (mountpoint, stderr)
    assert not running, "it neither mounted nor ended within %d s" % MOUNT_WAIT
    return proc.returncode, stderr, sim.requests()


def assert_refused(result):
    rc, stderr, requests = result
    lines = stderr.splitlines()
    assert rc != 0, "exit status 0 (stderr: %r)" % stderr
    assert len(lines) == 1 and lines[0].strip(), "stderr is not one line: %r" % stderr
    assert requests == [], "the API was called: %s" % [(r["method"], r["path"]) for r in requests]
    return lines[0]


def test_a_mountpoint_that_is_already_a_mount_is_refused(sim, clever, workdir):
    line = assert_refused(attempt(sim, workdir, clever.path))
    assert mount_count(clever.path) == 1
    assert os.path.exists(clever.p("self.json")), "the first mount no longer serves: " + line


def test_a_regular_file_as_mountpoint_is_refused(sim, workdir):
    sim.reset()
    path = os.path.join(workdir, "plain")
    with open(path, "w") as f:
        f.write("not a directory\n")
    assert_refused(attempt(sim, workdir, path))
    with open(path) as f:
        assert f.read() == "not a directory\n"


def non_empty_dir(workdir):
    path = os.path.join(workdir, "full")
    os.mkdir(path)
    with open(os.path.join(path, "keep.txt"), "w") as f:
        f.write("mine\n")
    return path


def test_a_non_empty_mountpoint_is_refused(sim, workdir):
    sim.reset()
    path = non_empty_dir(workdir)
    assert_refused(attempt(sim, workdir, path))
    assert os.listdir(path) == ["keep.txt"]


def test_nonempty_allows_a_non_empty_mountpoint(sim, daemons, workdir):
    path = non_empty_dir(workdir)
    d = daemons(path, "nonempty")
    # stats, not listdir, before a signal (see above)
    assert os.path.isfile(os.path.join(path, "self.json"))
    assert not os.path.exists(os.path.join(path, "keep.txt"))
    assert_ended_cleanly(d, d.end(signal.SIGTERM))
    assert os.listdir(path) == ["keep.txt"]


@pytest.mark.parametrize("option", ["nosuchoption", "max_conns=0"])
def test_a_bad_option_is_refused_before_any_request(sim, workdir, option):
    sim.reset()
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    assert_refused(attempt(sim, workdir, mnt, option))


# -- the credentials file ---------------------------------------------------------------------


def credentials_file(sim, workdir, mode):
    path = os.path.join(workdir, "clever.env")
    with open(path, "w") as f:
        f.write("CLEVER_API_TOKEN=%s\n" % sim.credentials()["clever"]["api_token"])
    os.chmod(path, mode)
    return path


def no_credentials_env(workdir):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir,
            "XDG_CACHE_HOME": os.path.join(workdir, "cache"),
            "XDG_CONFIG_HOME": os.path.join(workdir, "config")}


def test_a_group_writable_credentials_file_is_refused(sim, workdir):
    sim.reset()
    path = credentials_file(sim, workdir, 0o620)
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    line = assert_refused(attempt(sim, workdir, mnt, "credentials=" + path,
                                  env=no_credentials_env(workdir)))
    assert "group" in line, line


def test_a_0600_credentials_file_is_accepted(sim, mount_fs, workdir):
    path = credentials_file(sim, workdir, 0o600)
    m = mount_fs("clever", "credentials=" + path, env=no_credentials_env(workdir))
    assert os.path.getsize(m.p("self.json")) > 0
