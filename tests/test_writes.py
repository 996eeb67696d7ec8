"""Writes through the mount (README "Writing" and "What each operation does").

UpCloud: labels, roles, each modifiable field and details.json are sent as
PUT /1.3/account/details/{username} with {"account": {...}}; a new
accounts/<username>.json as POST /1.3/account/sub; rmdir accounts/<username>
as DELETE /1.3/account/sub/{username}.  Clever Cloud: the Pulsar add-on's
storage-policies.json as PATCH.  Every test asserts the exact request the
simulator received (its body parsed as JSON) and what the next read shows.

Expectations come from the simulator while the test runs (/_sim/state and
its request log); the values written are the test's own.  Errors are checked
with Python's open()/write()/close(): a shell redirection hides the errno of
close.
"""

import errno
import json
import os
import select
import stat
import subprocess
import sys

import pytest

from conftest import settled_writes, wait_for, write_requests

DETAILS = "/1.3/account/details/%s"

# The one-line fields "Modify account details" accepts, and a valid new value
# for each (different from every seeded value: checked by the test).
NEW_VALUES = {
    "first_name": "Eeva",
    "last_name": "Mäkelä",
    "company": "Kuutio Oy",
    "address": "Aleksanterinkatu 5 A",
    "postal_code": "33100",
    "city": "Tampere",
    "state": "Pirkanmaa",
    "country": "SWE",
    "currency": "USD",
    "language": "fi",
    "phone": "+358.409876543",
    "email": "eeva@acme.example",
    "vat_number": "FI12345678",
    "timezone": "Europe/Paris",
    "allow_api": "no",
    "allow_gui": "yes",
    "enable_3rd_party_services": "no",
}
MODIFIABLE = tuple(NEW_VALUES)
READ_ONLY_FIELDS = ("username", "type", "main_account")

# A sub_account body the API accepts (username comes from the file name).
NEW_SUB = {"password": "Sup3r-secret-42", "email": "uusi@acme.example", "phone": "+358.401112223",
           "currency": "EUR", "language": "en", "timezone": "Europe/Helsinki",
           "first_name": "Uusi", "last_name": "Tili"}


# -- helpers -----------------------------------------------------------------------------

def nothing_sent(sim):
    assert settled_writes(sim, 0) == []


def the_request(sim, method, path):
    """The body (parsed) of the one write request, which must be `method path`."""
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"]) for r in w] == [(method, path)], w
    return json.loads(w[0]["body"]) if w[0]["body"] else None


def accounts(sim):
    return {name: d["account"] for name, d in sim.state()["upcloud"]["details"].items()}


def account(sim, username):
    return accounts(sim)[username]


def main_username(sim):
    return sim.state()["upcloud"]["account"]["account"]["username"]


def labelled_sub(sim):
    """A subaccount with at least two labels and one role."""
    return next(name for name, a in sorted(accounts(sim).items())
                if a["type"] == "sub" and len(a["labels"]) >= 2 and a["roles"]["role"])


def labels_text(labels):
    return "".join("%s=%s\n" % (label["key"], label["value"]) for label in labels)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write_file(path, data, mode="w"):
    """open()/write()/close(); the errno close() raised, or 0."""
    f = open(path, mode, encoding="utf-8")
    f.write(data)
    try:
        f.close()
    except OSError as err:
        return err.errno
    return 0


def refused(sim, path, content):
    """Writes content to an existing file: close() fails with EINVAL, nothing
    is sent and the file reads as before; returns what it read before."""
    before = read(path)
    assert write_file(path, content) == errno.EINVAL
    nothing_sent(sim)
    assert read(path) == before
    return before


def oserror(fn, *args):
    """The errno fn(*args) raised, or 0."""
    try:
        fn(*args)
    except OSError as err:
        return err.errno
    return 0


def sh(cmd, cwd, env=None, timeout=30):
    """A shell command, never interactive; it must succeed."""
    proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, "%s: %s%s" % (cmd, proc.stdout, proc.stderr)
    return proc.stdout


def mode_of(path):
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)


def pulsar_dir(mount):
    """The directory of the (first) Pulsar add-on and its realId."""
    orgs = mount.p("orgs")
    for owner in sorted(os.listdir(orgs)):
        if owner == "by-name":
            continue
        addons = os.path.join(orgs, owner, "addons")
        for addon in sorted(os.listdir(addons)):
            d = os.path.join(addons, addon)
            if "storage-policies.json" in os.listdir(d):
                with open(os.path.join(d, "addon.json")) as f:
                    return d, json.load(f)["realId"]
    raise AssertionError("no Pulsar add-on under orgs/*/addons/")


