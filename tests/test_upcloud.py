"""The UpCloud tree, read side (README "The UpCloud tree").

Every expectation comes from the simulator while the test runs: its state
(/_sim/state), bytes fetched directly from its API, and its request log.
Nothing is copied from the seed.
"""

import calendar
import csv
import errno
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import CLOUDFS, current_month, is_mounted, month_before, quiet, upcloud_env

SIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sim")
TEST_UA = "test_upcloud/1"
NETWORK_FILES = {
    # name: (API path, accumulate, Accept)
    "daily.json": ("/1.3/account/network_usage", "day", "application/json"),
    "daily.csv": ("/1.3/account/network_usage", "day", "text/csv"),
    "hourly.json": ("/1.3/account/network_usage", "hour", "application/json"),
    "hourly.csv": ("/1.3/account/network_usage", "hour", "text/csv"),
    "resources-daily.json": ("/1.3/account/resource_network_usage", "day", "application/json"),
    "resources-daily.csv": ("/1.3/account/resource_network_usage", "day", "text/csv"),
}


# -- helpers -----------------------------------------------------------------------------

def sim_get(sim, path, accept="application/json"):
    """(status, content type, raw bytes) of an UpCloud API path, fetched directly."""
    token = sim.credentials()["upcloud"]["token"]
    req = urllib.request.Request(sim.url + path, headers={
        "Accept": accept, "Authorization": "Bearer " + token, "User-Agent": TEST_UA})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def sim_bytes(sim, path, accept="application/json"):
    status, _, body = sim_get(sim, path, accept)
    assert status == 200, "the simulator answered %d to %s: %r" % (status, path, body)
    return body


def sim_json(sim, path):
    return json.loads(sim_bytes(sim, path))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def read_json(path):
    return json.loads(read(path))


def cloudfs_requests(sim):
    """The simulator's request log without the test's own direct fetches."""
    return [r for r in sim.requests() if r["headers"].get("user-agent") != TEST_UA]


def list_usernames(sim, query=""):
    body = sim_json(sim, "/1.3/account/list" + query)
    return [a["username"] for a in body["accounts"]["account"]]


def label_pairs(sim):
    body = sim_json(sim, "/1.3/account/list")
    pairs = []
    for account in body["accounts"]["account"]:
        for label in account["labels"]:
            pair = "%s=%s" % (label["key"], label["value"])
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def label_query(pair):
    return "?label=" + urllib.parse.quote(pair, safe="")


def listed_months():
    now = current_month()
    return sorted(month_before(now, n) for n in range(13))


def month_end(month):
    """The last second of a month, as the API's `to`."""
    year, mon = map(int, month.split("-"))
    return "%s-%02dT23:59:59Z" % (month, calendar.monthrange(year, mon)[1])


def hour_start(moment):
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


