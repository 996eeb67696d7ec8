"""The Clever Cloud tree (README "The Clever Cloud tree") against the simulator's own data.

Every expectation is derived from sim.state() (and, for raw documents, from the
bytes the API itself serves), never copied from the seed: the tree, the JSON
content of every file, the raw invoice documents, exact sizes, modes, owners,
mtimes, symlinks and the user.cloudfs.* extended attributes.
"""

import errno
import json
import os
import re
import subprocess
import time
import uuid
from datetime import datetime

import pytest

TIMEOUT = 60
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- what the tree must hold, from the simulator's state ----------------------------


class Want:
    """One expected file: where its content comes from and what it must be."""

    def __init__(self, url, obj=None, accept=None, mtime=None, log=False, writable=False,
                 jsonl=False):
        self.url = url          # the API path of user.cloudfs.url
        self.obj = obj          # the JSON object the file holds (JSON files)
        self.accept = accept    # the Accept of the raw document (.html/.pdf)
        self.mtime = mtime      # the resource's own date, or None
        self.log = log          # a log snapshot: its url carries a query
        self.writable = writable  # 0644, opens for writing
        self.jsonl = jsonl      # a log snapshot as one JSON event a line


def iso_epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def entry_name(name):
    return name.replace("/", "_")


def expected_tree(state):
    """(files {relpath: Want}, links {relpath: target}, dirs {relpath},
    dir_urls {relpath: API path of the listing that names the directory})."""
    c = state["clever"]
    user = c["self"]
    files, links, dir_urls = {}, {}, {}
    dirs = {"", "zones", "orgs", "orgs/by-name"}
    files["self.json"] = Want("/v2/self", obj=user)
    for zone in c["zones"]:
        files[f"zones/{zone['name']}.json"] = Want("/v4/products/zones", obj=zone)
    for owner in [user] + c["organisations"]:
        oid = owner["id"]
        personal = owner is user
        v2 = "/v2/self" if personal else f"/v2/organisations/{oid}"
        base = f"orgs/{oid}"
        dirs |= {base, f"{base}/invoices", f"{base}/apps", f"{base}/apps/by-name", f"{base}/addons",
                 f"{base}/addons/by-name"}
        if not personal:
            dir_urls[base] = "/v2/organisations"
        links[f"orgs/by-name/{entry_name(owner['name'])}"] = f"../{oid}"
        files[f"{base}/org.json"] = Want(v2, obj=owner)
        invoices = f"/v4/billing/organisations/{oid}/invoices"
        emitted = [iso_epoch(inv["emission_date"]) for inv in c["invoices"][oid]]
        # views of the invoice list (test_views checks their content)
        files[f"{base}/invoices.csv"] = Want(invoices, mtime=max(emitted, default=None))
        files[f"{base}/costs.svg"] = Want(invoices)
        for inv in c["invoices"][oid]:
            number, emitted = inv["invoice_number"], iso_epoch(inv["emission_date"])
            files[f"{base}/invoices/{number}.json"] = Want(invoices, obj=inv, mtime=emitted)
            for ext, accept in (("html", "text/html"), ("pdf", "application/pdf")):
                files[f"{base}/invoices/{number}.{ext}"] = Want(f"{invoices}/{number}.{ext}",
                                                                accept=accept, mtime=emitted)
        apps = f"{v2}/applications"
        for app in c["applications"][oid]:
            aid = app["id"]
            adir = f"{base}/apps/{aid}"
            # log-search/ lists nothing: its files exist only when named
            dirs |= {adir, f"{adir}/deployments", f"{adir}/instances", f"{adir}/instances/deleted",
                     f"{adir}/deployment-logs", f"{adir}/instance-logs", f"{adir}/log-search"}
            logs = f"/v4/logs/organisations/{oid}/applications/{aid}/logs"
            files[f"{adir}/logs"] = Want(logs, log=True)
            files[f"{adir}/logs.jsonl"] = Want(logs, log=True, jsonl=True)
            dir_urls[adir] = apps
            links[f"{base}/apps/by-name/{entry_name(app['name'])}"] = f"../{aid}"
            files[f"{adir}/app.json"] = Want(apps, obj=app, mtime=app["creationDate"] // 1000)
            orch = f"/v4/orchestration/organisations/{oid}/applications/{aid}"
            for dep in c["deployments"][aid]:
                files[f"{adir}/deployments/{dep['id']}.json"] = Want(
                    f"{orch}/deployments", obj=dep, mtime=iso_epoch(dep["startDate"]))
                files[f"{adir}/deployment-logs/{dep['id']}"] = Want(logs, log=True)
            for inst in c["instances"][aid]:
                sub = "instances/deleted" if inst["state"] == "DELETED" else "instances"
                files[f"{adir}/{sub}/{inst['id']}.json"] = Want(
                    f"{orch}/instances", obj=inst, mtime=iso_epoch(inst["creationDate"]))
                files[f"{adir}/instance-logs/{inst['id']}"] = Want(logs, log=True)
            files[f"{adir}/load-balancer.json"] = Want(
                f"/v4/load-balancers/organisations/{oid}/applications/{aid}/load-balancers/default",
                obj=c["load_balancers"][aid])
        addons = f"{v2}/addons"
        for addon in c["addons"][oid]:
            ddir = f"{base}/addons/{addon['id']}"
            dirs.add(ddir)
            dir_urls[ddir] = addons
            links.setdefault(f"{base}/addons/by-name/{entry_name(addon['name'])}", f"../{addon['id']}")
            files[f"{ddir}/addon.json"] = Want(addons, obj=addon, mtime=addon["creationDate"] // 1000)
            if addon["provider"]["id"] == "addon-pulsar":
                files[f"{ddir}/storage-policies.json"] = Want(
                    f"/v4/addon-providers/addon-pulsar/addons/{addon['realId']}/storage-policies",
                    obj=c["storage_policies"][addon["realId"]], writable=True)
    return files, links, dirs, dir_urls


def writable_dirs(files):
    """Directories holding a writable file: 0755."""
    return {os.path.dirname(rel) for rel, want in files.items() if want.writable}


# -- what the mount holds ------------------------------------------------------------


def walk(root):
    """(files, links {relpath: target}, dirs) of the mount, without following links."""
    files, links, dirs = set(), {}, {""}
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(os.path.join(root, rel)) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_symlink():
                    links[path] = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.add(path)
                    pending.append(path)
                else:
                    files.add(path)
    return files, links, dirs


def cat(path):
    done = subprocess.run(["cat", path], capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"cat {path}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def stat_all(paths):
    """{path: (size, octal mode, uid, gid, mtime, type)} from one stat(1) run (no -L)."""
    out = subprocess.run(["stat", "--printf", "%n\t%s\t%a\t%u\t%g\t%Y\t%F\n", "--", *paths],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    result = {}
    for line in out.stdout.splitlines():
        name, size, mode, uid, gid, mtime, kind = line.split("\t")
        kind = "regular file" if kind == "regular empty file" else kind  # an empty log
        result[name] = (int(size), int(mode, 8), int(uid), int(gid), int(mtime), kind)
    return result


# -- the shape of the tree -------------------------------------------------------------


def check_tree(sim, m):
    files, links, dirs, _ = expected_tree(sim.state())
    got_files, got_links, got_dirs = walk(m.path)
    assert got_dirs == dirs, (sorted(got_dirs - dirs), sorted(dirs - got_dirs))
    assert got_files == set(files), (sorted(got_files - set(files)), sorted(set(files) - got_files))
    assert got_links == links


def test_tree_is_exactly_what_the_simulator_holds(sim, clever):
    check_tree(sim, clever)


def test_generated_apps_are_shaped_like_the_seeded_ones(sim, fleet, mount_fs):
    fleet(apps=3)
    m = mount_fs("clever")
    org = sim.state()["clever"]["organisations"][-1]
    assert len(os.listdir(m.p("orgs", org["id"], "apps"))) == 3 + 1  # and by-name
    check_tree(sim, m)
    assert check_json_files(sim, m, "orgs/%s/" % org["id"]) > 3  # org.json, app.json...


def test_scaled_data_is_shaped_like_the_seeded(sim, fleet, mount_fs):
    seeded = sim.state()["clever"]
    fleet(scale=3)
    scaled = sim.state()["clever"]
    for table in ("applications", "addons", "invoices"):
        for owner, items in seeded[table].items():
            assert len(scaled[table][owner]) == 3 * len(items), (table, owner)
    m = mount_fs("clever")
    check_tree(sim, m)
    assert check_json_files(sim, m)


def test_ls_lists_root_orgs_and_by_name(sim, clever):
    state = sim.state()["clever"]
    owners = [state["self"]] + state["organisations"]

    def ls(*parts):
        done = subprocess.run(["ls", "-1", "-A", clever.p(*parts)], capture_output=True, text=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        return set(done.stdout.splitlines())

    assert ls() == {"self.json", "zones", "orgs"}
    assert ls("orgs") == {o["id"] for o in owners} | {"by-name"}
    assert ls("orgs", "by-name") == {entry_name(o["name"]) for o in owners}
    assert ls("zones") == {z["name"] + ".json" for z in state["zones"]}


def test_by_name_links_resolve_to_their_owner_app_and_addon(sim, clever):
    state = sim.state()["clever"]
    checked_addons = 0
    for owner in [state["self"]] + state["organisations"]:
        link = clever.p("orgs", "by-name", entry_name(owner["name"]))
        assert os.readlink(link) == "../" + owner["id"]
        with open(os.path.join(link, "org.json")) as f:
            assert json.load(f) == owner
        for app in state["applications"][owner["id"]]:
            alink = clever.p("orgs", owner["id"], "apps", "by-name", entry_name(app["name"]))
            assert os.readlink(alink) == "../" + app["id"]
            with open(os.path.join(alink, "app.json")) as f:
                assert json.load(f) == app
        first_named = {}
        for addon in state["addons"][owner["id"]]:
            first_named.setdefault(entry_name(addon["name"]), addon)
        for name, addon in first_named.items():
            dlink = clever.p("orgs", owner["id"], "addons", "by-name", name)
            assert os.readlink(dlink) == "../" + addon["id"]
            with open(os.path.join(dlink, "addon.json")) as f:
                assert json.load(f) == addon
            checked_addons += 1
    assert checked_addons == sum(len(a) for a in state["addons"].values()), \
        "two add-ons of one owner share a name in the seed"


def test_slash_in_a_name_becomes_underscore(sim, mount_fs):
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app_id = "app_" + str(uuid.uuid4())
    app = sim.mutate(op="add_app", owner=owner, app={"id": app_id, "name": "team/api"})
    m = mount_fs("clever")
    by_name = m.p("orgs", owner, "apps", "by-name")
    names = os.listdir(by_name)
    assert entry_name(app["name"]) in names and app["name"] not in names, names
    assert os.readlink(os.path.join(by_name, entry_name(app["name"]))) == "../" + app_id
    with open(os.path.join(by_name, entry_name(app["name"]), "app.json")) as f:
        assert json.load(f) == app


def test_deleted_instances_only_under_instances_deleted(sim, clever):
    state = sim.state()["clever"]
    checked = 0
    for owner, apps in state["applications"].items():
        for app in apps:
            instances = state["instances"][app["id"]]
            adir = clever.p("orgs", owner, "apps", app["id"], "instances")
            live = {i["id"] + ".json" for i in instances if i["state"] != "DELETED"}
            gone = {i["id"] + ".json" for i in instances if i["state"] == "DELETED"}
            assert set(os.listdir(adir)) == live | {"deleted"}
            assert set(os.listdir(os.path.join(adir, "deleted"))) == gone
            checked += len(gone)
    assert checked, "the seed has no deleted instance to check"


def test_storage_policies_only_in_pulsar_addons(sim, clever):
    state = sim.state()["clever"]
    seen = {True: 0, False: 0}
    for owner, addons in state["addons"].items():
        for addon in addons:
            pulsar = addon["provider"]["id"] == "addon-pulsar"
            path = clever.p("orgs", owner, "addons", addon["id"], "storage-policies.json")
            assert os.path.exists(path) == pulsar, path
            seen[pulsar] += 1
    assert seen[True] and seen[False]


def test_unknown_names_are_enoent(sim, clever):
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    missing = [("zones", "nowhere.json"), ("orgs", "orga_" + str(uuid.uuid4())),
               ("orgs", owner, "apps", "app_" + str(uuid.uuid4())),
               ("orgs", owner, "invoices", "F19700101-000000.pdf"),
               ("orgs", owner, "nothing-here")]
    for parts in missing:
        with pytest.raises(FileNotFoundError):
            os.stat(clever.p(*parts))


# -- content ---------------------------------------------------------------------------------


def check_json_files(sim, m, under=""):
    """Every JSON file (under that directory) holds its object; how many there were."""
    files, _, _, _ = expected_tree(sim.state())
    checked = 0
    for rel, want in sorted(files.items()):
        if want.obj is None or not rel.startswith(under):
            continue
        text = cat(m.p(rel)).decode("utf-8")
        assert json.loads(text) == want.obj, rel
        lines = text.split("\n")
        assert text.endswith("}\n") or text.endswith("]\n"), rel
        assert lines[1].startswith("  ") and not lines[1].startswith("   "), \
            f"{rel}: not indented by 2 spaces: {lines[1]!r}"
        checked += 1
    return checked


def test_json_files_hold_the_simulator_objects(sim, clever):
    assert check_json_files(sim, clever) > 50


def test_invoice_documents_are_the_api_bytes(sim, clever):
    files, _, _, _ = expected_tree(sim.state())
    raw = {rel: want for rel, want in files.items() if want.accept}
    assert raw
    for rel, want in sorted(raw.items()):
        expected = sim.api(want.url, accept=want.accept)
        got = cat(clever.p(rel))
        assert got == expected, f"{rel}: {len(got)} bytes, the API sends {len(expected)}"
    # the large invoice is the one that needs many reads
    large = sim.state()["sim"]["large_invoice"]
    rel = f"orgs/{large['owner']}/invoices/{large['number']}.pdf"
    assert len(cat(clever.p(rel))) > 300 * 1024


def test_sizes_exact_and_stable_before_and_after_reading(sim, clever):
    files, links, _, _ = expected_tree(sim.state())
    paths = [clever.p(rel) for rel in sorted(files)]

    def snapshot():
        return {p: (st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p in paths for st in [os.stat(p)]}

    before = snapshot()   # first contact: a stat, no read yet
    time.sleep(1.1)       # a re-stamp would show as a different second
    for p in paths:
        data = cat(p)
        assert before[p][0] == len(data), f"{p}: st_size {before[p][0]} before reading, read {len(data)}"
        with open(p, "rb") as f:
            assert os.fstat(f.fileno()).st_size == len(data), p
    assert snapshot() == before, "reading moved a size, an mtime or a ctime"
    for p in paths:
        with open(p, "rb") as f:
            f.read()
    assert snapshot() == before, "reading moved a size, an mtime or a ctime"
    for rel, target in links.items():
        assert os.lstat(clever.p(rel)).st_size == len(target.encode()), rel


def test_modes_owner_and_mtimes(sim, mount_fs):
    files, links, dirs, _ = expected_tree(sim.state())
    t_mount = time.time()
    m = mount_fs("clever")
    want = {m.p(rel): (0o644 if w.writable else 0o444, "regular file") for rel, w in files.items()}
    want.update({m.p(rel): (0o777, "symbolic link") for rel in links})
    rw = writable_dirs(files)
    assert rw, "the seed has no writable file (the Pulsar storage policies)"
    want.update({m.p(rel) if rel else m.path: (0o755 if rel in rw else 0o555, "directory")
                 for rel in dirs})
    got = stat_all(sorted(want))
    now = time.time()
    assert set(got) == set(want)
    for path, (mode, kind) in want.items():
        _, gmode, uid, gid, _, gkind = got[path]
        assert (gmode, gkind) == (mode, kind), path
        assert (uid, gid) == (os.getuid(), os.getgid()), path
    for rel, expect in files.items():
        mtime = got[m.p(rel)][4]
        lines = cat(m.p(rel)).decode().splitlines() if expect.log else []
        if expect.mtime is not None:
            assert mtime == expect.mtime, f"{rel}: mtime {mtime}, the resource's date is {expect.mtime}"
        elif lines:
            last = json.loads(lines[-1])["date"] if expect.jsonl else lines[-1].split(" ")[0]
            newest = iso_epoch(last)
            assert mtime == newest, f"{rel}: mtime {mtime}, its newest event's date is {newest}"
        else:
            assert int(t_mount) <= mtime <= now + 1, f"{rel}: mtime {mtime} is not when it was first seen"
    for rel in dirs:
        mtime = got[m.p(rel) if rel else m.path][4]
        assert int(t_mount) <= mtime <= now + 1, f"{rel or '/'}: mtime {mtime} is not when it was first seen"


def one_file_of_each_kind(files):
    """One path per route of the tree (the path with its ids replaced)."""
    kinds = {}
    for rel in sorted(files):
        kind = re.sub(r"(user|orga|app|addon|deployment|instance)_[0-9a-f-]+", r"\1", rel)
        kind = re.sub(r"F\d{8}-\d{6}", "F", kind)
        kinds.setdefault(kind, rel)
    return sorted(kinds.values())


def test_opening_for_writing_is_eacces(sim, clever):
    files, _, _, _ = expected_tree(sim.state())
    chosen = one_file_of_each_kind({rel: w for rel, w in files.items() if not w.writable})
    assert len(chosen) >= 14
    for rel in chosen:
        path = clever.p(rel)
        with open(path, "rb") as f:
            before = f.read()
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC):
            with pytest.raises(PermissionError) as err:
                os.close(os.open(path, flags))
            assert err.value.errno == errno.EACCES, (rel, flags)
        with open(path, "rb") as f:
            assert f.read() == before, rel


# -- extended attributes -------------------------------------------------------------------


def xattrs(path):
    names = os.listxattr(path)
    return {name: os.getxattr(path, name).decode() for name in names if name.startswith("user.cloudfs.")}


def check_provenance(sim, path, url_path, log, t_before, what, query=False):
    """query: the url is url_path plus a query (log snapshots)."""
    attrs = xattrs(path)
    if query:
        assert attrs.get("user.cloudfs.url", "").startswith(sim.url + url_path + "?"), \
            f"{what}: {attrs}"
    else:
        assert attrs.get("user.cloudfs.url") == sim.url + url_path, f"{what}: {attrs}"
    requests = [r for r in log if r["path"] == url_path]
    ids = {r["request_id"] for r in requests}
    rid = attrs.get("user.cloudfs.request_id")
    assert rid in ids, f"{what}: request_id {rid!r} is not one the API sent for {url_path} ({ids})"
    fetched = attrs.get("user.cloudfs.fetched_at", "")
    assert ISO_Z.match(fetched), f"{what}: fetched_at {fetched!r}"
    request = next(r for r in requests if r["request_id"] == rid)
    at = iso_epoch(fetched)
    assert int(request["t_start"]) - 1 <= at <= request["t_end"] + 1, \
        f"{what}: fetched_at {fetched} but the request ran at {request['t_start']}"
    assert t_before - 1 <= at, what


def test_xattrs_of_every_file(sim, mount_fs):
    files, _, _, _ = expected_tree(sim.state())
    t_before = time.time()
    m = mount_fs("clever")
    for rel in sorted(files):
        cat(m.p(rel))
    log = sim.requests()
    for rel, want in sorted(files.items()):
        check_provenance(sim, m.p(rel), want.url, log, t_before, rel, query=want.log)


def test_xattrs_with_getfattr(sim, clever):
    files, _, _, _ = expected_tree(sim.state())
    rel = next(r for r in sorted(files) if r.endswith(".pdf"))
    cat(clever.p(rel))
    done = subprocess.run(["getfattr", "--absolute-names", "-d", "-m", "^user\\.cloudfs\\.", clever.p(rel)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    got = dict(re.findall(r'^(user\.cloudfs\.[a-z_]+)="(.*)"$', done.stdout, re.M))
    assert got == xattrs(clever.p(rel))
    assert got["user.cloudfs.url"] == sim.url + files[rel].url


def test_xattrs_of_listed_directories_and_none_on_the_root(sim, mount_fs):
    _, _, _, dir_urls = expected_tree(sim.state())
    t_before = time.time()
    m = mount_fs("clever")
    walk(m.path)
    log = sim.requests()
    for rel, url_path in sorted(dir_urls.items()):
        check_provenance(sim, m.p(rel), url_path, log, t_before, rel)
    user = sim.state()["clever"]["self"]["id"]
    personal = xattrs(m.p("orgs", user)).get("user.cloudfs.url")
    assert personal in (sim.url + "/v2/self", sim.url + "/v2/organisations"), personal
    for name in ("user.cloudfs.url", "user.cloudfs.request_id", "user.cloudfs.fetched_at"):
        with pytest.raises(OSError) as err:
            os.getxattr(m.path, name)
        assert err.value.errno == errno.ENODATA, name
    assert not [n for n in os.listxattr(m.path) if n.startswith("user.cloudfs.")]
