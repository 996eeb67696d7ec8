#!/usr/bin/python3
"""Read-side figures for issues 2 and 3, measured against the simulator.

Prints:
  - requests and wall time of `ls -lR` over the Clever Cloud mount, cold then
    warm (within the TTL);
  - 8 `cat`s of 8 uncached invoice PDFs at 300 ms API latency, concurrent
    versus one after the other (the baseline), and their ratio;
  - a cold `grep -r` over the UpCloud accounts/ at 50 ms latency: requests,
    accounts, wall time, against the requests-times-latency baseline;
  - the daemons' resident memory afterwards.

Run: /usr/bin/python3 tests/bench/read_bench.py  (after `ninja -C build`)
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from conftest import Mount, Simulator, clever_env, upcloud_env  # noqa: E402


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def run(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def rss_kib(pid, field="VmRSS"):
    """The process's resident memory (VmHWM: its peak) in KiB, 0 if unknown."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def mount(sim, workdir, source, *options):
    """A mount with a cache directory of its own: every figure starts cold."""
    own = tempfile.mkdtemp(dir=workdir)
    env = (clever_env if source == "clever" else upcloud_env)(sim, own)
    return Mount(own, source, ("api_url=" + sim.url,) + options, env)


def ls_lr(sim, workdir):
    m = mount(sim, workdir, "clever")
    m.source = "clever"
    figures = []
    for label in ("cold", "warm"):
        sim.clear_requests()
        seconds = timed(lambda: run("ls", "-lR", ".", cwd=m.path))
        figures.append((label, len(sim.requests()), seconds))
    for label, n, seconds in figures:
        print("ls -lR %-4s  %3d requests  %6.3f s" % (label, n, seconds))
    return m


def eight_cats(sim, workdir, parallel):
    m = mount(sim, workdir, "clever")
    run("ls", *glob.glob(m.p("orgs", "*", "invoices")), cwd=m.path)
    files = sorted(glob.glob(m.p("orgs", "*", "invoices", "*.pdf")))[:8]
    sim.latency(300)

    def cats():
        procs = []
        for f in files:
            p = subprocess.Popen(["cat", f], stdout=subprocess.DEVNULL)
            if not parallel:
                p.wait()
            procs.append(p)
        for p in procs:
            p.wait()

    seconds = timed(cats)
    sim.latency(0)
    m.stop()
    return seconds


def grep_accounts(sim, workdir):
    m = mount(sim, workdir, "upcloud")
    m.source = "upcloud"
    sim.latency(50)
    sim.clear_requests()
    seconds = timed(lambda: subprocess.run(["grep", "-r", "@", "accounts"], cwd=m.path,
                                           stdout=subprocess.DEVNULL))
    n = len(sim.requests())
    sim.latency(0)
    accounts = len(os.listdir(m.p("accounts")))
    baseline = n * 0.050
    print("grep -r accounts/ cold at 50 ms: %d requests for %d accounts, %.3f s "
          "(sequential baseline %.3f s, ratio %.2f)" % (n, accounts, seconds, baseline,
                                                       seconds / baseline))
    return m


def main():
    workdir = tempfile.mkdtemp(prefix="cloudfs-bench-")
    sim = Simulator(workdir)
    mounts = []
    try:
        mounts.append(ls_lr(sim, workdir))
        sequential = eight_cats(sim, workdir, parallel=False)
        concurrent = eight_cats(sim, workdir, parallel=True)
        print("8 cats of uncached PDFs at 300 ms: concurrent %.3f s, one after the other "
              "%.3f s (baseline), ratio %.2f" % (concurrent, sequential, concurrent / sequential))
        mounts.append(grep_accounts(sim, workdir))
        for m in mounts:
            print("%s daemon RSS after the runs: %d KiB" % (m.source, rss_kib(m.pid)))
    finally:
        for m in mounts:
            m.stop()
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
