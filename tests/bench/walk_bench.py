#!/usr/bin/python3
"""Whole-tree walks, cold and warm, against plain curl and against tmpfs.

For each scale of --scales (default 1 and 10: the simulator's data, and about
ten times it, cloudsim.py --scale), starts a simulator and mounts it with
`-o ttl=3600`, longer than any run, so that no GET may be repeated. Every
walk has a mount of its own (and an empty persistent invoice cache), and
every figure is printed beside its baseline, with their ratio:

  grep -r   a cold `grep -r` of the provider's whole tree at 50 ms API
            latency, against the same GETs fetched by 8 parallel curls
            (`xargs -P 8 curl`, one process per GET, at the same latency).
            The GETs are the walk's own, from the simulator's request log:
            path, query and Accept. Log snapshots are in both; a live log
            stream (no until=) would be left out of the curls;
  ls -l     a cold `ls -l` of Acme Corp's invoices/ at 1 s latency, path
            lookup included, against ceil(files / 8) x 1 s, files being the
            directory's .pdf and .html (a GET each; the .json come from the
            list);
  tar       a first-mount `tar` of every owner's invoices/ at 50 ms, against
            the same GETs by 8 parallel curls;
  warm      `grep -r` again on the grep mount (median of --runs), within the
            TTL, against the same tree copied to tmpfs (median of --runs).

Each row also gives the walk's API requests, its GETs repeated within the
TTL (of a 2xx answer, earlier on the same mount), the live log streams it
started, and the most requests in flight at once against max_conns (log
streams aside: they do not count against it; see the request log's t_answer
in tests/sim/control.py). Then each daemon's peak RSS (VmHWM).

The targets, each row's verdict: grep -r <= 1.5 x its curls; ls -l <=
ceil(files / 8) + 2 s; warm <= 2 x tmpfs with 0 requests; the tar has
none; at every row 0 repeated GETs and at most max_conns in flight; and
every daemon's peak RSS <= 64 MiB at scale 10.

--quick: scale 1 only.

The mounts, the simulators, the tmpfs copies and the temporary directory go
away however the run ends. Exit status: 0 when every target is met; 2 when
the run is sound but misses a target; 1 when it is broken (a tool or a curl
failed, the curls did not get what the walk got, or a daemon logged a
warning or an error); 130 when interrupted.

Run: /usr/bin/python3 tests/bench/walk_bench.py [--scales 1,10] [--runs 5]
     [--build DIR] [--quick]      (after `ninja -C build`)
"""

import argparse
import functools
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import conftest  # noqa: E402
from ls_bench import BenchError, run_bench, sizes, stop_all, use_build  # noqa: E402
from read_bench import mount, rss_kib  # noqa: E402

TTL = 3600              # seconds: longer than any run, so any repeat is within it
MAX_CONNS = 8           # cloudfs's default, and the curls' parallelism
WALK_LATENCY_MS = 50    # grep -r and tar
LS_LATENCY_MS = 1000    # ls -l of the invoices
GREP_RATIO = 1.5        # cold grep -r / its curls
WARM_RATIO = 2.0        # warm grep -r / tmpfs
LS_SLACK = 2            # seconds over ceil(files / 8) x 1 s
RSS_LIMIT_KIB = 64 * 1024
RSS_SCALE = 10          # the scale the RSS target is for
QUICK_SCALES = [1]
SIM_START = 120         # seconds the simulator may take to build its data
TOOL_TIMEOUT = 3600     # seconds one walk may take
NO_MATCH = "walk-bench: no file holds this"  # grep reads every file to its end
TMPFS = "/dev/shm"
TOOL_ENV = dict(os.environ, LC_ALL="C")


@dataclass
class Row:
    """One walk: its seconds, its baseline and target, and its requests."""
    name: str
    seconds: float
    baseline: float
    basis: str                  # what the baseline is
    limit: float | None         # the target, in seconds (None: no target)
    log: list                   # the simulator's requests during the walk
    history: list               # the mount's requests up to the walk's end
    want_no_requests: bool = False

    @property
    def repeated(self):
        return repeated_gets(self.log, self.history)

    @property
    def live(self):
        return sum(is_live(r) for r in self.log)

    @property
    def in_flight(self):
        return peak_in_flight(self.log)

    def misses(self):
        """What this row misses of its targets."""
        found = []
        if self.limit is not None and self.seconds > self.limit:
            found.append("%.3f s > %.3f s" % (self.seconds, self.limit))
        if self.want_no_requests and self.log:
            found.append("%d requests" % len(self.log))
        if self.repeated:
            found.append("%d GETs repeated within the TTL" % self.repeated)
        if self.in_flight > MAX_CONNS:
            found.append("%d in flight > max_conns %d" % (self.in_flight, MAX_CONNS))
        return found