def policies_path(real_id):
    return "/v4/addon-providers/addon-pulsar/addons/%s/storage-policies" % real_id


# -- modes -------------------------------------------------------------------------------

def test_upcloud_modes(sim, upcloud):
    d = stat.S_IFDIR
    r = stat.S_IFREG
    assert mode_of(upcloud.path) == (d, 0o555)
    assert mode_of(upcloud.p("account.json")) == (r, 0o444)
    assert mode_of(upcloud.p("accounts")) == (d, 0o755)
    for top in ("labels", "billing", "network"):
        assert mode_of(upcloud.p(top)) == (d, 0o555), top
    for pair in os.listdir(upcloud.p("labels")):
        assert mode_of(upcloud.p("labels", pair)) == (d, 0o555), pair
    users = accounts(sim)
    assert sorted(os.listdir(upcloud.p("accounts"))) == sorted(users)
    for user, details in users.items():
        assert mode_of(upcloud.p("accounts", user)) == (d, 0o755), user
        names = os.listdir(upcloud.p("accounts", user))
        assert set(MODIFIABLE) | {"details.json", "labels", "roles"} <= set(names)
        for name in names:
            want = 0o644 if name in MODIFIABLE + ("details.json", "labels", "roles") else 0o444
            assert mode_of(upcloud.p("accounts", user, name)) == (r, want), (user, name)
        for name in READ_ONLY_FIELDS:
            assert (name in names) == (name in details), (user, name)


def test_clever_modes(clever):
    d = stat.S_IFDIR
    addon_dir, _ = pulsar_dir(clever)
    assert mode_of(clever.path) == (d, 0o555)
    assert mode_of(clever.p("orgs")) == (d, 0o555)
    assert mode_of(os.path.dirname(addon_dir)) == (d, 0o555)
    assert mode_of(addon_dir) == (d, 0o755)
    assert mode_of(os.path.join(addon_dir, "storage-policies.json")) == (stat.S_IFREG, 0o644)
    assert mode_of(os.path.join(addon_dir, "addon.json")) == (stat.S_IFREG, 0o444)
    others = [a for a in os.listdir(os.path.dirname(addon_dir))
              if a != os.path.basename(addon_dir)]
    assert others, "the owner of the Pulsar add-on has no other add-on"
    for other in others:
        path = os.path.join(os.path.dirname(addon_dir), other)
        assert mode_of(path) == (d, 0o555), other
        assert "storage-policies.json" not in os.listdir(path)


def test_read_only_files_cannot_be_opened_for_writing(sim, upcloud):
    path = upcloud.p("account.json")
    before = read(path)
    for mode in ("w", "a", "r+"):
        assert oserror(open, path, mode) == errno.EACCES, mode
    assert oserror(os.truncate, path, 0) == errno.EACCES
    assert oserror(os.unlink, path) == errno.EACCES
    assert read(path) == before
    nothing_sent(sim)


