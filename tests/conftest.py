"""Fixtures shared by the mount tests.

`sim` runs the simulator (tests/sim) for the whole session; every test starts
from its seed data with no faults and no latency.  `mount_fs` mounts the real
cloudfs binary in the foreground (so the test knows its PID and reads its log)
and unmounts it afterwards.  Like libfuse's own tests, a mount whose daemon
logged a warning or an error the test did not expect fails the test.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("CLOUDFS_BUILD", os.path.join(ROOT, "build"))
CLOUDFS = os.path.join(BUILD, "cloudfs")
SIM = os.path.join(ROOT, "tests", "sim", "cloudsim.py")
PYTHON = "/usr/bin/python3"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "concurrency: drives the daemon from many threads at once "
        "(also run on the ThreadSanitizer build)")


def wait_for(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")


def write_requests(sim):
    return [r for r in sim.requests() if r["method"] in WRITE_METHODS]


def settled_writes(sim, count, timeout=10.0):
    """The write requests once `count` of them are answered and nothing more
    arrived for a moment (a commit at release comes after close returns)."""
    def arrived():
        w = write_requests(sim)
        return len(w) >= count and all(r["status"] is not None for r in w)
    wait_for(arrived, timeout)
    time.sleep(0.3)
    return write_requests(sim)


def quiet(sim, timeout=10.0, still=0.3):
    """Returns once no API request is in flight and none arrived for `still`
    seconds: the read-ahead that earlier listings started is over."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        reqs = sim.requests()
        now = (len(reqs), all(r["t_end"] is not None for r in reqs))
        if now[1] and now == last:
            return
        last = now
        time.sleep(still)
    raise AssertionError("API requests kept coming for %.0f s" % timeout)