@dataclass
class Scale:
    """The rows of one simulator scale, and its daemons' peak RSS."""
    k: int
    rows: list = field(default_factory=list)
    rss: dict = field(default_factory=dict)     # mount name -> VmHWM KiB
    files: dict = field(default_factory=dict)   # provider -> regular files in its tree

    def misses(self):
        found = ["%s: %s" % (r.name, "; ".join(r.misses())) for r in self.rows if r.misses()]
        if self.k == RSS_SCALE:
            found += ["%s daemon peak RSS %d KiB > %d KiB" % (name, kib, RSS_LIMIT_KIB)
                      for name, kib in self.rss.items() if kib > RSS_LIMIT_KIB]
        return found


# -- the request log --------------------------------------------------------------------------

def accept(r):
    return r["headers"].get("accept", "*/*")


def is_stream(r):
    return "text/event-stream" in accept(r)


def is_live(r):
    """A log stream that follows (no until=), as opposed to a snapshot."""
    return is_stream(r) and "until" not in urllib.parse.parse_qs(r["query"])


def replayable(requests):
    return [r for r in requests if r["method"] == "GET" and not is_live(r)]


def repeated_gets(log, history):
    """The GETs of `log` that repeat, within the TTL, a 2xx answer to the same
    path, query and Accept earlier in `history` (a 4xx is kept 3 s only)."""
    answered, repeats = {}, 0
    in_log = {r["seq"] for r in log}
    for r in sorted(replayable(history), key=lambda r: r["seq"]):
        key = (r["path"], r["query"], accept(r))
        earlier = answered.get(key)
        if r["seq"] in in_log and earlier is not None and r["t_start"] - earlier < TTL:
            repeats += 1
        if r["status"] is not None and 200 <= r["status"] < 300:
            answered[key] = r["t_start"]
    return repeats


def peak_in_flight(log):
    """The most requests whose [t_start, t_answer) overlap, log streams aside."""
    edges = []
    for r in log:
        if not is_stream(r):
            answered = r["t_answer"] if r["t_answer"] is not None else math.inf
            edges += [(r["t_start"], 1), (answered, -1)]
    peak = now = 0
    for _, step in sorted(edges):  # at a tie, an answer goes before an arrival
        now += step
        peak = max(peak, now)
    return peak


# -- tools --------------------------------------------------------------------------------------

def timed(cmd, cwd=None, ok=(0,), stdin=None):
    """(seconds, stdout bytes) of one run of cmd; BenchError unless its exit
    status is in `ok` and its stderr is empty."""
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=cwd, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=TOOL_ENV, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: still running after %d s" % (cmd[0], TOOL_TIMEOUT)) from None
    seconds = time.monotonic() - t0
    if done.returncode not in ok or done.stderr:
        raise BenchError("%s: exit %d: %s" % (" ".join(cmd[:3]), done.returncode,
                                              done.stderr.decode("utf-8", "replace")[:500]))
    return seconds, done.stdout


def grep_r(root):
    return timed(["grep", "-r", "-F", "-e", NO_MATCH, "."], cwd=root, ok=(1,))[0]


def curls(sim, log, token):
    """Seconds the walk's GETs take as 8 parallel curls, one process each."""
    gets = replayable(log)
    args = []
    for r in gets:
        url = sim.url + r["path"] + ("?" + r["query"] if r["query"] else "")
        args += ["Accept: " + accept(r), url]
    # each curl takes one Accept value and one URL: the command ends in -H
    cmd = ["xargs", "-0", "-n", "2", "-P", str(MAX_CONNS), "curl", "-s", "-o", "/dev/null",
           "-w", "%{http_code}\\n", "-H", "Authorization: Bearer " + token, "-H"]
    seconds, out = timed(cmd, stdin=b"".join(a.encode() + b"\0" for a in args))
    codes = out.decode().split()
    wrong = [c for c in codes if not c.startswith("2")]
    if len(codes) != len(gets) or wrong:
        raise BenchError("curls: %d answers for %d GETs, not 2xx: %s" % (
            len(codes), len(gets), ", ".join(sorted(set(wrong))[:5]) or "none"))
    return seconds


