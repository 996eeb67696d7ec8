#!/usr/bin/python3
"""Warm `ls -l` of one organisation's apps/, against its number of applications.

For each N of --sizes (default 100, 500 and 2000), starts a simulator whose
organisation Fleet Works holds N generated applications (cloudsim.py --apps N),
mounts it as Clever Cloud with a TTL of an hour (nothing expires during the
run), and runs `ls -l orgs/<Fleet Works>/apps/`: once cold (the listing is
fetched), once more to warm, then --runs times, timed. Prints one row per N:
the entries listed (N applications and by-name), the cold run's seconds and
API requests, the timed runs' median, minimum and maximum seconds, and the
API requests the simulator saw during them (the bar is 0: the cache is warm).
Then t(largest N) / t(smallest N) of the medians, beside the ratio of the Ns
(what a listing whose cost is linear in N would show).

--quick: N = 20 and 100, 3 runs each: a check that the script still works.

--hold N: mounts N applications, warms the cache, prints the apps directory
on stdout, and keeps the mount until SIGINT or SIGTERM; it then prints the
API requests made meanwhile. Time `ls -l` of that directory from another
shell, as a whole process, with any timer (`/usr/bin/time -v`, ...).

The mounts, the simulators and the temporary directory go away however the
run ends. Exit status: 0; 1 when a run failed, listed the wrong number of
entries, made a request while warm, or the daemon logged a warning or an
error; 130 when interrupted (but 0 for --hold, which ends that way).

Run: /usr/bin/python3 tests/bench/ls_bench.py [--sizes 100,500,2000] [--runs 5]
     [--build DIR] [--quick] [--hold N]      (after `ninja -C build`)
"""

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import conftest  # noqa: E402
from conftest import Mount, Simulator, clever_env  # noqa: E402
from chaos_soak import Interrupted, Signals  # noqa: E402

FLEET_ORG = "Fleet Works"   # the organisation cloudsim.py --apps fills
TTL = 3600                  # seconds: longer than any run
SIM_START = 120             # seconds the simulator may take to build 2,000 apps and more
LS_TIMEOUT = 600            # seconds one `ls -l` may take (quadratic listings are slow)
QUICK_SIZES, QUICK_RUNS = (20, 100), 3
LS_ENV = dict(os.environ, LC_ALL="C")


class BenchError(Exception):
    pass


def sizes(text):
    values = [int(part) for part in text.split(",")]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes are whole numbers >= 1")
    return values