def test_a_field_that_cannot_be_modified_is_einval_with_nothing_sent(sim, mount_fs):
    # a field that cannot be modified: EINVAL and zero requests;
    # the file stays 0444, and unlinking it is refused
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    for field in READ_ONLY_FIELDS:
        path = m.p("accounts", user, field)
        before = read(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444, field
        for mode in ("w", "a"):
            assert write_file(path, "changed\n", mode) == errno.EINVAL, (field, mode)
        assert oserror(os.truncate, path, 0) == errno.EINVAL, field
        assert oserror(os.unlink, path) == errno.EACCES, field
        assert read(path) == before, field
    nothing_sent(sim)
    assert "does not allow changing it" in m.output()


def test_create_outside_writable_directories_is_refused(sim, upcloud):
    for parts in (("new.txt",), ("billing", "new.txt"), ("labels", "new.txt"), ("network", "x")):
        path = upcloud.p(*parts)
        assert oserror(open, path, "w") == errno.EACCES, path
        assert not os.path.exists(path)
    assert oserror(os.mkdir, upcloud.p("accounts", "newdir")) == errno.EACCES
    nothing_sent(sim)


# -- labels ------------------------------------------------------------------------------

def test_echo_redirect_to_labels_is_one_put(sim, upcloud):
    user = labelled_sub(sim)
    sh("echo 'env=staging' > labels", cwd=upcloud.p("accounts", user))
    body = the_request(sim, "PUT", DETAILS % user)
    assert body == {"account": {"labels": [{"key": "env", "value": "staging"}]}}
    assert read(upcloud.p("accounts", user, "labels")) == "env=staging\n"
    assert account(sim, user)["labels"] == [{"key": "env", "value": "staging"}]


def test_printf_append_to_labels(sim, upcloud):
    user = labelled_sub(sim)
    before = account(sim, user)["labels"]
    sh("printf 'tier=gold\\n' >> labels", cwd=upcloud.p("accounts", user))
    want = before + [{"key": "tier", "value": "gold"}]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": want}}
    assert read(upcloud.p("accounts", user, "labels")) == labels_text(want)
    assert account(sim, user)["labels"] == want


def test_labels_in_order_empty_lines_skipped(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    assert write_file(path, "zeta=1\n\nalpha=a=b\n\nmid=\n") == 0
    want = [{"key": "zeta", "value": "1"}, {"key": "alpha", "value": "a=b"},
            {"key": "mid", "value": ""}]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": want}}
    assert read(path) == labels_text(want)
    assert account(sim, user)["labels"] == want


@pytest.mark.parametrize("content", [
    "novalue\n",
    "env=dev\nnovalue\n",
    "=value\n",
    "team=a\nTEAM=b\n",
    "env=dev\nenv=prod\n",
], ids=["no-equals", "no-equals-second-line", "empty-key", "duplicate-key-case", "duplicate-key"])
def test_invalid_labels_are_einval_and_nothing_is_sent(sim, mount_fs, content):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "labels")
    before = refused(sim, path, content)
    assert before == labels_text(account(sim, user)["labels"])
    assert "not sending accounts/%s/labels" % user in m.output()


def test_emptying_labels_with_o_trunc_is_sent_at_the_last_close(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    dup = os.dup(fd)
    os.close(dup)               # a close, not the last: nothing to send yet
    nothing_sent(sim)
    os.close(fd)                # the last close sends the empty file
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": []}}
    assert read(path) == ""
    assert account(sim, user)["labels"] == []


def test_written_bytes_are_sent_at_close(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"stage=")
    os.write(fd, b"one\n")
    nothing_sent(sim)
    os.close(fd)
    assert the_request(sim, "PUT", DETAILS % user) == {
        "account": {"labels": [{"key": "stage", "value": "one"}]}}
    assert read(path) == "stage=one\n"


def test_python_partial_overwrite_of_labels(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    labels = account(sim, user)["labels"]
    text = labels_text(labels)
    first = labels[0]
    offset = len(first["key"]) + 1
    new_value = "X" * len(first["value"])
    with open(path, "r+") as f:
        f.seek(offset)
        f.write(new_value)
    want = [{"key": first["key"], "value": new_value}] + labels[1:]
    assert text[:offset] + new_value + text[offset + len(new_value):] == labels_text(want)
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": want}}
    assert read(path) == labels_text(want)


# -- roles -------------------------------------------------------------------------------

def test_roles_one_per_line(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "roles")
    assert write_file(path, "billing\n\naux_billing\ntechnical\n") == 0
    assert the_request(sim, "PUT", DETAILS % user) == {
        "account": {"roles": {"role": ["billing", "aux_billing", "technical"]}}}
    assert read(path) == "billing\naux_billing\ntechnical\n"
    assert account(sim, user)["roles"] == {"role": ["billing", "aux_billing", "technical"]}


def test_role_refused_by_the_api_is_einval(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "roles")
    before = read(path)
    assert write_file(path, "superuser\n") == errno.EINVAL
    assert the_request(sim, "PUT", DETAILS % user) == {
        "account": {"roles": {"role": ["superuser"]}}}
    assert read(path) == before == "".join(r + "\n" for r in account(sim, user)["roles"]["role"])
    assert "PUT %s 400" % (DETAILS % user) in m.output()
    assert "INVALID_REQUEST" in m.output()


# -- scalar fields -----------------------------------------------------------------------

@pytest.mark.parametrize("field", MODIFIABLE)
def test_each_modifiable_field(sim, upcloud, field):
    user = labelled_sub(sim)
    value = NEW_VALUES[field]
    assert account(sim, user)[field] != value
    path = upcloud.p("accounts", user, field)
    assert write_file(path, value + "\n") == 0
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {field: value}}
    assert read(path) == value + "\n"
    assert account(sim, user)[field] == value


def test_field_without_final_newline(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "city")
    assert write_file(path, "Oulu") == 0
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"city": "Oulu"}}
    assert read(path) == "Oulu\n"


