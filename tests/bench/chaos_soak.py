#!/usr/bin/python3
"""Chaos soak: many readers over both mounts while about 1 API request in 9 fails.

Starts its own simulator, mounts it as Clever Cloud and as UpCloud with
`-o ttl=1` (so the cache keeps expiring and requests keep flowing), and
reads every regular file of both trees fault-free, twice, as the reference
(a file whose two reads differ is left out and named). The Clever Cloud
log files (`logs`, `deployment-logs/*`, `instance-logs/*`) are left out of
the reference: they follow a live stream. `grep -r` still reads them, to
the end.

Then it arms two faults on every API path, forever, each with probability
0.055 (--probability): a 503, and a connection reset. About 1 request in 9 fails
(1 - 0.945^2), and the daemon's retries must hide that. --readers threads
loop for --seconds, each time picking a mount and one of:

  cat    a random file: its bytes must equal the reference;
  grep   `grep -r -l -F WORD` over a random directory, WORD taken from a
         random reference file: the files listed must be the reference
         files under that directory that hold WORD;
  stat   a random file: st_size must equal the reference's length;
  ls     `ls -lA` of a random directory: as many entries as the reference.

Prints, for each mount: operations done by kind, errors by errno (stat) or
by tool and exit status with the errno its message names (cat, grep, ls),
wrong bytes (cats whose bytes differ and stats whose size differs from the
reference: the bar is 0), grep and ls results that differ, and the
daemon's VmRSS after mounting, before the soak and after it (on a
sanitizer build, RSS mostly measures ASan's quarantine). Then the
simulator's count of requests and injected failures during the soak, and,
once each mount is unmounted, the daemon's exit status and the warnings,
errors and sanitizer lines in its log.

Time is bounded: --seconds, then at most OP_TIMEOUT for the operations in
flight, then the unmounts. The mounts, the simulator, every tool process
and the temporary directory go away however the run ends (SIGINT and
SIGTERM included).

Run: /usr/bin/python3 tests/bench/chaos_soak.py [--seconds 60] [--readers 16] [--build DIR]
     [--probability 0.055]   (0: no faults, the same run as a baseline)
"""

import argparse
import collections
import contextlib
import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import conftest  # noqa: E402
from conftest import Mount, Simulator, clever_env, is_mounted, upcloud_env  # noqa: E402
from read_bench import rss_kib  # noqa: E402

OP_TIMEOUT = 30         # seconds one cat / grep / ls may take before it counts as an error
PROBABILITY = 0.055     # per fault; two faults: 1 - (1 - p)^2 ~ 0.107 ~ 1/9
LOG_DIRS = ("deployment-logs", "instance-logs")
STRERRORS = sorted(((os.strerror(n), name) for n, name in errno.errorcode.items()),
                   key=lambda pair: -len(pair[0]))  # longest first: "No such device or address"
TOOL_ENV = dict(os.environ, LC_ALL="C")


class Interrupted(Exception):
    pass


class Signals:
    """SIGINT and SIGTERM end the run through the cleanup, and only once.

    The first signal raises Interrupted in the main thread, at once or, while
    a process is being started and not yet recorded (deferred()), just after.
    Later signals are ignored, so they cannot cut the cleanup short.
    """

    def __init__(self):
        self.got = None
        self.defer = 0
        signal.signal(signal.SIGINT, self.handler)
        signal.signal(signal.SIGTERM, self.handler)

    def handler(self, signum, frame):
        if self.got:
            return
        self.got = signal.Signals(signum).name
        if not self.defer:
            raise Interrupted(self.got)

    @contextlib.contextmanager
    def deferred(self):
        self.defer += 1
        try:
            yield
        finally:
            self.defer -= 1
        if self.got and not self.defer:
            raise Interrupted(self.got)

    def run(self, body, cleanup):
        """body()'s status, or 130 when a signal ended it; then cleanup(), which
        no signal interrupts. Anything else body() raises propagates, after cleanup()."""
        status = 130
        try:
            status = body()
        except Interrupted as sig:
            print("interrupted by %s: cleaning up" % sig, file=sys.stderr)
        finally:
            try:
                self.defer += 1  # from here on, a signal is only noted
            except Interrupted:  # raised at most once, before defer += 1 took
                self.defer += 1
                status = 130
            cleanup()
        return status