def ls_l(path):
    """(seconds, entries) of one `ls -l PATH`, its "total" line not counted."""
    t0 = time.monotonic()
    try:
        done = subprocess.run(["ls", "-l", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=LS_ENV, timeout=LS_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError("ls -l %s: still running after %d s" % (path, LS_TIMEOUT)) from None
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise BenchError("ls -l %s: exit %d: %s" % (path, done.returncode,
                                                    done.stderr.decode("utf-8", "replace").strip()))
    return seconds, len(done.stdout.splitlines()) - 1


def mount_fleet(workdir, n, started, signals):
    """(simulator, mount, apps directory) for N applications. Each one is
    added to `started` as soon as it runs, for the cleanup."""
    own = tempfile.mkdtemp(prefix="apps-%d-" % n, dir=workdir)
    with signals.deferred():
        sim = Simulator(own, ("--apps", str(n)), start_timeout=SIM_START)
        started.append(sim)
    with signals.deferred():
        m = Mount(own, "clever", ("api_url=" + sim.url, "ttl=%d" % TTL), clever_env(sim, own))
        started.append(m)
    org = os.path.realpath(m.p("orgs", "by-name", FLEET_ORG))
    return sim, m, os.path.join(org, "apps")


class Row:
    def __init__(self, n):
        self.n = n
        self.entries = set()
        self.cold = self.cold_requests = None
        self.warm = []
        self.warm_requests = None


def measure(sim, apps, n, runs):
    row = Row(n)
    sim.clear_requests()
    row.cold, entries = ls_l(apps)
    row.cold_requests = len(sim.requests())
    row.entries.add(entries)
    row.entries.add(ls_l(apps)[1])
    sim.clear_requests()
    for _ in range(runs):
        seconds, entries = ls_l(apps)
        row.warm.append(seconds)
        row.entries.add(entries)
    row.warm_requests = len(sim.requests())
    return row


def problems_of(row):
    found = []
    if row.entries != {row.n + 1}:
        found.append("N=%d: listed %s entries, not %d" % (
            row.n, "/".join(map(str, sorted(row.entries))), row.n + 1))
    if row.warm_requests:
        found.append("N=%d: %d API requests during the warm runs" % (row.n, row.warm_requests))
    return found


def print_table(rows, runs):
    print("warm `ls -l` of %s' apps/, ttl %d s, median of %d runs (%s)" % (
        FLEET_ORG, TTL, runs, conftest.CLOUDFS))
    print("%6s %8s %9s %9s %9s %9s %9s %9s" % ("N", "entries", "cold s", "cold req", "median s",
                                               "min s", "max s", "warm req"))
    for r in rows:
        print("%6d %8s %9.3f %9d %9.3f %9.3f %9.3f %9d" % (
            r.n, "/".join(map(str, sorted(r.entries))), r.cold, r.cold_requests,
            statistics.median(r.warm), min(r.warm), max(r.warm), r.warm_requests))
    if len(rows) > 1:
        small, large = min(rows, key=lambda r: r.n), max(rows, key=lambda r: r.n)
        t_small, t_large = statistics.median(small.warm), statistics.median(large.warm)
        print("t(%d)/t(%d) = %.1f  (N ratio %.1f: a listing linear in N would be about that)" % (
            large.n, small.n, t_large / t_small if t_small else float("inf"), large.n / small.n))


def stop_all(started):
    """Stops what runs, the last started first; the daemons' unexpected log lines."""
    unexpected = []
    for thing in reversed(started):
        thing.stop()
        if isinstance(thing, Mount):
            unexpected += thing.unexpected_log_lines()
    started.clear()
    return unexpected


def bench(args, workdir, started, signals):
    rows, problems = [], []
    for n in args.sizes:
        sim, m, apps = mount_fleet(workdir, n, started, signals)
        row = measure(sim, apps, n, args.runs)
        rows.append(row)
        problems += problems_of(row)
        with signals.deferred():
            problems += ["daemon log, N=%d: %s" % (n, line) for line in stop_all(started)]
    print_table(rows, args.runs)
    for problem in problems:
        print("PROBLEM: " + problem)
    return 1 if problems else 0


def hold(args, workdir, started, signals):
    sim, m, apps = mount_fleet(workdir, args.hold, started, signals)
    ls_l(apps)
    entries = ls_l(apps)[1]
    sim.clear_requests()
    print(apps, flush=True)
    print("%d applications (%d entries) warm under %s; Ctrl-C or SIGTERM ends" % (
        args.hold, entries, apps), file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except Interrupted:
        pass
    print("%d API requests while held" % len(sim.requests()), file=sys.stderr)
    return 0


def use_build(build):
    """Points the mounts at BUILD/cloudfs; exits if there is none."""
    conftest.CLOUDFS = os.path.join(os.path.abspath(build), "cloudfs")
    if not os.access(conftest.CLOUDFS, os.X_OK):
        sys.exit("no %s: build first (ninja -C build)" % conftest.CLOUDFS)


def run_bench(prefix, body):
    """body(workdir, started, signals)'s exit status (1 when it raised
    BenchError, 130 when a signal ended it); then, whatever happened, what
    it started (each added to `started` as soon as it runs) stops, and the
    temporary directory goes."""
    signals = Signals()
    workdir = tempfile.mkdtemp(prefix=prefix)
    started = []

    def run():
        try:
            return body(workdir, started, signals)
        except BenchError as err:
            print("PROBLEM: %s" % err)
            return 1

    def cleanup():
        stop_all(started)
        shutil.rmtree(workdir, ignore_errors=True)

    return signals.run(run, cleanup)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=sizes, default=[100, 500, 2000],
                    help="numbers of applications, comma-separated (default 100,500,2000)")
    ap.add_argument("--runs", type=int, default=5, help="timed warm runs per size (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="sizes %s, %d runs" % (",".join(map(str, QUICK_SIZES)), QUICK_RUNS))
    ap.add_argument("--hold", type=int, metavar="N", help="keep N applications mounted, warm")
    ap.add_argument("--build", default=conftest.BUILD, help="the build directory (default %(default)s)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.runs = list(QUICK_SIZES), QUICK_RUNS
    if args.runs < 1 or (args.hold is not None and args.hold < 1):
        ap.error("--runs and --hold take a number >= 1")
    use_build(args.build)
    return run_bench("cloudfs-lsbench-", functools.partial(hold if args.hold else bench, args))


if __name__ == "__main__":
    sys.exit(main())