@pytest.mark.parametrize("content", ["Oulu\nTurku\n", "Oulu\n\n", "\nOulu", "Oulu\nTurku"])
def test_newline_inside_a_field_is_einval(sim, mount_fs, content):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "city")
    before = refused(sim, path, content)
    assert before == account(sim, user)["city"] + "\n"


def test_field_refused_by_the_api(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "timezone")
    before = account(sim, user)["timezone"]
    assert write_file(path, "Not A Zone\n") == errno.EINVAL
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"timezone": "Not A Zone"}}
    assert read(path) == before + "\n"
    assert account(sim, user)["timezone"] == before
    log = m.output()
    assert "PUT %s 400" % (DETAILS % user) in log
    assert "TIMEZONE_INVALID" in log and "Not A Zone" in log


# -- details.json ------------------------------------------------------------------------

def test_sed_i_on_details_json(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "details.json")
    original = read(path)
    old = account(sim, user)["email"]
    new = "sedded@acme.example"
    assert original.count(old) == 1
    sh("sed -i 's/%s/%s/' details.json" % (old, new), cwd=upcloud.p("accounts", user))
    want = json.loads(original.replace(old, new))
    assert the_request(sim, "PUT", DETAILS % user) == want
    assert "account" in want
    assert account(sim, user) == want["account"]
    assert json.loads(read(path)) == want
    assert read(upcloud.p("accounts", user, "email")) == new + "\n"
    assert not [n for n in os.listdir(upcloud.p("accounts", user)) if n.startswith("sed")]


def test_details_json_written_back_unchanged(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "details.json")
    before = account(sim, user)
    original = read(path)
    assert write_file(path, original) == 0
    assert the_request(sim, "PUT", DETAILS % user) == json.loads(original) == {"account": before}
    assert account(sim, user) == before
    assert read(path) == original


def test_details_json_without_the_wrapper(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "details.json")
    fields = {"first_name": "Aino", "city": "Turku"}
    assert write_file(path, json.dumps(fields)) == 0
    assert the_request(sim, "PUT", DETAILS % user) == {"account": fields}
    assert json.loads(read(path))["account"] == account(sim, user)
    assert read(upcloud.p("accounts", user, "first_name")) == "Aino\n"
    assert read(upcloud.p("accounts", user, "city")) == "Turku\n"


@pytest.mark.parametrize("content", ['[1, 2]', '{"account": ', 'not json', '"text"', '42'])
def test_details_json_that_is_not_an_object_is_einval(sim, mount_fs, content):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "details.json")
    before = refused(sim, path, content)
    assert json.loads(before) == {"account": account(sim, user)}


# -- the other tools ---------------------------------------------------------------------

def test_perl_pi_on_roles(sim, upcloud):
    user = labelled_sub(sim)
    roles = account(sim, user)["roles"]["role"]
    old = roles[0]
    new = "aux_billing" if old != "aux_billing" else "billing"
    sh("perl -pi -e 's/^%s$/%s/' roles" % (old, new), cwd=upcloud.p("accounts", user))
    want = [new] + roles[1:]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"roles": {"role": want}}}
    assert read(upcloud.p("accounts", user, "roles")) == "".join(r + "\n" for r in want)
    assert account(sim, user)["roles"]["role"] == want


@pytest.mark.parametrize("setting", [None, "set backupcopy=no", "set backupcopy=yes"],
                         ids=["default", "backupcopy-no", "backupcopy-yes"])
def test_vim_es_on_labels(sim, upcloud, workdir, setting):
    user = labelled_sub(sim)
    labels = account(sim, user)["labels"]
    key = labels[-1]["key"]
    cmd = ["vim", "-es", "-N", "-u", "NONE"]
    if setting:
        cmd += ["-c", setting]
    cmd += ["-c", "%%s/^%s=.*/%s=vimmed/" % (key, key), "-c", "wq", "labels"]
    env = dict(os.environ, HOME=workdir)
    proc = subprocess.run(cmd, cwd=upcloud.p("accounts", user), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = labels[:-1] + [{"key": key, "value": "vimmed"}]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": want}}
    assert read(upcloud.p("accounts", user, "labels")) == labels_text(want)
    assert account(sim, user)["labels"] == want
    names = os.listdir(upcloud.p("accounts", user))
    assert "labels" in names
    assert not [n for n in names if n.endswith(("~", ".swp")) or n == "4913"], names


def test_dd_conv_notrunc_partial_overwrite(sim, upcloud):
    user = labelled_sub(sim)
    old = account(sim, user)["postal_code"]
    assert len(old) >= 3
    sh("printf 99 | dd of=postal_code bs=1 seek=1 conv=notrunc status=none",
       cwd=upcloud.p("accounts", user))
    want = old[0] + "99" + old[3:]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"postal_code": want}}
    assert read(upcloud.p("accounts", user, "postal_code")) == want + "\n"
    assert account(sim, user)["postal_code"] == want


