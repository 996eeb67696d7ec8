"""Real tools over the mount (README "Caching and errors" and "Logs"): tar and rsync of the invoices
reproduce the API's bytes, grep -r finds a string and ends, find counts every
file, tar of the whole mount ends cleanly.
"""

import glob
import json
import os
import re
import subprocess
from datetime import datetime

TIMEOUT = 90


def iso_epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def invoice_files(state):
    """{relpath under orgs/: (kind, API path or object, accept, emission epoch)}."""
    files = {}
    for owner, invoices in state["clever"]["invoices"].items():
        for inv in invoices:
            number, emitted = inv["invoice_number"], iso_epoch(inv["emission_date"])
            files[f"{owner}/invoices/{number}.json"] = ("json", inv, None, emitted)
            for ext, accept in (("pdf", "application/pdf"), ("html", "text/html")):
                api = f"/v4/billing/organisations/{owner}/invoices/{number}.{ext}"
                files[f"{owner}/invoices/{number}.{ext}"] = ("raw", api, accept, emitted)
    return files


def expected_file_count(state):
    c = state["clever"]
    count = 1 + len(c["zones"])                      # self.json, zones/*.json
    for owner in [c["self"]] + c["organisations"]:
        oid = owner["id"]
        # org.json, invoices.csv, costs.svg, invoice .json .html .pdf
        count += 3 + 3 * len(c["invoices"][oid])
        for app in c["applications"][oid]:           # app.json, load-balancer.json, logs,
            aid = app["id"]                          # logs.jsonl, each deployment's and
            # instance's .json and log
            count += 4 + 2 * len(c["deployments"][aid]) + 2 * len(c["instances"][aid])
        for addon in c["addons"][oid]:
            count += 1 + (addon["provider"]["id"] == "addon-pulsar")
    return count


def check_copies(sim, state, dest, what):
    want = invoice_files(state)
    got = {os.path.relpath(p, dest) for p in glob.glob(os.path.join(dest, "*", "invoices", "*"))}
    assert got == set(want), (sorted(got ^ set(want)))
    for rel, (kind, source, accept, emitted) in sorted(want.items()):
        path = os.path.join(dest, rel)
        with open(path, "rb") as f:
            data = f.read()
        if kind == "json":
            assert json.loads(data) == source, f"{what}: {rel}"
        else:
            expected = sim.api(source, accept=accept)
            assert data == expected, f"{what}: {rel}: {len(data)} bytes, the API sends {len(expected)}"
        assert int(os.stat(path).st_mtime) == emitted, f"{what}: {rel}: mtime not kept"


def test_tar_of_every_invoice_reproduces_the_api_bytes(sim, clever, tmp_path):
    state = sim.state()
    dirs = sorted(os.path.relpath(d, clever.path) for d in glob.glob(clever.p("orgs", "*", "invoices")))
    assert len(dirs) == len(state["clever"]["invoices"])
    archive = tmp_path / "invoices.tar"
    done = subprocess.run(["tar", "-C", clever.path, "-cf", str(archive), *dirs],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(["tar", "-C", str(out), "-xf", str(archive)], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check_copies(sim, state, str(out / "orgs"), "tar")


def test_rsync_of_every_invoice_reproduces_the_api_bytes(sim, clever, tmp_path):
    state = sim.state()
    dest = tmp_path / "copy"
    sources = [f"{clever.path}/./orgs/{owner}/invoices" for owner in sorted(state["clever"]["invoices"])]
    done = subprocess.run(["rsync", "-a", "--relative", *sources, str(dest)], capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check_copies(sim, state, str(dest / "orgs"), "rsync")
    # a second run finds nothing to copy: sizes and mtimes are stable
    done = subprocess.run(["rsync", "-a", "--relative", "--itemize-changes", *sources, str(dest)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith(">f")] == []


def test_grep_r_finds_the_needle_in_its_app_json_and_ends(sim, clever):
    state = sim.state()["clever"]
    hits = [(owner, app) for owner, apps in state["applications"].items() for app in apps
            if re.search(r"needle-\w+", app["description"] or "")]
    assert len(hits) == 1, "the seed should hold one application description with a needle"
    owner, app = hits[0]
    needle = re.search(r"needle-\w+", app["description"]).group(0)
    done = subprocess.run(["grep", "-r", "-l", "-F", "--", needle, clever.path], capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [clever.p("orgs", owner, "apps", app["id"], "app.json")]


def test_find_counts_every_file(sim, clever):
    done = subprocess.run(f"find '{clever.path}' -type f | wc -l", shell=True, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert int(done.stdout) == expected_file_count(sim.state())


def test_tar_of_the_whole_mount_ends_cleanly(sim, clever, tmp_path):
    archive = tmp_path / "all.tar"
    done = subprocess.run(["tar", "-C", clever.path, "-cf", str(archive), "."], capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    listing = subprocess.run(["tar", "-tvf", str(archive)], capture_output=True, text=True,
                             timeout=TIMEOUT)
    files = [line for line in listing.stdout.splitlines() if line.startswith("-")]
    assert len(files) == expected_file_count(sim.state())