def is_live_log(rel):
    parts = rel.split(os.sep)
    if parts[-1] == "logs" and len(parts) >= 2 and "apps" in parts:
        return True
    return len(parts) >= 2 and parts[-2] in LOG_DIRS


def errno_named_in(text):
    for message, name in STRERRORS:
        if message in text:
            return name
    return "?"


class Tree:
    """The reference of one mount: every regular file's bytes, every directory's entry count."""

    def __init__(self, m):
        self.m = m
        self.files = {}         # relative path -> bytes
        self.names = []         # sorted(files)
        self.dirs = {}          # relative path ("." for the root) -> number of entries
        self.skipped_logs = 0
        self.unstable = []
        self.unreadable = []

    def walk(self):
        seen = {}
        self.dirs = {}
        self.unreadable = []
        for top, dirnames, filenames in os.walk(self.m.path):
            rel_top = os.path.relpath(top, self.m.path)
            self.dirs[rel_top] = len(dirnames) + len(filenames)
            for name in filenames:
                path = os.path.join(top, name)
                rel = os.path.normpath(os.path.join(rel_top, name))
                if os.path.islink(path):
                    continue
                if self.m.source == "clever" and is_live_log(rel):
                    self.skipped_logs += 1
                    continue
                try:
                    with open(path, "rb") as f:
                        seen[rel] = f.read()
                except OSError as err:
                    self.unreadable.append("%s (%s)" % (rel, errno.errorcode.get(err.errno, err.errno)))
        return seen

    def take(self):
        first = self.walk()
        time.sleep(1.5)  # past the TTL: the second pass asks the API again
        second = self.walk()
        for rel, data in first.items():
            if second.get(rel) == data:
                self.files[rel] = data
            else:
                self.unstable.append(rel)
        self.names = sorted(self.files)
        self.dir_names = sorted(self.dirs)


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.errors = collections.Counter()
        self.wrong_bytes = collections.Counter()    # "cat" / "stat" -> count
        self.grep_mismatch = 0
        self.ls_mismatch = 0
        self.examples = []

    def add(self, **kw):
        with self.lock:
            for key, value in kw.items():
                if key == "op":
                    self.ops[value] += 1
                elif key == "error":
                    self.errors[value] += 1
                elif key == "wrong":
                    self.wrong_bytes[value] += 1
                elif key == "example":
                    if len(self.examples) < 8:
                        self.examples.append(value)
                else:
                    setattr(self, key, getattr(self, key) + value)