def test_truncate_command(sim, upcloud):
    user = labelled_sub(sim)
    old = account(sim, user)["company"]
    assert len(old) > 4
    sh("truncate -s 4 company", cwd=upcloud.p("accounts", user))
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"company": old[:4]}}
    assert read(upcloud.p("accounts", user, "company")) == old[:4] + "\n"
    assert account(sim, user)["company"] == old[:4]


def test_truncate_syscall_on_a_path(sim, upcloud):
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    labels = account(sim, user)["labels"]
    os.truncate(path, len(labels_text(labels[:-1])))     # drops the last line
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": labels[:-1]}}
    assert read(path) == labels_text(labels[:-1])
    assert account(sim, user)["labels"] == labels[:-1]


def test_python_tmp_file_and_os_replace(sim, upcloud):
    user = labelled_sub(sim)
    d = upcloud.p("accounts", user)
    tmp = os.path.join(d, ".labels.tmp")
    with open(tmp, "w") as f:
        f.write("atomic=yes\nteam=ops\n")
    nothing_sent(sim)
    os.replace(tmp, os.path.join(d, "labels"))
    want = [{"key": "atomic", "value": "yes"}, {"key": "team", "value": "ops"}]
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"labels": want}}
    assert not os.path.exists(tmp)
    assert ".labels.tmp" not in os.listdir(d)
    assert read(os.path.join(d, "labels")) == "atomic=yes\nteam=ops\n"
    assert account(sim, user)["labels"] == want


# -- temporary files and hidden names ----------------------------------------------------

def test_temporary_files_live_in_memory(sim, upcloud):
    user = labelled_sub(sim)
    d = upcloud.p("accounts", user)
    for name in ("labels.tmp", ".labels.swp"):
        path = os.path.join(d, name)
        assert write_file(path, "draft=1\n") == 0
        assert name in sh("ls -A", cwd=d).split("\n")
        assert read(path) == "draft=1\n"
        assert os.stat(path).st_size == len("draft=1\n")
        assert mode_of(path) == (stat.S_IFREG, 0o644)
        assert write_file(path, "draft=2\n", mode="a") == 0
        assert read(path) == "draft=1\ndraft=2\n"
        with open(path, "r+") as f:
            f.seek(6)
            f.write("9")
        assert read(path) == "draft=9\ndraft=2\n"
        os.truncate(path, 8)
        assert read(path) == "draft=9\n"
        os.rename(path, path + ".2")
        assert not os.path.exists(path)
        assert read(path + ".2") == "draft=9\n"
        os.unlink(path + ".2")
        assert not os.path.exists(path + ".2")
        assert name + ".2" not in os.listdir(d)
    top = upcloud.p("accounts", "notes.tmp")
    assert write_file(top, "scratch\n") == 0
    assert "notes.tmp" in os.listdir(upcloud.p("accounts"))
    assert read(top) == "scratch\n"
    os.unlink(top)
    assert "notes.tmp" not in os.listdir(upcloud.p("accounts"))
    nothing_sent(sim)
    assert read(os.path.join(d, "labels")) == labels_text(account(sim, user)["labels"])


def test_rename_onto_a_read_only_file_is_refused(sim, upcloud):
    user = labelled_sub(sim)
    d = upcloud.p("accounts", user)
    tmp = os.path.join(d, "username.new")
    assert write_file(tmp, "someone\n") == 0
    assert oserror(os.rename, tmp, os.path.join(d, "username")) == errno.EACCES
    assert read(tmp) == "someone\n"
    assert read(os.path.join(d, "username")) == user + "\n"
    os.unlink(tmp)
    nothing_sent(sim)


def test_unlink_hides_a_writable_file_until_written_again(sim, upcloud):
    user = labelled_sub(sim)
    d = upcloud.p("accounts", user)
    path = os.path.join(d, "labels")
    before = account(sim, user)["labels"]
    os.unlink(path)
    nothing_sent(sim)
    assert not os.path.exists(path)
    assert "labels" not in os.listdir(d)
    assert account(sim, user)["labels"] == before
    assert write_file(path, "back=again\n") == 0
    assert the_request(sim, "PUT", DETAILS % user) == {
        "account": {"labels": [{"key": "back", "value": "again"}]}}
    assert "labels" in os.listdir(d)
    assert read(path) == "back=again\n"


