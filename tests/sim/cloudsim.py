#!/usr/bin/python3
"""cloudsim: a Clever Cloud + UpCloud API simulator for the cloudfs tests (stdlib only).

    /usr/bin/python3 tests/sim/cloudsim.py [--port 0] [--port-file DIR/port]
        [--latency-ms N] [--heartbeat-ms 2000] [--now 2026-11-15T12:00:00Z] [--verbose]
        [--apps N] [--subaccounts N] [--scale K]

Binds 127.0.0.1:--port (0, the default: any free port), writes the bound port to
--port-file (atomically) once it accepts connections, serves until SIGTERM/SIGINT,
then exits 0. One process serves both providers: /v2 and /v4 are Clever Cloud
(clever.py, logs.py), /1.3 is UpCloud (upcloud.py, metering.py); /_sim/ is the
control API (control.py documents it; GET /_sim/credentials has the credentials).
Data: seed.py (deterministic, relative to "now": the real clock at start, or
--now; clock.py), store.py (the mutable copy), invoices.py and pdf.py (invoice
documents). HTTP plumbing: server.py.
--apps and --subaccounts add generated data for the benchmarks, and --scale K
multiplies the seeded data about K times (seed.py's Fleet, metering.py).
"""

import argparse
import os
import signal
import sys
import threading

sys.dont_write_bytecode = True  # leave no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clever  # noqa: E402
import control  # noqa: E402
import logs  # noqa: E402
import metering  # noqa: E402
import upcloud  # noqa: E402
from clock import parse_iso, wall_clock  # noqa: E402
from seed import Fleet  # noqa: E402
from server import Settings, SimServer  # noqa: E402
from store import Store  # noqa: E402


class Sim:
    """Everything a request handler may need, wired once."""

    def __init__(self, now, latency_ms, heartbeat_ms, verbose, fleet):
        self.settings = Settings(latency_ms, heartbeat_ms, verbose)
        self.base_latency_ms = latency_ms
        self.store = Store(now, fleet)
        self.requests = control.RequestLog()
        self.faults = control.Faults()
        self.logs = logs.LogHub(self.store, self.settings)
        self.metering = metering.Metering(now, fleet.scale)
        self.clever = clever.Clever(self.store, self.logs)
        self.upcloud = upcloud.UpCloud(self.store, self.metering)
        self.credentials = {"clever": clever.CREDENTIALS, "upcloud": upcloud.CREDENTIALS}
        self.control = control.Control(self)

    def provider_for(self, path):
        return next((p for p in (self.clever, self.upcloud) if p.owns(path)), None)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Clever Cloud + UpCloud API simulator")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--port-file", help="write the bound port number here once listening")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before every API response")
    parser.add_argument("--heartbeat-ms", type=int, default=2000, help="SSE heartbeat period")
    parser.add_argument("--now", type=parse_iso,
                        help="the 'now' of the data (default: the real clock at start)")
    parser.add_argument("--verbose", action="store_true", help="print one line per request")
    parser.add_argument("--apps", type=count, default=0, metavar="N",
                        help="add an organisation, Fleet Works, holding N generated applications")
    parser.add_argument("--subaccounts", type=count, default=0, metavar="N",
                        help="add N generated UpCloud subaccounts")
    parser.add_argument("--scale", type=factor, default=1, metavar="K",
                        help="about K times the seeded data of both providers (1: the seed as it is)")
    return parser.parse_args(argv)


def count(text):
    return whole_number(text, 0)


def factor(text):
    return whole_number(text, 1)


def whole_number(text, least):
    value = int(text)
    if value < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}")
    return value


def write_port_file(path, port):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    fleet = Fleet(args.apps, args.subaccounts, args.scale)
    sim = Sim(args.now or wall_clock(), args.latency_ms, args.heartbeat_ms, args.verbose, fleet)
    server = SimServer(("127.0.0.1", args.port), sim)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, server.server_address[1])
    if args.verbose:
        print(f"cloudsim listening on 127.0.0.1:{server.server_address[1]}", file=sys.stderr)
    while not stop.wait(3600):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