def median_of(runs, fn):
    return statistics.median(fn() for _ in range(runs))


# -- the walks -----------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, workdir, started, signals):
        self.args = args
        self.workdir = workdir
        self.started = started
        self.signals = signals
        self.problems = []      # what makes the run broken

    def start_sim(self, k):
        own = tempfile.mkdtemp(prefix="scale-%d-" % k, dir=self.workdir)
        with self.signals.deferred():
            sim = conftest.Simulator(own, ("--scale", str(k)), start_timeout=SIM_START)
            self.started.append(sim)
        return sim, own

    def mount(self, sim, own, source):
        with self.signals.deferred():
            m = mount(sim, own, source, "ttl=%d" % TTL, "max_conns=%d" % MAX_CONNS)
            self.started.append(m)
        return m

    def drop(self, thing):
        with self.signals.deferred():
            thing.stop()
            self.started.remove(thing)

    def finish(self, m, scale, name):
        """The daemon's peak RSS, then its unmount; its unexpected log lines
        make the run broken."""
        scale.rss[name] = rss_kib(m.pid, "VmHWM")
        self.drop(m)
        self.problems += ["daemon log, %s at scale %d: %s" % (name, scale.k, line)
                          for line in m.unexpected_log_lines()]

    def copy_to_tmpfs(self, tree):
        with self.signals.deferred():
            copy = TmpfsCopy(tempfile.mkdtemp(prefix="cloudfs-walkbench-", dir=TMPFS))
            self.started.append(copy)
        timed(["cp", "-R", tree + "/.", copy.path])
        timed(["chmod", "-R", "u+w", copy.path])  # directories were 0555
        return copy

    def grep_walks(self, sim, own, source, token, scale):
        m = self.mount(sim, own, source)
        sim.latency(WALK_LATENCY_MS)
        sim.clear_requests()
        cold = grep_r(m.path)
        cold_log = sim.requests()
        copy = self.copy_to_tmpfs(m.path)
        warm = median_of(self.args.runs, lambda: grep_r(m.path))
        history = sim.requests()
        tmpfs = median_of(self.args.runs, lambda: grep_r(copy.path))
        scale.files[source] = sum(len(files) for _, _, files in os.walk(copy.path))
        self.drop(copy)
        self.finish(m, scale, source + " grep")
        baseline = curls(sim, cold_log, token)
        scale.rows.append(Row(source + " grep -r", cold, baseline, "8 curls", GREP_RATIO * baseline,
                              cold_log, cold_log))
        scale.rows.append(Row(source + " warm grep -r", warm, tmpfs, "tmpfs", WARM_RATIO * tmpfs,
                              history[len(cold_log):], history, want_no_requests=True))

    def ls_invoices(self, sim, own, owner, scale):
        m = self.mount(sim, own, "clever")
        sim.latency(LS_LATENCY_MS)
        sim.clear_requests()
        invoices = m.p("orgs", owner, "invoices")
        seconds, out = timed(["ls", "-l", invoices])
        log = sim.requests()
        self.finish(m, scale, "clever ls")
        files = sum(line.endswith((".pdf", ".html")) for line in out.decode().splitlines())
        rounds = math.ceil(files / MAX_CONNS)
        scale.rows.append(Row("clever ls -l invoices/", seconds, rounds * LS_LATENCY_MS / 1000,
                              "ceil(%d / %d) x 1 s" % (files, MAX_CONNS),
                              rounds * LS_LATENCY_MS / 1000 + LS_SLACK, log, log))

    def tar_invoices(self, sim, own, owners, token, scale):
        m = self.mount(sim, own, "clever")
        sim.latency(WALK_LATENCY_MS)
        sim.clear_requests()
        dirs = ["orgs/%s/invoices" % owner for owner in owners]
        seconds, out = timed(["tar", "-cf", "-", "-C", m.path, *dirs])
        log = sim.requests()
        self.finish(m, scale, "clever tar")
        if not out:
            raise BenchError("tar of the invoices wrote nothing")
        baseline = curls(sim, log, token)
        scale.rows.append(Row("clever tar invoices/", seconds, baseline, "8 curls", None, log, log))

    def run_scale(self, k):
        scale = Scale(k)
        sim, own = self.start_sim(k)
        creds = sim.credentials()
        clever = sim.state()["clever"]
        owners = [clever["self"]["id"]] + [org["id"] for org in clever["organisations"]]
        self.grep_walks(sim, own, "clever", creds["clever"]["api_token"], scale)
        self.grep_walks(sim, own, "upcloud", creds["upcloud"]["token"], scale)
        self.ls_invoices(sim, own, clever["organisations"][0]["id"], scale)
        self.tar_invoices(sim, own, owners, creds["clever"]["api_token"], scale)
        with self.signals.deferred():
            self.problems += ["daemon log: %s" % line for line in stop_all(self.started)]
        return scale