def test_unlinked_file_shows_again_after_the_ttl(sim, mount_fs):
    m = mount_fs("upcloud", "ttl=2")
    user = labelled_sub(sim)
    path = m.p("accounts", user, "labels")
    os.unlink(path)
    assert not os.path.exists(path)
    assert wait_for(lambda: os.path.exists(path), timeout=10)
    assert read(path) == labels_text(account(sim, user)["labels"])
    nothing_sent(sim)


# -- subaccounts -------------------------------------------------------------------------

def test_create_subaccount_with_python(sim, upcloud):
    name = "acme_newdev"
    assert name not in accounts(sim)
    path = upcloud.p("accounts", name + ".json")
    assert write_file(path, json.dumps({"sub_account": NEW_SUB}), mode="x") == 0
    body = the_request(sim, "POST", "/1.3/account/sub")
    assert body == {"sub_account": dict(NEW_SUB, username=name)}
    assert not os.path.exists(path)
    assert name + ".json" not in os.listdir(upcloud.p("accounts"))
    assert os.path.isdir(upcloud.p("accounts", name))
    assert name in os.listdir(upcloud.p("accounts"))
    assert read(upcloud.p("accounts", name, "email")) == NEW_SUB["email"] + "\n"
    assert account(sim, name)["email"] == NEW_SUB["email"]


def test_cp_json_into_accounts(sim, upcloud, workdir):
    name = "acme_copied"
    src = os.path.join(workdir, name + ".json")
    unwrapped = dict(NEW_SUB, username=name)      # no wrapper; the same username is fine
    with open(src, "w") as f:
        json.dump(unwrapped, f)
    sh("cp %s.json %s/" % (name, upcloud.p("accounts")), cwd=workdir)
    assert the_request(sim, "POST", "/1.3/account/sub") == {"sub_account": unwrapped}
    assert not os.path.exists(upcloud.p("accounts", name + ".json"))
    assert os.path.isdir(upcloud.p("accounts", name))
    assert read(upcloud.p("accounts", name, "phone")) == NEW_SUB["phone"] + "\n"


def test_create_subaccount_through_tmp_file_and_rename(sim, upcloud):
    name = "acme_atomic"
    tmp = upcloud.p("accounts", ".%s.json.tmp" % name)
    assert write_file(tmp, json.dumps(NEW_SUB)) == 0
    nothing_sent(sim)
    os.replace(tmp, upcloud.p("accounts", name + ".json"))
    assert the_request(sim, "POST", "/1.3/account/sub") == {
        "sub_account": dict(NEW_SUB, username=name)}
    assert not os.path.exists(tmp)
    assert os.path.isdir(upcloud.p("accounts", name))


@pytest.mark.parametrize("content", [
    json.dumps(dict(NEW_SUB, username="someone_else")),
    json.dumps({"sub_account": dict(NEW_SUB, username="someone_else")}),
    "[1, 2]",
    '{"sub_account": ',
])
def test_invalid_subaccount_body_is_einval(sim, mount_fs, content):
    m = mount_fs("upcloud", expect_warnings=True)
    name = "acme_invalid"
    path = m.p("accounts", name + ".json")
    assert write_file(path, content) == errno.EINVAL
    nothing_sent(sim)
    assert not os.path.exists(path)
    assert not os.path.exists(m.p("accounts", name))
    assert name not in accounts(sim)