def parse_time(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def seed_csv_headers():
    """The CSV header lines of the simulator's metering module (the seed's)."""
    if SIM_DIR not in sys.path:
        sys.path.insert(0, SIM_DIR)
    import metering
    return {"/1.3/account/network_usage": metering.ACCOUNT_CSV,
            "/1.3/account/resource_network_usage": metering.RESOURCE_CSV}


def scalar_text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def is_scalar(value):
    return not isinstance(value, (dict, list))


def details_of(sim):
    return {name: body["account"] for name, body in sim.state()["upcloud"]["details"].items()}


def sim_serves_month(sim, month):
    return sim_get(sim, "/1.3/account/billing/summary/" + month)[0] == 200


def check_stable_size(path):
    """st_size before a read == len(read) == st_size after it."""
    before = os.stat(path).st_size
    data = read(path)
    after = os.stat(path).st_size
    assert before == len(data) == after, "%s: st_size %d before, %d after, %d bytes read" % (
        path, before, after, len(data))
    return data


# -- root, account.json --------------------------------------------------------------------

def test_root_lists_the_tree(upcloud):
    assert sorted(os.listdir(upcloud.path)) == ["account.json", "accounts", "billing", "labels",
                                                "network"]


def test_account_json_is_the_account_body(sim, upcloud):
    mine = json.loads(subprocess.run(["cat", upcloud.p("account.json")], check=True,
                                     capture_output=True).stdout)
    assert mine == sim_json(sim, "/1.3/account")
    assert mine == sim.state()["upcloud"]["account"]


# -- accounts/ ------------------------------------------------------------------------------

def check_listed_usernames(sim, m):
    out = subprocess.run(["ls", "-1", m.p("accounts")], check=True, capture_output=True,
                         text=True).stdout
    expected = list_usernames(sim)
    assert expected, "the simulator lists no account"
    assert sorted(out.split("\n")[:-1]) == sorted(expected)


def check_details_files(sim, m):
    details = sim.state()["upcloud"]["details"]
    for username in list_usernames(sim):
        mine = read_json(m.p("accounts", username, "details.json"))
        assert mine == sim_json(sim, "/1.3/account/details/" + username), username
        assert mine == details[username], username


def test_accounts_lists_exactly_the_usernames(sim, upcloud):
    check_listed_usernames(sim, upcloud)


def test_details_json_is_the_details_body(sim, upcloud):
    check_details_files(sim, upcloud)


def test_generated_subaccounts_are_listed_and_read(sim, fleet, mount_fs):
    fleet(subaccounts=3)
    m = mount_fs("upcloud")
    assert sum(name.startswith("fleet_") for name in list_usernames(sim)) == 3
    check_listed_usernames(sim, m)
    check_details_files(sim, m)


def test_scaled_subaccounts_labels_and_billing_resources(sim, fleet, mount_fs):
    seeded_accounts, seeded_pairs = list_usernames(sim), label_pairs(sim)
    seeded_resources = sim.state()["upcloud"]["metering"]["resources"]
    fleet(scale=2)
    m = mount_fs("upcloud")
    assert len(list_usernames(sim)) == 2 * len(seeded_accounts) - 1  # one main account
    check_listed_usernames(sim, m)
    check_details_files(sim, m)
    assert len(label_pairs(sim)) == 2 * len(seeded_pairs)
    assert sorted(os.listdir(m.p("labels"))) == sorted(label_pairs(sim))
    resources = sim.state()["upcloud"]["metering"]["resources"]
    assert len(resources) == 2 * len(seeded_resources)
    assert len(check_billing_month(sim, m, billing_month("outside"))) == len(resources)


def test_labels_and_roles_files(sim, upcloud):
    details = details_of(sim)
    seen_labels = seen_empty = seen_roles = False
    for username, account in details.items():
        labels = read(upcloud.p("accounts", username, "labels")).decode()
        expected = "".join("%s=%s\n" % (l["key"], l["value"]) for l in account["labels"])
        assert labels == expected, username
        seen_labels |= len(account["labels"]) > 1
        seen_empty |= not account["labels"]
        roles = read(upcloud.p("accounts", username, "roles")).decode()
        assert roles == "".join(role + "\n" for role in account["roles"]["role"]), username
        seen_roles |= len(account["roles"]["role"]) > 1
    # The data must exercise ordering and the empty case, or the test proves little.
    assert seen_labels and seen_empty and seen_roles


def check_account_dir(mount, username, account):
    names = set(os.listdir(mount.p("accounts", username)))
    scalars = {key for key, value in account.items() if is_scalar(value)}
    assert names == {"details.json", "labels", "roles"} | scalars, username
    for key in scalars:
        got = read(mount.p("accounts", username, key)).decode()
        assert got == scalar_text(account[key]) + "\n", (username, key)


def test_one_file_per_scalar_field(sim, upcloud):
    details = details_of(sim)
    for username, account in details.items():
        check_account_dir(upcloud, username, account)


def test_scalar_fields_numbers_null_and_nested_values(sim, mount_fs):
    """Numbers render as JSON, null as an empty line, objects/arrays get no file."""
    username = [u for u in list_usernames(sim) if u != sim_json(sim, "/1.3/account")
                ["account"]["username"]][0]
    extra = {"max_servers": 12, "credit_limit": 2500.75, "balance": -3, "nickname": None,
             "vat_number": None, "preferences": {"theme": "dark"}, "aliases": ["a", "b"]}
    for field, value in extra.items():
        sim.mutate(op="set_account_field", username=username, field=field, value=value)
    m = mount_fs("upcloud")
    account = sim_json(sim, "/1.3/account/details/" + username)["account"]
    assert all(account[k] == v for k, v in extra.items())
    check_account_dir(m, username, account)
    assert read(m.p("accounts", username, "max_servers")) == b"12\n"
    assert read(m.p("accounts", username, "nickname")) == b"\n"
    assert not os.path.exists(m.p("accounts", username, "preferences"))
    assert not os.path.exists(m.p("accounts", username, "aliases"))


# -- labels/ --------------------------------------------------------------------------------

def test_labels_lists_every_distinct_pair(sim, upcloud):
    expected = label_pairs(sim)
    assert expected
    assert sorted(os.listdir(upcloud.p("labels"))) == sorted(expected)


def test_label_dirs_hold_links_to_the_filtered_accounts(sim, upcloud):
    details = details_of(sim)
    for pair in label_pairs(sim):
        expected = list_usernames(sim, label_query(pair))
        assert expected, pair
        d = upcloud.p("labels", pair)
        assert sorted(os.listdir(d)) == sorted(expected), pair
        for username in expected:
            link = os.path.join(d, username)
            assert os.path.islink(link)
            assert os.readlink(link) == "../../accounts/" + username
            assert os.path.realpath(link) == os.path.realpath(upcloud.p("accounts", username))
            assert os.path.isdir(link)
            via = read_json(os.path.join(link, "details.json"))
            assert via == {"account": details[username]}, (pair, username)
    out = subprocess.run(["find", upcloud.p("labels"), "-type", "l"], check=True,
                         capture_output=True, text=True, timeout=20).stdout
    assert len(out.splitlines()) == sum(len(list_usernames(sim, label_query(p)))
                                        for p in label_pairs(sim))


def test_unused_label_pair_is_an_empty_dir(sim, upcloud):
    key = label_pairs(sim)[0].split("=")[0]
    pair = key + "=nobody-carries-this-value"
    assert list_usernames(sim, label_query(pair)) == []
    assert pair not in os.listdir(upcloud.p("labels"))
    assert os.path.isdir(upcloud.p("labels", pair))
    assert os.listdir(upcloud.p("labels", pair)) == []


def test_label_name_without_equals_is_enoent(sim, upcloud):
    key = label_pairs(sim)[0].split("=")[0]
    # The API itself accepts a bare key (accounts that have it); the tree does not.
    assert list_usernames(sim, "?label=" + urllib.parse.quote(key))
    with pytest.raises(FileNotFoundError):
        os.stat(upcloud.p("labels", key))
    r = subprocess.run(["ls", upcloud.p("labels", key)], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    assert r.returncode != 0 and "No such file or directory" in r.stderr


# -- billing/ and network/ months -----------------------------------------------------------

def test_billing_and_network_list_thirteen_months(upcloud):
    months = listed_months()
    assert len(months) == 13 and months[-1] == current_month()
    views = ["costs.csv", "costs.svg"]
    assert sorted(os.listdir(upcloud.p("billing"))) == months + views
    assert sorted(os.listdir(upcloud.p("network"))) == sorted(months + ["current.json"])
    out = subprocess.run(["ls", upcloud.p("billing")], check=True, capture_output=True,
                         text=True).stdout
    assert out.split() == months + views


def test_valid_month_outside_the_list_resolves(sim, upcloud):
    month = "2021-03"
    assert month not in listed_months()
    assert sim_serves_month(sim, month)
    assert os.path.isdir(upcloud.p("billing", month))
    assert os.path.isdir(upcloud.p("network", month))
    assert read_json(upcloud.p("billing", month, "summary.json")) == \
        sim_json(sim, "/1.3/account/billing/summary/" + month)
    assert month not in os.listdir(upcloud.p("billing"))


@pytest.mark.parametrize("name", ["2025-13", "2025-1", "abcd-ef", "2025-00", "202511", "2025-011"])
def test_invalid_month_is_enoent_without_request(sim, upcloud, name):
    os.listdir(upcloud.p("billing"))
    os.listdir(upcloud.p("network"))
    quiet(sim)
    sim.clear_requests()
    for top in ("billing", "network"):
        with pytest.raises(FileNotFoundError):
            os.stat(upcloud.p(top, name))
        r = subprocess.run(["ls", upcloud.p(top, name)], capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        assert r.returncode != 0 and "No such file or directory" in r.stderr
    with pytest.raises(FileNotFoundError):
        read(upcloud.p("billing", name, "summary.json"))
    with pytest.raises(FileNotFoundError):
        read(upcloud.p("network", name, "daily.json"))
    assert sim.requests() == []


def check_billing_month(sim, m, month):
    """billing/<month>/ holds the API's bodies; the resource ids its summary names."""
    base = m.p("billing", month)
    for name, path in [("summary.json", "/1.3/account/billing/summary/"),
                       ("legacy-summary.json", "/1.3/account/billing_summary/"),
                       ("legacy-detailed.json", "/1.3/account/billing_summary/%s/detailed")]:
        api_path = path % month if "%s" in path else path + month
        assert read_json(os.path.join(base, name)) == sim_json(sim, api_path), name
    summary = sim_json(sim, "/1.3/account/billing/summary/" + month)
    ids = [r["resource_id"] for group in summary.values() if isinstance(group, dict)
           for inner in group.values() if isinstance(inner, dict)
           for r in inner.get("resources", [])]
    assert ids
    assert sorted(os.listdir(os.path.join(base, "resources"))) == sorted(i + ".json" for i in ids)
    for uuid in ids:
        assert read_json(os.path.join(base, "resources", uuid + ".json")) == \
            sim_json(sim, "/1.3/account/resource_billing_summary/%s/%s" % (uuid, month)), uuid
    return ids


def billing_month(which):
    return {"current": current_month(), "past": month_before(current_month()),
            "outside": "2021-03"}[which]


@pytest.mark.parametrize("which", ["current", "past", "outside"])
def test_billing_month_files(sim, upcloud, which):
    check_billing_month(sim, upcloud, billing_month(which))


def test_network_current_json(sim, upcloud):
    assert read_json(upcloud.p("network", "current.json")) == \
        sim_json(sim, "/1.3/account/current_network_usage")


@pytest.mark.parametrize("which", ["current", "past", "outside"])
def test_network_month_files(sim, upcloud, which):
    month = billing_month(which)
    headers = seed_csv_headers()
    base = upcloud.p("network", month)
    quiet(sim)
    sim.clear_requests()
    # the listing's read-ahead may fetch the files: once each all the same
    hours = {hour_start(datetime.now(timezone.utc))}
    assert sorted(os.listdir(base)) == sorted(NETWORK_FILES)
    for name, (api_path, accumulate, accept) in NETWORK_FILES.items():
        hours.add(hour_start(datetime.now(timezone.utc)))
        data = read(os.path.join(base, name))
        hours.add(hour_start(datetime.now(timezone.utc)))
        made = [r for r in cloudfs_requests(sim) if r["path"] == api_path
                and urllib.parse.parse_qs(r["query"]).get("accumulate") == [accumulate]
                and r["headers"].get("accept", "").startswith(accept)]
        assert len(made) == 1, (name, made)
        req = made[0]
        assert req["status"] == 200, (name, req)
        query = urllib.parse.parse_qs(req["query"])
        assert query["from"] == [month + "-01T00:00:00Z"], name
        if month == current_month():
            assert query["to"][0] in hours, (name, query["to"], hours)
        else:
            assert query["to"] == [month_end(month)], name
        if accept == "application/json":
            window = parse_time(query["to"][0]) - parse_time(query["from"][0])
            assert window <= timedelta(days=31), name
        answer = sim_bytes(sim, api_path + "?" + req["query"], accept)
        if accept == "text/csv":
            assert data == answer, name
            rows = list(csv.DictReader(io.StringIO(data.decode())))
            header = data.decode().split("\n", 1)[0]
            assert header == headers[api_path], name
            assert list(csv.DictReader(io.StringIO(header + "\n")).fieldnames) == \
                headers[api_path].split(",")
            json_twin = json.loads(sim_bytes(sim, api_path + "?" + req["query"]))
            stats = json_twin["stats"]["stat"]
            assert [r["start time"] for r in rows] == [s["start_time"] for s in stats], name
            assert [int(r["sent bytes"]) for r in rows] == [s["sent_bytes"] for s in stats], name
        else:
            assert json.loads(data) == json.loads(answer), name
    assert not [r for r in sim.requests() if r["status"] == 400]
    assert " 400 " not in upcloud.output()


def test_network_of_the_past_month_has_data(sim, upcloud):
    """So that the comparisons above compare something."""
    month = month_before(current_month())
    stats = read_json(upcloud.p("network", month, "hourly.json"))["stats"]["stat"]
    year, mon = map(int, month.split("-"))
    # every hour of it, unless the simulator started in it (a run across a month end)
    if month < sim.state()["upcloud"]["metering"]["current_month"]:
        assert len(stats) == 24 * calendar.monthrange(year, mon)[1]


# -- exact sizes ----------------------------------------------------------------------------

def test_exact_sizes(upcloud):
    now, past = current_month(), month_before(current_month())
    checked = 0
    for top in ["accounts", "billing/" + now, "billing/" + past, "network/" + now, "network/" + past]:
        for dirpath, dirnames, filenames in os.walk(upcloud.p(top)):
            for name in filenames:
                check_stable_size(os.path.join(dirpath, name))
                checked += 1
    check_stable_size(upcloud.p("network", "current.json"))
    check_stable_size(upcloud.p("account.json"))
    for pair in os.listdir(upcloud.p("labels")):
        for username in os.listdir(upcloud.p("labels", pair)):
            link = upcloud.p("labels", pair, username)
            assert os.lstat(link).st_size == len(os.fsencode(os.readlink(link)))
            for name in os.listdir(link):
                check_stable_size(os.path.join(link, name))
                checked += 1
    assert checked > 100


# -- grep -r, ls -lR, request counts --------------------------------------------------------

def test_grep_finds_an_email(sim, upcloud):
    details = details_of(sim)
    username = sorted(details)[-1]
    email = details[username]["email"]
    assert sum(a["email"] == email for a in details.values()) == 1
    r = subprocess.run(["grep", "-rlF", email, upcloud.p("accounts")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(
        [upcloud.p("accounts", username, "details.json"), upcloud.p("accounts", username, "email")])


def test_ls_lR_twice_within_ttl_costs_nothing(sim, upcloud):
    first = subprocess.run(["ls", "-lR", upcloud.p("accounts")], check=True, capture_output=True,
                           text=True, timeout=30).stdout
    for username in list_usernames(sim):
        assert upcloud.p("accounts", username) + ":" in first
    sim.clear_requests()
    second = subprocess.run(["ls", "-lR", upcloud.p("accounts")], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    assert sim.requests() == []
    assert second == first


def test_cold_grep_costs_one_list_and_one_details_per_account(sim, upcloud):
    usernames = [a["username"] for a in sim.state()["upcloud"]["list"]["accounts"]["account"]]
    sim.latency(50)
    sim.clear_requests()
    start = time.monotonic()
    r = subprocess.run(["grep", "-r", "@", upcloud.p("accounts")], capture_output=True,
                       text=True, timeout=30)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    made = sim.requests()
    print("\ncold grep -r over accounts/ (%d accounts, 50 ms latency): %.3f s, %d requests"
          % (len(usernames), elapsed, len(made)))
    paths = sorted(req["path"] for req in made)
    assert paths == sorted(["/1.3/account/list"] +
                           ["/1.3/account/details/" + u for u in usernames])
    assert all(req["status"] == 200 and req["query"] == "" for req in made)


# -- credentials ----------------------------------------------------------------------------

def test_basic_auth_mounts_and_reads(sim, mount_fs, workdir):
    env = upcloud_env(sim, workdir, kind="basic")
    assert "UPCLOUD_TOKEN" not in env
    m = mount_fs("upcloud", env=env)
    assert read_json(m.p("account.json")) == sim_json(sim, "/1.3/account")
    made = cloudfs_requests(sim)
    assert made
    assert all(r["headers"]["authorization"].startswith("Basic ") for r in made)


def test_wrong_password_refuses_to_mount(sim, workdir):
    sim.reset()
    env = upcloud_env(sim, workdir, kind="basic")
    env["UPCLOUD_PASSWORD"] = "definitely-not-the-password"
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    try:
        r = subprocess.run([CLOUDFS, "upcloud", mnt, "-o", "api_url=" + sim.url], env=env,
                           capture_output=True, text=True, timeout=30)
        mounted = is_mounted(mnt)
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False)
    assert not mounted
    assert r.returncode != 0
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cloudfs: "), lines
    assert "definitely-not-the-password" not in lines[0]
    assert any(req["path"] == "/1.3/account" and req["status"] == 401 for req in sim.requests())


# -- errors ---------------------------------------------------------------------------------

def api_message(content_type, body):
    doc = json.loads(body)
    if "problem+json" in content_type:
        return doc["title"]
    return doc["error"]["error_message"]


@pytest.mark.parametrize("status,form,err", [
    (403, "problem", errno.EACCES), (403, "legacy", errno.EACCES),
    (404, "problem", errno.ENOENT), (404, "legacy", errno.ENOENT)])
def test_details_error_forms(sim, mount_fs, status, form, err):
    username = [a["username"] for a in sim.state()["upcloud"]["list"]["accounts"]["account"]
                if a["type"] == "sub"][0]
    path = "/1.3/account/details/" + username
    sim.fault(match="^" + path.replace(".", r"\.") + "$", kind="status", status=status,
              error_form=form, times=-1)
    got_status, content_type, body = sim_get(sim, path)
    assert got_status == status
    assert ("problem+json" in content_type) == (form == "problem")
    message = api_message(content_type, body)
    m = mount_fs("upcloud", expect_warnings=True)
    assert username in os.listdir(m.p("accounts"))
    with pytest.raises(OSError) as info:
        read(m.p("accounts", username, "details.json"))
    assert info.value.errno == err, os.strerror(info.value.errno)
    lines = [line for line in m.output().splitlines() if path in line]
    assert lines, m.output()
    assert any(message in line and str(status) in line for line in lines), lines


def test_real_problem_error_message_is_logged(sim, mount_fs):
    month = "2019-05"  # a valid month the API has no billing for
    status, content_type, body = sim_get(sim, "/1.3/account/billing/summary/" + month)
    assert status == 404 and "problem+json" in content_type
    message = api_message(content_type, body)
    m = mount_fs("upcloud", expect_warnings=True)
    with pytest.raises(FileNotFoundError):
        read(m.p("billing", month, "summary.json"))
    assert any(message in line for line in m.output().splitlines()), m.output()


def test_503_on_account_list_is_eio(sim, mount_fs):
    sim.fault(match=r"^/1\.3/account/list", kind="status", status=503, times=-1)
    m = mount_fs("upcloud", expect_warnings=True)
    r = subprocess.run(["ls", m.p("accounts")], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, LC_ALL="C"))
    assert r.returncode != 0
    assert "Input/output error" in r.stderr, r.stderr
    assert "No such file" not in r.stderr
    assert [q for q in sim.requests() if q["path"] == "/1.3/account/list" and q["status"] == 503]