def stop_process(proc, timeout=10):
    """Terminates proc (started by a test) and reaps it; kills it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def current_month():
    """The real clock's UTC month, as `date -u +%Y-%m` says (cloudfs lists
    billing/ and network/ from it)."""
    return subprocess.run(["date", "-u", "+%Y-%m"], check=True, capture_output=True,
                          text=True).stdout.strip()


def month_before(month, n=1):
    year, mon = map(int, month.split("-"))
    index = year * 12 + (mon - 1) - n
    return "%04d-%02d" % (index // 12, index % 12 + 1)


def is_mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Simulator:
    """The running simulator and its /_sim/ control API."""

    def __init__(self, workdir, extra_args=(), start_timeout=10.0):
        """start_timeout: how long the simulator may take to build its data
        (seconds for thousands of generated applications) and listen."""
        port_file = os.path.join(workdir, "port")
        self.log = open(os.path.join(workdir, "sim.log"), "w+")
        self.proc = subprocess.Popen(
            [PYTHON, SIM, "--port", "0", "--port-file", port_file, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(),
                        start_timeout):
            self.stop()
            raise RuntimeError("the simulator did not start")
        self.port = int(open(port_file).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def api(self, path, accept="application/json", auth=None):
        """Raw bytes of an API path, fetched directly (for byte comparisons)."""
        creds = self.credentials()["clever"]
        headers = {"Accept": accept,
                   "Authorization": auth or "Bearer " + creds["api_token"]}
        req = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def reset(self, **fleet):
        """The seed data again; apps=N, subaccounts=N add generated ones,
        scale=K makes it about K times as much."""
        self.call("POST", "/_sim/reset", fleet or None)

    def state(self):
        return self.call("GET", "/_sim/state")

    def credentials(self):
        return self.call("GET", "/_sim/credentials")

    def requests(self):
        return self.call("GET", "/_sim/requests")

    def clear_requests(self):
        self.call("DELETE", "/_sim/requests")

    def latency(self, ms):
        self.call("POST", "/_sim/latency", {"ms": ms})

    def fault(self, **spec):
        self.call("POST", "/_sim/faults", spec)

    def clear_faults(self):
        self.call("DELETE", "/_sim/faults")

    def mutate(self, **op):
        return self.call("POST", "/_sim/mutate", op)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class Mount:
    """One cloudfs daemon, in the foreground, and its mountpoint."""

    def __init__(self, workdir, source, options=(), env=None, expect_warnings=False):
        self.workdir = workdir
        self.path = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        self.expect_warnings = expect_warnings
        self.logfile = os.path.join(workdir, "cloudfs-%s.log" % os.path.basename(self.path))
        self.log = open(self.logfile, "w+")
        cmd = [CLOUDFS, source, self.path, "-f"]
        for opt in options:
            cmd += ["-o", opt]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        if not wait_for(lambda: is_mounted(self.path) or self.proc.poll() is not None):
            self.stop()
            raise RuntimeError("cloudfs did not mount: " + self.output())
        if self.proc.poll() is not None:
            raise RuntimeError("cloudfs exited: " + self.output())

    @property
    def pid(self):
        return self.proc.pid

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def output(self):
        with open(self.logfile) as f:
            return f.read()

    def sighup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        """Unmounts and waits for the daemon; safe to call more than once."""
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-u", self.path], check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", self.path], check=False)
        self.log.close()
        if os.path.isdir(self.path):
            os.rmdir(self.path)

    def unexpected_log_lines(self):
        """Warnings and errors (unless expected) and every sanitizer report."""
        markers = ["Sanitizer", "runtime error:"]
        if not self.expect_warnings:
            markers += [": warning: ", ": error: "]
        return [line for line in self.output().splitlines()
                if any(m in line for m in markers)]


@pytest.fixture(scope="session")
def sim():
    workdir = tempfile.mkdtemp(prefix="cloudfs-sim-")
    s = Simulator(workdir)
    yield s
    s.stop()
    shutil.rmtree(workdir)


@pytest.fixture
def fleet(sim):
    """fleet(apps=N, subaccounts=N, scale=K): the seed data (K times over)
    plus that many generated applications (in an organisation of their own)
    and UpCloud subaccounts, until the test ends.  Call it before mounting."""
    yield sim.reset
    sim.reset()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="cloudfs-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def base_env(workdir):
    """PATH, a home of the test's own, and the sanitizers' settings."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": workdir, "XDG_CACHE_HOME": os.path.join(workdir, "cache")}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def clever_env(sim, workdir, kind="token"):
    """A minimal environment holding one kind of Clever Cloud credentials."""
    creds = sim.credentials()["clever"]
    env = base_env(workdir)
    env["XDG_CONFIG_HOME"] = os.path.join(workdir, "config")
    if kind == "token":
        env["CLEVER_API_TOKEN"] = creds["api_token"]
    elif kind == "oauth":
        env.update(CLEVER_CONSUMER_KEY=creds["consumer_key"],
                   CLEVER_CONSUMER_SECRET=creds["consumer_secret"],
                   CLEVER_TOKEN=creds["token"], CLEVER_SECRET=creds["secret"])
    return env


def upcloud_env(sim, workdir, kind="token"):
    creds = sim.credentials()["upcloud"]
    env = base_env(workdir)
    if kind == "token":
        env["UPCLOUD_TOKEN"] = creds["token"]
    else:
        env.update(UPCLOUD_USERNAME=creds["username"], UPCLOUD_PASSWORD=creds["password"])
    return env


@pytest.fixture
def mount_fs(sim, workdir):
    """mount_fs(source, *options, env=None, expect_warnings=False) -> Mount."""
    mounts = []
    sim.reset()

    def make(source, *options, env=None, expect_warnings=False):
        if env is None:
            env = (clever_env if source == "clever" else upcloud_env)(sim, workdir)
        m = Mount(workdir, source, ("api_url=" + sim.url,) + options, env,
                  expect_warnings)
        mounts.append(m)
        return m

    yield make
    unexpected = []
    for m in mounts:
        m.stop()
        unexpected += m.unexpected_log_lines()
    assert not unexpected, "unexpected daemon log lines:\n" + "\n".join(unexpected)


@pytest.fixture
def clever(mount_fs):
    return mount_fs("clever")


@pytest.fixture
def upcloud(mount_fs):
    return mount_fs("upcloud")