def test_existing_username_is_eexist(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    name = labelled_sub(sim)
    before = account(sim, name)
    path = m.p("accounts", name + ".json")
    assert write_file(path, json.dumps(NEW_SUB)) == errno.EEXIST
    assert the_request(sim, "POST", "/1.3/account/sub") == {
        "sub_account": dict(NEW_SUB, username=name)}
    assert not os.path.exists(path)
    assert account(sim, name) == before
    assert "POST /1.3/account/sub 409" in m.output()
    assert "USERNAME_EXISTS" in m.output()


def test_subaccount_refused_by_the_api(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    name = "acme_partial"
    path = m.p("accounts", name + ".json")
    assert write_file(path, json.dumps({"email": "partial@acme.example"})) == errno.EINVAL
    assert the_request(sim, "POST", "/1.3/account/sub") == {
        "sub_account": {"email": "partial@acme.example", "username": name}}
    assert not os.path.exists(path)
    assert not os.path.exists(m.p("accounts", name))
    assert "Missing required attribute" in m.output()


def test_rmdir_deletes_a_subaccount(sim, upcloud):
    user = sorted(n for n, a in accounts(sim).items() if a["type"] == "sub")[-1]
    assert os.path.isdir(upcloud.p("accounts", user))
    os.rmdir(upcloud.p("accounts", user))
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["body"]) for r in w] == [
        ("DELETE", "/1.3/account/sub/%s" % user, "")]
    assert user not in accounts(sim)
    assert user not in os.listdir(upcloud.p("accounts"))
    assert not os.path.exists(upcloud.p("accounts", user))


def test_rmdir_of_the_main_account_is_eacces(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    main = main_username(sim)
    assert oserror(os.rmdir, m.p("accounts", main)) == errno.EACCES
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["status"]) for r in w] == [
        ("DELETE", "/1.3/account/sub/%s" % main, 403)]
    assert os.path.isdir(m.p("accounts", main))
    assert main in accounts(sim)
    assert "main account" in m.output()


# -- faults: writes are never retried ----------------------------------------------------

def test_put_503_is_eio_and_not_retried(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "email")
    before = account(sim, user)["email"]
    sim.fault(match="details", method="PUT", kind="status", status=503)
    assert write_file(path, "retry@acme.example\n") == errno.EIO
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["status"]) for r in w] == [("PUT", DETAILS % user, 503)]
    assert json.loads(w[0]["body"]) == {"account": {"email": "retry@acme.example"}}
    assert read(path) == before + "\n"
    assert account(sim, user)["email"] == before


def test_post_503_is_eio_and_not_retried(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)
    name = "acme_faulted"
    sim.fault(match="account/sub", method="POST", kind="status", status=503)
    assert write_file(m.p("accounts", name + ".json"), json.dumps(NEW_SUB)) == errno.EIO
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["status"]) for r in w] == [
        ("POST", "/1.3/account/sub", 503)]
    assert json.loads(w[0]["body"]) == {"sub_account": dict(NEW_SUB, username=name)}
    assert name not in accounts(sim)
    assert not os.path.exists(m.p("accounts", name))
    assert not os.path.exists(m.p("accounts", name + ".json"))


def test_get_fault_does_not_affect_writes(sim, mount_fs):
    m = mount_fs("upcloud", expect_warnings=True)   # the faulted GET is retried (a warning)
    user = labelled_sub(sim)
    path = m.p("accounts", user, "city")
    read(path)                                      # cached: the write needs no GET
    sim.fault(match="details", method="GET", kind="status", status=503)
    assert write_file(path, "Vaasa\n") == 0
    assert the_request(sim, "PUT", DETAILS % user) == {"account": {"city": "Vaasa"}}
    put_seq = write_requests(sim)[0]["seq"]
    assert read(path) == "Vaasa\n"                 # the fault meets this GET: retried
    gets = [r["status"] for r in sim.requests()
            if r["method"] == "GET" and r["path"] == DETAILS % user and r["seq"] > put_seq]
    assert gets[:2] == [503, 200]
    assert account(sim, user)["city"] == "Vaasa"


# -- two processes -----------------------------------------------------------------------

CHILD = r"""
import os, sys
path, content = sys.argv[1], sys.argv[2].encode()
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
half = len(content) // 2
os.write(fd, content[:half])
print("ready", flush=True)
sys.stdin.readline()
os.write(fd, content[half:])
try:
    os.close(fd)
    print(0, flush=True)
except OSError as err:
    print(err.errno, flush=True)
"""


