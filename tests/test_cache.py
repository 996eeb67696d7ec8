"""Caching (README "Caching and errors"): the TTL, listings that fill their children, the
short memory of a missing resource, SIGHUP, the persistent invoice cache, one
request for identical requests in flight, and parallel reads.

Request counts come from the simulator's request log (sim.requests()).
"""

import collections
import glob
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import clever_env, quiet

TIMEOUT = 60


def run(*cmd):
    done = subprocess.run(list(cmd), capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{cmd}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def read(path):
    with open(path, "rb") as f:
        return f.read()


def api_requests(sim):
    return [r for r in sim.requests() if r["method"] == "GET"]


def paths_of(requests):
    return [r["path"] for r in requests]


def unmount(m):
    """Unmount before the test ends (the fixture's own stop then finds it done)."""
    subprocess.run(["fusermount3", "-u", m.path], check=True, timeout=TIMEOUT)
    m.proc.wait(timeout=10)


def invoice_docs(state):
    """[(relpath, API path, accept)] of every invoice .pdf and .html."""
    docs = []
    for owner, invoices in state["clever"]["invoices"].items():
        for inv in invoices:
            number = inv["invoice_number"]
            for ext, accept in (("pdf", "application/pdf"), ("html", "text/html")):
                docs.append((f"orgs/{owner}/invoices/{number}.{ext}",
                             f"/v4/billing/organisations/{owner}/invoices/{number}.{ext}", accept))
    return docs


def cat_concurrently(paths):
    """Run one `cat` per path, all at once; return their outputs in order."""
    procs = [subprocess.Popen(["cat", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in paths]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err.decode(errors="replace")
        outs.append(out)
    return outs


# -- TTL -------------------------------------------------------------------------------------


def test_nothing_is_asked_twice_within_the_ttl(sim, clever):
    sim.clear_requests()
    run("ls", "-lR", clever.path)
    first = api_requests(sim)
    assert len(first) > 20
    repeated = [k for k, n in collections.Counter(
        (r["method"], r["path"], r["query"]) for r in first).items() if n > 1]
    assert not repeated, f"requests repeated within the TTL: {repeated}"
    sim.clear_requests()
    run("ls", "-lR", clever.path)
    assert paths_of(api_requests(sim)) == [], "the second ls -lR issued requests"
    run("grep", "-r", "-c", "--", "id", clever.path)
    run("find", clever.path, "-type", "f", "-exec", "cat", "{}", "+")
    assert paths_of(api_requests(sim)) == [], "grep -r, find or cat after ls -lR issued requests"


@pytest.mark.parametrize("which", ["zones", "deployments", "instances"])
def test_ls_l_of_a_listed_directory_costs_its_listing_only(sim, mount_fs, which):
    m = mount_fs("clever")
    state = sim.state()["clever"]
    sim.clear_requests()
    if which == "zones":
        os.listdir(m.path)
        target, listing = m.p("zones"), "/v4/products/zones"
    else:
        owner = state["organisations"][0]["id"]
        app = state["applications"][owner][0]["id"]
        for parts in [("orgs",), ("orgs", owner), ("orgs", owner, "apps"), ("orgs", owner, "apps", app)]:
            os.listdir(m.p(*parts))
        target = m.p("orgs", owner, "apps", app, which)
        listing = f"/v4/orchestration/organisations/{owner}/applications/{app}/{which}"
    before = len(api_requests(sim))
    out = run("ls", "-l", target).decode()
    # (the read-ahead of other directories may still be running)
    during = [p for p in paths_of(api_requests(sim)[before:])
              if p == listing or p.startswith(listing + "/")]
    # the listing, once, by ls or by the read-ahead of its parent; and
    # nothing per entry: the listing holds every entry's attributes
    assert during in ([], [listing]), during
    assert paths_of(api_requests(sim)).count(listing) == 1
    assert not [p for p in paths_of(api_requests(sim)) if p.startswith(listing + "/")]
    assert len(out.splitlines()) > 2


def test_listing_reads_ahead_one_level_down_and_never_a_live_stream(sim, mount_fs):
    m = mount_fs("clever")
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    v4 = f"/v4/orchestration/organisations/{owner}/applications/{app}"
    lb = f"/v4/load-balancers/organisations/{owner}/applications/{app}/load-balancers/default"
    os.listdir(m.p("orgs"))
    quiet(sim)
    sim.clear_requests()
    # listed by a process that did not list apps/: no walk, no siblings
    os.listdir(m.p("orgs", owner, "apps", app))
    quiet(sim)
    ahead = api_requests(sim)
    logs = f"/v4/logs/organisations/{owner}/applications/{app}/logs"
    # the apps list (for the path), then its files' fetches (the logs: a
    # snapshot, never the live stream) and its subdirectories' listings,
    # each once
    apps = f"/v2/organisations/{owner}/applications"
    assert sorted(paths_of(ahead)) == sorted([apps, lb, logs, v4 + "/deployments",
                                              v4 + "/instances"]), paths_of(ahead)
    assert all("until=" in r["query"] for r in ahead if r["path"] == logs)
    want = json.loads(sim.api(lb))
    sim.clear_requests()
    with open(m.p("orgs", owner, "apps", app, "load-balancer.json"), "rb") as f:
        assert json.loads(f.read()) == want
    os.stat(m.p("orgs", owner, "apps", app, "deployments"))
    assert paths_of(api_requests(sim)) == []


def deployment_snapshots(requests, owner, app):
    logs = f"/v4/logs/organisations/{owner}/applications/{app}/logs"
    return sorted(r["query"].split("deploymentId=")[1].split("&")[0] for r in requests
                  if r["path"] == logs and "deploymentId=" in r["query"])


def test_a_walk_reads_ahead_the_next_subdirectories_beside_the_one_it_enters(sim, mount_fs):
    m = mount_fs("clever")
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    base = m.p("orgs", owner, "apps", app)
    subdirs = [n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n))]
    assert subdirs.index("deployments") + 2 == subdirs.index("deployment-logs")
    quiet(sim)
    sim.clear_requests()
    # a walker in deployments/, which it found listing the application:
    # the next two subdirectories (instances/, deployment-logs/) come too
    os.listdir(os.path.join(base, "deployments"))
    quiet(sim)
    requests = api_requests(sim)
    deployments = sorted(os.listdir(os.path.join(base, "deployment-logs")))
    assert deployments
    assert deployment_snapshots(requests, owner, app) == deployments
    assert not any("instanceId=" in r["query"] for r in requests)
    assert all("until=" in r["query"] for r in requests if r["path"].endswith("/logs"))


def test_a_single_ls_of_a_subdirectory_reads_ahead_no_sibling(sim, mount_fs):
    m = mount_fs("clever")
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    os.listdir(m.p("orgs", owner, "apps"))
    quiet(sim)
    sim.clear_requests()
    os.listdir(m.p("orgs", owner, "apps", app, "deployments"))
    quiet(sim)
    assert deployment_snapshots(api_requests(sim), owner, app) == []


def test_log_snapshots_read_ahead_stay_within_max_conns(sim, mount_fs):
    m = mount_fs("clever", "max_conns=2")
    owner = sim.state()["clever"]["organisations"][0]["id"]
    sim.latency(100)
    try:
        sim.clear_requests()
        done = subprocess.run(["grep", "-r", "-F", "no file holds this",
                               m.p("orgs", owner, "apps")], capture_output=True, timeout=TIMEOUT)
        assert done.returncode == 1, done.stderr
        quiet(sim)
        log = [r for r in sim.requests() if "until=" in r["query"] or r["method"] != "GET"
               or not r["path"].endswith("/logs")]
    finally:
        sim.latency(0)
    assert sum("until=" in r["query"] for r in log) >= 4
    edges = sorted([(r["t_start"], 1) for r in log] + [(r["t_answer"], -1) for r in log])
    peak = now = 0
    for _, step in edges:  # at a tie, an answer goes before an arrival
        now += step
        peak = max(peak, now)
    assert peak <= 2


def test_the_mount_brings_the_owners_listing_beside_the_credentials_check(sim, mount_fs):
    quiet(sim)
    sim.clear_requests()
    # at 0 latency one answer may go out before the other request is read
    sim.latency(300)
    try:
        m = mount_fs("clever")
    finally:
        sim.latency(0)
    at_mount = api_requests(sim)
    assert sorted(paths_of(at_mount)) == ["/v2/organisations", "/v2/self"]
    first, second = sorted(at_mount, key=lambda r: r["t_start"])
    assert second["t_start"] < first["t_answer"]  # in flight at once
    sim.clear_requests()
    owners = os.listdir(m.p("orgs"))
    state = sim.state()["clever"]
    assert sorted(owners) == sorted(["by-name"] + [o["id"] for o in [state["self"]] + state["organisations"]])
    assert paths_of(api_requests(sim)) == []


def test_listing_accounts_reads_ahead_what_each_account_lists(sim, mount_fs):
    # an account's entries come from a lister that names the GET it lists
    # from: read-ahead fetches it, so a walk does not take them one by one
    m = mount_fs("upcloud")
    quiet(sim)
    sim.clear_requests()
    users = os.listdir(m.p("accounts"))
    quiet(sim)
    details = "/1.3/account/details/"
    ahead = [p for p in paths_of(api_requests(sim)) if p.startswith(details)]
    assert sorted(ahead) == sorted(details + u for u in users)
    sim.clear_requests()
    for u in users:
        os.listdir(m.p("accounts", u))
    assert paths_of(api_requests(sim)) == []


def test_ttl_expiry_fetches_again_and_keeps_the_mtime_of_unchanged_content(sim, mount_fs):
    m = mount_fs("clever", "ttl=1")
    zone = sim.state()["clever"]["zones"][0]["name"]
    paths = [m.p("self.json"), m.p("zones", zone + ".json")]
    first = {p: (read(p), os.stat(p).st_mtime) for p in paths}
    sim.clear_requests()
    for p in paths:   # within the TTL: nothing
        read(p)
    assert paths_of(api_requests(sim)) == []
    time.sleep(1.2)   # past the TTL, and into another second of the clock
    again = {p: (read(p), os.stat(p).st_mtime) for p in paths}
    assert set(paths_of(api_requests(sim))) == {"/v2/self", "/v4/products/zones"}
    assert again == first, "an unchanged file's content or mtime moved after a refetch"


def test_changed_invoice_shows_after_the_ttl_in_a_live_mount(sim, mount_fs):
    m = mount_fs("clever", "ttl=1")
    state = sim.state()
    owner = state["clever"]["organisations"][0]["id"]
    inv = state["clever"]["invoices"][owner][0]
    number = inv["invoice_number"]
    pdf = m.p("orgs", owner, "invoices", number + ".pdf")
    jpath = m.p("orgs", owner, "invoices", number + ".json")
    old = read(pdf)
    new_status = "REFUNDED" if inv["status"] != "REFUNDED" else "PAID"
    changed = sim.mutate(op="invoice_status", owner=owner, number=number, status=new_status)
    api_path = f"/v4/billing/organisations/{owner}/invoices/{number}.pdf"
    expected = sim.api(api_path, accept="application/pdf")
    assert expected != old
    deadline = time.monotonic() + 8
    while read(pdf) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read(pdf) == expected
    assert os.stat(pdf).st_size == len(expected)
    with open(jpath) as f:
        assert json.load(f) == changed


# -- missing resources ------------------------------------------------------------------------


def test_a_new_app_shows_up_within_seconds_not_after_the_ttl(sim, clever):
    owner = sim.state()["clever"]["organisations"][0]["id"]
    app_id = "app_" + str(uuid.uuid4())
    path = clever.p("orgs", owner, "apps", app_id)
    assert not os.path.exists(path)
    app = sim.mutate(op="add_app", owner=owner, app={"id": app_id, "name": "late-" + app_id[-6:]})
    start = time.monotonic()
    while not os.path.exists(path) and time.monotonic() - start < 8:
        time.sleep(0.2)
    assert os.path.exists(path), "a new application was still missing after 8 s (TTL 60 s)"
    with open(os.path.join(path, "app.json")) as f:
        assert json.load(f) == app


def test_a_404_is_remembered_about_3_seconds(sim, mount_fs):
    clever = mount_fs("clever", expect_warnings=True)   # a failed call is logged
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    api_path = f"/v4/load-balancers/organisations/{owner}/applications/{app}/load-balancers/default"
    # before the listing, whose read-ahead may be the one to meet it
    sim.fault(match="^" + api_path + "$", kind="status", status=404, times=1)
    os.listdir(clever.p("orgs", owner, "apps", app))
    path = clever.p("orgs", owner, "apps", app, "load-balancer.json")
    with pytest.raises(FileNotFoundError):
        os.stat(path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.stat(path)
            break
        except FileNotFoundError:
            time.sleep(0.1)
    with open(path) as f:
        assert json.load(f) == state["load_balancers"][app]
    starts = [r["t_start"] for r in sim.requests() if r["path"] == api_path]
    assert len(starts) == 2, f"{len(starts)} requests for {api_path}"
    gap = starts[1] - starts[0]
    assert 2.5 <= gap <= 6, f"the 404 was asked again after {gap:.2f} s, not after about 3 s"


# -- SIGHUP and the persistent invoice cache -----------------------------------------------------


def test_sighup_empties_the_memory_caches_but_not_the_invoice_cache(sim, clever):
    state = sim.state()
    zone = state["clever"]["zones"][0]["name"]
    rel, pdf_path, _ = invoice_docs(state)[0]
    paths = [clever.p("self.json"), clever.p("zones", zone + ".json"), clever.p(rel)]
    before = [read(p) for p in paths]
    sim.clear_requests()
    assert [read(p) for p in paths] == before
    assert paths_of(api_requests(sim)) == []
    clever.sighup()
    time.sleep(0.3)
    assert [read(p) for p in paths] == before
    asked = set(paths_of(api_requests(sim)))
    assert {"/v2/self", "/v4/products/zones"} <= asked, asked
    assert pdf_path not in asked, "SIGHUP dropped the persistent invoice cache"


def test_a_second_mount_reads_invoices_from_the_disk_cache(sim, mount_fs, workdir):
    env = clever_env(sim, workdir)
    docs = invoice_docs(sim.state())
    first = mount_fs("clever", env=env)
    got_first = {rel: read(first.p(rel)) for rel, _, _ in docs}
    unmount(first)
    assert os.path.isdir(os.path.join(env["XDG_CACHE_HOME"], "cloudfs"))
    sim.clear_requests()
    second = mount_fs("clever", env=env)
    got_second = {rel: read(second.p(rel)) for rel, _, _ in docs}
    asked = set(paths_of(api_requests(sim)))
    fetched = [api for _, api, _ in docs if api in asked]
    assert fetched == [], f"read again from the API: {fetched}"
    for rel, api, accept in docs:
        expected = sim.api(api, accept=accept)
        assert got_second[rel] == expected == got_first[rel], rel
        assert os.stat(second.p(rel)).st_size == len(expected), rel


def test_a_changed_invoice_is_fetched_again_the_others_are_not(sim, mount_fs, workdir):
    env = clever_env(sim, workdir)
    state = sim.state()
    pdfs = [d for d in invoice_docs(state) if d[0].endswith(".pdf")]
    first = mount_fs("clever", env=env)
    old = {rel: read(first.p(rel)) for rel, _, _ in pdfs}
    unmount(first)
    owner = state["clever"]["organisations"][-1]["id"]
    inv = state["clever"]["invoices"][owner][-1]
    new_status = "WONTPAY" if inv["status"] != "WONTPAY" else "PAID"
    sim.mutate(op="invoice_status", owner=owner, number=inv["invoice_number"], status=new_status)
    changed = f"/v4/billing/organisations/{owner}/invoices/{inv['invoice_number']}.pdf"
    sim.clear_requests()
    second = mount_fs("clever", env=env)
    new = {rel: read(second.p(rel)) for rel, _, _ in pdfs}
    asked = set(paths_of(api_requests(sim)))
    assert [api for _, api, _ in pdfs if api in asked] == [changed]
    for rel, api, accept in pdfs:
        expected = sim.api(api, accept=accept)
        assert new[rel] == expected, rel
        assert (new[rel] != old[rel]) == (api == changed), rel


# -- requests in flight ------------------------------------------------------------------------------


@pytest.mark.concurrency
def test_identical_requests_in_flight_are_made_once(sim, clever):
    state = sim.state()
    rel, api, accept = invoice_docs(state)[0]
    sim.latency(300)
    sim.clear_requests()
    outs = cat_concurrently([clever.p(rel)] * 8)
    asked = paths_of(api_requests(sim))
    sim.latency(0)
    assert asked.count(api) == 1, f"{asked.count(api)} requests for {api}"
    expected = sim.api(api, accept=accept)
    assert all(out == expected for out in outs)


@pytest.mark.concurrency
def test_listing_invoices_fetches_their_documents_in_parallel(sim, clever):
    """A PDF's size is in its bytes, and the kernel looks a directory's names
    up one at a time: listing invoices/ fetches its documents at once, so
    that readers of several of them never wait for one another."""
    state = sim.state()
    dirs = sorted(glob.glob(clever.p("orgs", "*", "invoices")))
    assert len(dirs) == 1 + len(state["clever"]["organisations"])
    docs = invoice_docs(state)
    sim.latency(300)
    sim.clear_requests()
    for d in dirs:
        run("ls", d)        # plain ls: the names, and attributes for the kernel
    log = api_requests(sim)
    sim.latency(0)
    for d in dirs:
        owner = os.path.basename(os.path.dirname(d))
        wanted = {api for rel, api, _ in docs if rel.startswith(f"orgs/{owner}/")}
        fetched = [r for r in log if r["path"] in wanted]
        assert sorted(r["path"] for r in fetched) == sorted(wanted)
        latest_start = max(r["t_start"] for r in fetched)
        earliest_end = min(r["t_end"] for r in fetched)
        assert latest_start < earliest_end, f"{d}: the documents were not all in flight at once"
    pdfs = [d for d in docs if d[0].endswith(".pdf")][:8]
    assert len(pdfs) == 8
    sim.clear_requests()
    outs = cat_concurrently([clever.p(rel) for rel, _, _ in pdfs])
    assert api_requests(sim) == []
    for out, (_, api, accept) in zip(outs, pdfs):
        assert out == sim.api(api, accept=accept)