class Soak:
    def __init__(self, trees, readers):
        self.trees = trees
        self.figures = {t.m.source: Figures() for t in trees}
        self.readers = readers
        self.stop = threading.Event()
        self.procs = set()
        self.procs_lock = threading.Lock()
        self.threads = []

    # -- tools, each process known by PID so the cleanup can end it ------------------------

    def tool(self, cmd):
        """(exit status or None on timeout, stdout bytes, stderr text)."""
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=TOOL_ENV)
        with self.procs_lock:
            self.procs.add(proc)
        try:
            out, err = proc.communicate(timeout=OP_TIMEOUT)
            return proc.returncode, out, err.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None, b"", ""
        finally:
            with self.procs_lock:
                self.procs.discard(proc)

    def kill_tools(self):
        with self.procs_lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # stuck in the mount: the unmount that follows frees it

    @staticmethod
    def tool_error(name, rc, err):
        if rc is None:
            return "%s timeout" % name
        return "%s exit %d (%s)" % (name, rc, errno_named_in(err))

    # -- operations ---------------------------------------------------------------------------

    def cat(self, tree, fig, rng):
        rel = rng.choice(tree.names)
        rc, out, err = self.tool(["cat", tree.m.p(rel)])
        if rc != 0:
            fig.add(error=self.tool_error("cat", rc, err))
        elif out != tree.files[rel]:
            fig.add(wrong="cat", example="cat %s: %d bytes, reference %d" %
                    (rel, len(out), len(tree.files[rel])))

    def stat(self, tree, fig, rng):
        rel = rng.choice(tree.names)
        try:
            size = os.stat(tree.m.p(rel)).st_size
        except OSError as e:
            fig.add(error="stat %s" % errno.errorcode.get(e.errno, e.errno))
            return
        if size != len(tree.files[rel]):
            fig.add(wrong="stat", example="stat %s: size %d, reference %d" %
                    (rel, size, len(tree.files[rel])))

    def grep(self, tree, fig, rng):
        top = rng.choice(tree.dir_names)
        words = re.findall(rb"[A-Za-z]{4,}", tree.files[rng.choice(tree.names)])
        word = rng.choice(words) if words else b"name"
        rc, out, err = self.tool(["grep", "-r", "-l", "-F", "-e", word, tree.m.p(top)])
        if rc not in (0, 1):
            fig.add(error=self.tool_error("grep", rc, err))
            return
        listed = {os.path.relpath(line.decode("utf-8", "surrogateescape"), tree.m.path)
                  for line in out.splitlines()}
        listed &= set(tree.files)  # the live logs are read, but not compared
        prefix = "" if top == "." else top + os.sep
        expected = {rel for rel, data in tree.files.items()
                    if rel.startswith(prefix) and word in data}
        if listed != expected:
            fig.add(grep_mismatch=1, example="grep -r %s %s (exit %d): %d listed, %d expected; "
                    "missing %s, extra %s" % (word.decode(), top, rc, len(listed), len(expected),
                                              sorted(expected - listed)[:3],
                                              sorted(listed - expected)[:3]))

    def ls(self, tree, fig, rng):
        top = rng.choice(tree.dir_names)
        rc, out, err = self.tool(["ls", "-lA", tree.m.p(top)])
        if rc != 0:
            fig.add(error=self.tool_error("ls", rc, err))
            return
        entries = len(out.splitlines()) - 1  # "total N" first
        if entries != tree.dirs[top]:
            fig.add(ls_mismatch=1, example="ls %s: %d entries, reference %d" %
                    (top, entries, tree.dirs[top]))

    def reader(self, seed):
        rng = random.Random(seed)
        ops = [self.cat, self.grep, self.stat, self.ls]
        while not self.stop.is_set():
            tree = rng.choice(self.trees)
            op = rng.choice(ops)
            fig = self.figures[tree.m.source]
            op(tree, fig, rng)
            fig.add(op=op.__name__)

    def start(self):
        for i in range(self.readers):
            t = threading.Thread(target=self.reader, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        """Stops the readers: they finish the operation in flight (bounded by OP_TIMEOUT)."""
        self.stop.set()
        deadline = time.monotonic() + OP_TIMEOUT + 5
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        self.kill_tools()
        return sum(t.is_alive() for t in self.threads)


def mount(sim, workdir, source):
    own = tempfile.mkdtemp(prefix=source + "-", dir=workdir)
    env = (clever_env if source == "clever" else upcloud_env)(sim, own)
    m = Mount(own, source, ("api_url=" + sim.url, "ttl=1"), env, expect_warnings=True)
    m.source = source
    return m


def daemon_log_lines(m):
    counts = collections.Counter()
    for line in m.output().splitlines():
        for marker, label in (("Sanitizer", "sanitizer"), ("runtime error:", "sanitizer"),
                              (": warning: ", "warning"), (": error: ", "error")):
            if marker in line:
                counts[label] += 1
                break
    return counts


def report(trees, soak, rss, seconds):
    for tree in trees:
        m = tree.m
        fig = soak.figures[m.source]
        total = sum(fig.ops.values())
        print("== %s" % m.source)
        print("reference: %d files, %d directories (%d live log files skipped; unstable: %s; "
              "unreadable: %s)" % (len(tree.files), len(tree.dirs), tree.skipped_logs,
                                   ", ".join(tree.unstable) or "none",
                                   ", ".join(tree.unreadable) or "none"))
        print("operations: %d in %.1f s (%.0f/s): %s" % (
            total, seconds, total / seconds if seconds else 0,
            ", ".join("%s %d" % kv for kv in sorted(fig.ops.items()))))
        print("errors: %d%s" % (sum(fig.errors.values()), "".join(
            "\n  %-28s %d" % kv for kv in sorted(fig.errors.items()))))
        print("wrong bytes: %d (cat %d, stat size %d)" % (
            sum(fig.wrong_bytes.values()), fig.wrong_bytes["cat"], fig.wrong_bytes["stat"]))
        print("grep lists differing: %d; ls entry counts differing: %d" %
              (fig.grep_mismatch, fig.ls_mismatch))
        for example in fig.examples:
            print("  e.g. " + example)
        r = rss[m.source]
        print("daemon VmRSS: after mount %d KiB, before the soak %d KiB, after %d KiB (%+d)" %
              (r[0], r[1], r[2], r[2] - r[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--readers", type=int, default=16)
    ap.add_argument("--probability", type=float, default=PROBABILITY,
                    help="of each of the two faults (default %(default)s; 0: no faults, a baseline)")
    ap.add_argument("--build", default=conftest.BUILD, help="the build directory (default %(default)s)")
    args = ap.parse_args()
    conftest.CLOUDFS = os.path.join(os.path.abspath(args.build), "cloudfs")
    if not os.access(conftest.CLOUDFS, os.X_OK):
        sys.exit("no %s: build first (ninja -C build)" % conftest.CLOUDFS)

    signals = Signals()
    workdir = tempfile.mkdtemp(prefix="cloudfs-soak-")
    sim = soak = None
    mounts = []

    def cleanup():
        if soak:
            soak.stop.set()
            soak.kill_tools()
        for m in mounts:
            m.stop()
            if is_mounted(m.path):
                subprocess.run(["fusermount3", "-u", "-z", m.path], check=False)
        if soak:
            for t in soak.threads:
                t.join(timeout=5)
            soak.kill_tools()
        if sim:
            sim.stop()
        if not any(is_mounted(m.path) for m in mounts):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("a mount is left under %s" % workdir, file=sys.stderr)

    def run():
        nonlocal sim, soak
        with signals.deferred():
            sim = Simulator(workdir)
        for source in ("clever", "upcloud"):
            with signals.deferred():
                mounts.append(mount(sim, workdir, source))
        rss = {m.source: [rss_kib(m.pid)] for m in mounts}
        trees = [Tree(m) for m in mounts]
        for tree in trees:
            tree.take()
            if not tree.files:
                raise RuntimeError("%s: the reference read found no file" % tree.m.source)
        for m in mounts:
            rss[m.source].append(rss_kib(m.pid))
        print("cloudfs %s, %d readers, %.0f s, faults: 503 and reset, p=%.3f each, "
              "on every API path" % (conftest.CLOUDFS, args.readers, args.seconds, args.probability))
        sim.clear_requests()
        for kind in ("status", "reset"):
            if args.probability > 0:
                sim.fault(match="^/", kind=kind, status=503, times=-1,
                          probability=args.probability)
        soak = Soak(trees, args.readers)
        t0 = time.monotonic()
        soak.start()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(0.2)
        stuck = soak.finish()
        elapsed = time.monotonic() - t0
        sim.clear_faults()
        requests = sim.requests()
        for m in mounts:
            rss[m.source].append(rss_kib(m.pid) if m.proc.poll() is None else 0)
        report(trees, soak, rss, elapsed)
        statuses = collections.Counter(r["status"] for r in requests)
        failed = statuses[503] + statuses[0]
        print("== simulator: %d API requests during the soak, %d failed by the faults "
              "(503: %d, reset: %d; %.1f%%)" % (
                  len(requests), failed, statuses[503], statuses[0],
                  100.0 * failed / len(requests) if requests else 0))
        for m in mounts:
            if m.proc.poll() is not None:
                print("%s daemon DIED during the soak: exit %s" % (m.source, m.proc.returncode))
        if stuck:
            print("%d readers were still in an operation after %d s" % (stuck, OP_TIMEOUT))
        for m in mounts:  # unmounted here so that a report at exit (LeakSanitizer) is counted
            m.stop()
            lines = daemon_log_lines(m)
            print("%s daemon: exit status %s once unmounted; its log: %d warnings, %d errors, "
                  "%d sanitizer lines" % (m.source, m.proc.returncode, lines["warning"],
                                          lines["error"], lines["sanitizer"]))
        return 0

    return signals.run(run, cleanup)


if __name__ == "__main__":
    sys.exit(main())