@pytest.mark.concurrency
def test_two_processes_writing_labels_take_turns(sim, upcloud):
    """A second writer waits for the first one's last close, then starts from
    its result: each sends its own whole content, one after the other."""
    user = labelled_sub(sim)
    path = upcloud.p("accounts", user, "labels")
    contents = ["proc=one\nfirst=aaaa\nsecond=bbbb\n", "proc=two\nthird=cccc\nfourth=dddd\n"]
    children = []

    def start(content):
        children.append(subprocess.Popen([sys.executable, "-c", CHILD, path, content],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True))
        return children[-1]
    try:
        first = start(contents[0])
        assert first.stdout.readline().strip() == "ready"   # open, half written
        second = start(contents[1])
        ready = select.select([second.stdout], [], [], 1.0)[0]
        assert not ready, "the second writer got in while the first had the file open"
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "0"
        assert second.stdout.readline().strip() == "ready"
        second.stdin.write("go\n")
        second.stdin.flush()
        assert second.communicate(timeout=30)[0].strip() == "0"
        assert first.wait(timeout=30) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    w = settled_writes(sim, 2)
    assert [(r["method"], r["path"]) for r in w] == [("PUT", DETAILS % user)] * 2
    wanted = [[{"key": k, "value": v} for k, v in (line.split("=") for line in c.splitlines())]
              for c in contents]
    bodies = [json.loads(r["body"])["account"]["labels"] for r in w]
    assert bodies == wanted
    assert account(sim, user)["labels"] == wanted[1]
    assert read(path) == labels_text(wanted[1])


# -- Clever Cloud: Pulsar storage policies -----------------------------------------------

def test_sed_i_on_storage_policies_is_one_patch(sim, clever):
    addon_dir, real_id = pulsar_dir(clever)
    path = os.path.join(addon_dir, "storage-policies.json")
    original = read(path)
    key = "retentionTimeInMinutes"
    old = json.loads(original)[key]
    edit = '"%s": %d' % (key, old)
    assert original.count(edit) == 1
    sh("sed -i 's/%s/\"%s\": %d/' storage-policies.json" % (edit, key, old * 2), cwd=addon_dir)
    want = json.loads(original.replace(edit, '"%s": %d' % (key, old * 2)))
    assert the_request(sim, "PATCH", policies_path(real_id)) == want
    assert json.loads(read(path)) == want
    assert sim.state()["clever"]["storage_policies"][real_id] == want
    assert not [n for n in os.listdir(addon_dir) if n.startswith("sed")]


@pytest.mark.parametrize("content", ["[1,2]", "{", "null"])
def test_storage_policies_not_an_object_is_einval(sim, mount_fs, content):
    m = mount_fs("clever", expect_warnings=True)
    addon_dir, real_id = pulsar_dir(m)
    path = os.path.join(addon_dir, "storage-policies.json")
    before = refused(sim, path, content)
    assert json.loads(before) == sim.state()["clever"]["storage_policies"][real_id]


def test_patch_503_is_eio_and_not_retried(sim, mount_fs):
    m = mount_fs("clever", expect_warnings=True)
    addon_dir, real_id = pulsar_dir(m)
    path = os.path.join(addon_dir, "storage-policies.json")
    before = json.loads(read(path))
    sim.fault(match="storage-policies", method="PATCH", kind="status", status=503)
    assert write_file(path, json.dumps({"retentionSizeInMB": 2048})) == errno.EIO
    w = settled_writes(sim, 1)
    assert [(r["method"], r["path"], r["status"]) for r in w] == [
        ("PATCH", policies_path(real_id), 503)]
    assert json.loads(w[0]["body"]) == {"retentionSizeInMB": 2048}
    assert json.loads(read(path)) == before


# -- read-only mounts --------------------------------------------------------------------

def test_ro_mount_refuses_every_write(sim, mount_fs):
    m = mount_fs("upcloud", "ro")
    user = labelled_sub(sim)
    d = m.p("accounts", user)
    labels = os.path.join(d, "labels")
    before = read(labels)
    attempts = {
        "write": lambda: open(labels, "w"),
        "append": lambda: open(labels, "a"),
        "create temp": lambda: open(os.path.join(d, "labels.tmp"), "w"),
        "create account": lambda: open(m.p("accounts", "acme_rofs.json"), "w"),
        "rename": lambda: os.rename(labels, labels + ".bak"),
        "rmdir": lambda: os.rmdir(d),
        "truncate": lambda: os.truncate(os.path.join(d, "company"), 1),
        "unlink": lambda: os.unlink(labels),
        "mkdir": lambda: os.mkdir(m.p("accounts", "newdir")),
    }
    for what, fn in attempts.items():
        assert oserror(fn) == errno.EROFS, what
    nothing_sent(sim)
    assert read(labels) == before
    assert os.path.isdir(d)


def test_ro_mount_refuses_storage_policies(sim, mount_fs):
    m = mount_fs("clever", "ro")
    addon_dir, _ = pulsar_dir(m)
    path = os.path.join(addon_dir, "storage-policies.json")
    assert oserror(open, path, "w") == errno.EROFS
    assert oserror(open, os.path.join(addon_dir, "tmp"), "w") == errno.EROFS
    nothing_sent(sim)
