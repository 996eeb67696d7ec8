#!/usr/bin/python3
"""Memory while following a log: the daemon's RSS during a long `tail -f`.

Mounts the simulator as Clever Cloud, runs `tail -f` on an application's
logs for --seconds (default 300) while the simulator pushes a live event
every --every seconds, and prints the daemon's VmRSS at the start, every
minute, and at the end, with the events tail received.

Run: /usr/bin/python3 tests/bench/follow_bench.py [--seconds 300] [--every 0.2]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from conftest import Mount, Simulator, clever_env, stop_process  # noqa: E402
from read_bench import rss_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--every", type=float, default=0.2)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="cloudfs-bench-")
    sim = Simulator(workdir)
    m = tail = None
    try:
        m = Mount(workdir, "clever", ("api_url=" + sim.url,), clever_env(sim, workdir))
        state = sim.state()["clever"]
        owner = state["organisations"][0]["id"]
        app = state["applications"][owner][0]["id"]
        out = open(os.path.join(workdir, "tail.out"), "w")
        tail = subprocess.Popen(["tail", "-f", m.p("orgs", owner, "apps", app, "logs")],
                                stdout=out)
        time.sleep(2)
        print("t=%4.0f s  RSS %6d KiB" % (0, rss_kib(m.pid)))
        start = time.monotonic()
        sent = 0
        next_report = 60
        while time.monotonic() - start < args.seconds:
            sim.mutate(op="add_log", owner=owner, app=app,
                       event={"message": "bench event %d %s" % (sent, "x" * 120)})
            sent += 1
            time.sleep(args.every)
            if time.monotonic() - start >= next_report:
                print("t=%4.0f s  RSS %6d KiB  events sent %d" %
                      (next_report, rss_kib(m.pid), sent))
                next_report += 60
        time.sleep(3)
        out.flush()
        with open(out.name) as f:
            received = sum(1 for line in f if "bench event" in line)
        print("end        RSS %6d KiB  events sent %d, received by tail -f %d" %
              (rss_kib(m.pid), sent, received))
    finally:
        if tail:
            stop_process(tail)
        if m:
            m.stop()
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