class TmpfsCopy:
    """A copy of a tree in tmpfs, removed by stop() like the mounts are."""

    def __init__(self, path):
        self.path = path

    def stop(self):
        shutil.rmtree(self.path, ignore_errors=True)


# -- the report -------------------------------------------------------------------------------

def print_scale(scale):
    print("== scale %d: clever %d files, upcloud %d files; max_conns %d, ttl %d s (%s)" % (
        scale.k, scale.files.get("clever", 0), scale.files.get("upcloud", 0), MAX_CONNS, TTL,
        conftest.CLOUDFS))
    print("%-24s %9s %9s %-18s %7s %9s %8s %8s %4s %9s  %s" % (
        "walk", "cloudfs s", "base s", "baseline", "ratio", "target s", "requests", "repeated",
        "live", "in flight", "verdict"))
    for r in scale.rows:
        ratio = r.seconds / r.baseline if r.baseline else math.inf
        target = "-" if r.limit is None else "%.3f" % r.limit
        verdict = "missed" if r.misses() else "met" if r.limit is not None else "no target"
        print("%-24s %9.3f %9.3f %-18s %7.2f %9s %8d %8d %4d %5d/%-3d  %s" % (
            r.name, r.seconds, r.baseline, r.basis, ratio, target, len(r.log), r.repeated,
            r.live, r.in_flight, MAX_CONNS, verdict))
    rss_target = "target <= %d KiB" % RSS_LIMIT_KIB if scale.k == RSS_SCALE else \
        "target at scale %d only" % RSS_SCALE
    print("daemon peak RSS (VmHWM, KiB; %s): %s" % (rss_target, ", ".join(
        "%s %d" % item for item in scale.rss.items())))


def bench(args, workdir, started, signals):
    runner = Bench(args, workdir, started, signals)
    missed = []
    for k in args.scales:
        scale = runner.run_scale(k)
        print_scale(scale)
        sys.stdout.flush()  # a scale's table as soon as it is done
        missed += ["scale %d, %s" % (k, miss) for miss in scale.misses()]
    for problem in runner.problems:
        print("PROBLEM: " + problem)
    for miss in missed:
        print("MISSED: " + miss)
    if runner.problems:
        return 1
    return 2 if missed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=sizes, default=[1, 10],
                    help="simulator scales, comma-separated (default 1,10)")
    ap.add_argument("--runs", type=int, default=5,
                    help="warm grep -r runs, on the mount and on tmpfs (default 5)")
    ap.add_argument("--quick", action="store_true", help="scale %s only" % QUICK_SCALES[0])
    ap.add_argument("--build", default=conftest.BUILD, help="the build directory (default %(default)s)")
    args = ap.parse_args()
    if args.quick:
        args.scales = QUICK_SCALES
    if args.runs < 1:
        ap.error("--runs takes a number >= 1")
    use_build(args.build)
    if not any(line.split()[1:3] == [TMPFS, "tmpfs"] for line in open("/proc/mounts")):
        sys.exit("%s is not a tmpfs: the warm baseline needs one" % TMPFS)
    return run_bench("cloudfs-walkbench-", functools.partial(bench, args))


if __name__ == "__main__":
    sys.exit(main())
