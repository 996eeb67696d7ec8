"""The command (README "Mounting" and "Credentials"): -h, -V, the mount-time check, options, credentials
(environment, file, OAuth, clever-tools.json), -d logging without secrets, -s,
-o ro, -o max_conns, -o cache_dir, and mounting through mount(8) as fstab does.
"""

import base64
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, CLOUDFS, ROOT, clever_env, is_mounted, wait_for

TIMEOUT = 30


def bare_env(workdir):
    """An environment with no credentials at all."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir,
            "XDG_CACHE_HOME": os.path.join(workdir, "cache"),
            "XDG_CONFIG_HOME": os.path.join(workdir, "config")}


def secrets(sim):
    return [v for v in sim.credentials()["clever"].values() if v]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def fail_to_mount(workdir, *args, env):
    """Run `cloudfs ARGS` (MNT stands for a fresh mountpoint) that must fail.

    -f keeps a mount that wrongly succeeds in the foreground, so it is found
    (timeout) and cleaned up instead of left behind.
    """
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    cmd = [CLOUDFS] + [mnt if a == "MNT" else a for a in args]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{cmd} did not end: it mounted")
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == [], "something was left in the mountpoint"
    os.rmdir(mnt)
    return done


def assert_one_line_failure(done):
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"stderr is not one line: {done.stderr!r}"
    assert lines[0].startswith("cloudfs: "), lines[0]
    return lines[0]


@pytest.fixture
def spawn(sim, workdir):
    """spawn(*args, env) -> (proc, mountpoint, logfile): `cloudfs clever MNT ARGS`."""
    sim.reset()
    started = []

    def start(*args, env):
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        log = open(os.path.join(workdir, "spawn-%d.log" % len(started)), "w+")
        proc = subprocess.Popen([CLOUDFS, "clever", mnt, *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        started.append((proc, mnt, log))
        assert wait_for(lambda: is_mounted(mnt) or proc.poll() is not None)
        assert is_mounted(mnt), open(log.name).read()
        return proc, mnt, log.name

    yield start
    for proc, mnt, log in started:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
        log.close()


# -- help and version ---------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    done = subprocess.run([CLOUDFS, flag], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0
    text = done.stdout
    # named as a command is, not by the path it was run from
    assert text.startswith("usage: cloudfs SOURCE MOUNTPOINT "), text.splitlines()[0]
    assert "clever" in text and "upcloud" in text
    # sshfs's layout: ours, then libfuse's, then where credentials come from
    ours = text.index("\ncloudfs options:\n")
    fuse = text.index("\nFUSE options:\n")
    creds = text.index("\nCredentials")
    assert ours < fuse < creds
    for opt in ("api_url=", "ttl=DURATION", "timeout=DURATION", "max_conns=", "credentials=",
                "write_buffer=", "cache_dir=", "-o ro", "nonempty"):
        assert opt in text[ours:fuse], opt
    for opt in ("allow_other", "allow_root", "auto_unmount"):
        assert opt in text[fuse:creds], opt
    for source in ("CLEVER_API_TOKEN", "clever login", "UPCLOUD_TOKEN", "upctl.yaml"):
        assert source in text[creds:], source


def library_version(name):
    return subprocess.run(["pkg-config", "--modversion", name], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    with open(os.path.join(ROOT, "meson.build")) as f:
        version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    done = subprocess.run([CLOUDFS, flag], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0
    line = done.stdout.split("\n")[0]
    assert line.startswith("cloudfs " + version + " "), line
    assert "libfuse " + library_version("fuse3") in line, line
    assert "libcurl/" + library_version("libcurl") in line, line
    assert "jansson " + library_version("jansson") in line, line
    assert "libyaml " + library_version("yaml-0.1") in line, line


# -- the mount-time check -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_bad_credentials_end_the_command(sim, workdir, kind):
    sim.reset()
    env = clever_env(sim, workdir, kind)
    if kind == "token":
        env["CLEVER_API_TOKEN"] = "not-" + env["CLEVER_API_TOKEN"]
    else:
        env["CLEVER_SECRET"] = "not-" + env["CLEVER_SECRET"]
    done = fail_to_mount(workdir, "clever", "MNT", "-f", "-o", "api_url=" + sim.url, env=env)
    line = assert_one_line_failure(done)
    for secret in secrets(sim) + [env.get("CLEVER_API_TOKEN"), env.get("CLEVER_SECRET")]:
        if secret:
            assert secret not in line
    checks = [r for r in sim.requests() if r["path"] == "/v2/self"]
    assert [r["status"] for r in checks] == [401]


def test_an_unreachable_api_ends_the_command(sim, workdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    done = fail_to_mount(workdir, "clever", "MNT", "-f", "-o", f"api_url=http://127.0.0.1:{port}",
                         env=clever_env(sim, workdir))
    assert_one_line_failure(done)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("args", [
    ["clever", "MNT", "-f", "-o", "max_conns=0"],
    ["clever", "MNT", "-f", "-o", "max_conns=many"],
    ["clever", "MNT", "-f", "-o", "ttl=soon"],
    ["clever", "MNT", "-f", "-o", "ttl=5M"],
    ["clever", "MNT", "-f", "-o", "timeout=0s"],
    ["dropbox", "MNT", "-f"],
    ["clever"],
])
def test_a_bad_option_ends_the_command(sim, workdir, args):
    sim.reset()
    done = fail_to_mount(workdir, *args, "-o", "api_url=" + sim.url, env=clever_env(sim, workdir))
    assert_one_line_failure(done)


def test_durations_take_a_unit(sim, mount_fs):
    m = mount_fs("clever", "ttl=1m", "timeout=1m")
    read_json(m.p("self.json"))
    sim.clear_requests()
    time.sleep(1.2)   # past a ttl of 1 second, well within one of 1 minute
    read_json(m.p("self.json"))
    assert sim.requests() == []


def test_a_bad_duration_names_the_accepted_forms(sim, workdir):
    done = fail_to_mount(workdir, "clever", "MNT", "-f", "-o", "api_url=" + sim.url + ",ttl=10x",
                         env=clever_env(sim, workdir))
    line = assert_one_line_failure(done)
    assert "'10x'" in line and all(form in line for form in ("90s", "5m", "1h")), line


# -- credentials ------------------------------------------------------------------------------


def write_credentials(workdir, mode, lines):
    path = os.path.join(workdir, "clever.env")
    with open(path, "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in lines.items()))
    os.chmod(path, mode)
    return path


def token_lines(sim):
    return {"CLEVER_API_TOKEN": sim.credentials()["clever"]["api_token"]}


def oauth_lines(sim):
    c = sim.credentials()["clever"]
    return {"CLEVER_CONSUMER_KEY": c["consumer_key"], "CLEVER_CONSUMER_SECRET": c["consumer_secret"],
            "CLEVER_TOKEN": c["token"], "CLEVER_SECRET": c["secret"]}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_credentials_file_readable_by_others_is_refused(sim, workdir, mode):
    sim.reset()
    path = write_credentials(workdir, mode, token_lines(sim))
    done = fail_to_mount(workdir, "clever", "MNT", "-f", "-o", f"api_url={sim.url},credentials={path}",
                         env=bare_env(workdir))
    line = assert_one_line_failure(done)
    assert "group" in line or "other" in line, line
    assert [r for r in sim.requests()] == [], "the API was called with a refused file"


@pytest.mark.parametrize("lines", [token_lines, oauth_lines])
def test_a_private_credentials_file_works_alone(sim, mount_fs, workdir, lines):
    path = write_credentials(workdir, 0o600, lines(sim))
    m = mount_fs("clever", "credentials=" + path, env=bare_env(workdir))
    assert read_json(m.p("self.json")) == sim.state()["clever"]["self"]


def test_oauth_credentials_from_the_environment(sim, mount_fs, workdir):
    m = mount_fs("clever", env=clever_env(sim, workdir, "oauth"))
    assert read_json(m.p("self.json")) == sim.state()["clever"]["self"]
    auths = {r["headers"].get("authorization", "") for r in sim.requests()}
    assert auths and all(a.startswith("OAuth ") for a in auths), auths


@pytest.mark.parametrize("form", ["legacy", "profiles"])
def test_clever_tools_json_with_the_consumer_pair_in_the_environment(sim, mount_fs, workdir, form):
    c = sim.credentials()["clever"]
    env = bare_env(workdir)
    env.update(CLEVER_CONSUMER_KEY=c["consumer_key"], CLEVER_CONSUMER_SECRET=c["consumer_secret"])
    pair = {"token": c["token"], "secret": c["secret"]}
    body = pair if form == "legacy" else {"version": 1, "profiles": [dict(alias="default", **pair)]}
    os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "clever-cloud"))
    with open(os.path.join(env["XDG_CONFIG_HOME"], "clever-cloud", "clever-tools.json"), "w") as f:
        json.dump(body, f)
    m = mount_fs("clever", env=env)
    assert read_json(m.p("self.json")) == sim.state()["clever"]["self"]
    auths = {r["headers"].get("authorization", "") for r in sim.requests()}
    assert all(f'oauth_token="{c["token"]}"' in a for a in auths), auths


def write_upctl_yaml(env, text, mode=0o600):
    os.makedirs(env["XDG_CONFIG_HOME"], exist_ok=True)
    path = os.path.join(env["XDG_CONFIG_HOME"], "upctl.yaml")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("kind", ["token", "password"])
def test_upctl_yaml_when_the_environment_has_none(sim, mount_fs, workdir, kind):
    c = sim.credentials()["upcloud"]
    env = bare_env(workdir)
    if kind == "token":
        write_upctl_yaml(env, f"# written by hand\ntoken: \"{c['token']}\"  # upctl's key\n")
        want = "Bearer " + c["token"]
    else:
        write_upctl_yaml(env, f"username: '{c['username']}'\npassword: \"{c['password']}\"\n")
        want = "Basic " + base64.b64encode(f"{c['username']}:{c['password']}".encode()).decode()
    m = mount_fs("upcloud", env=env)
    assert read_json(m.p("account.json")) == sim.state()["upcloud"]["account"]
    auths = {r["headers"].get("authorization", "") for r in sim.requests()}
    assert auths == {want}


def test_an_upctl_yaml_open_to_others_is_refused(sim, workdir):
    sim.reset()
    env = bare_env(workdir)
    path = write_upctl_yaml(env, f"token: {sim.credentials()['upcloud']['token']}\n", 0o644)
    done = fail_to_mount(workdir, "upcloud", "MNT", "-f", "-o", "api_url=" + sim.url, env=env)
    line = assert_one_line_failure(done)
    assert path in line and "chmod 600" in line, line
    assert sim.requests() == []


@pytest.mark.parametrize("tools", [False, True])
def test_an_oauth_token_without_the_consumer_pair_says_so(sim, workdir, tools):
    sim.reset()
    c = sim.credentials()["clever"]
    env = bare_env(workdir)
    if tools:
        os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "clever-cloud"))
        with open(os.path.join(env["XDG_CONFIG_HOME"], "clever-cloud", "clever-tools.json"), "w") as f:
            json.dump({"token": c["token"], "secret": c["secret"]}, f)
    else:
        env.update(CLEVER_TOKEN=c["token"], CLEVER_SECRET=c["secret"])
    done = fail_to_mount(workdir, "clever", "MNT", "-f", "-o", "api_url=" + sim.url, env=env)
    line = assert_one_line_failure(done)
    assert "OAuth consumer" in line and "CLEVER_CONSUMER_KEY and CLEVER_CONSUMER_SECRET" in line, line
    assert "CLEVER_API_TOKEN instead" in line, line
    assert ("clever-tools.json" in line) == tools, line
    assert c["token"] not in line and c["secret"] not in line
    assert sim.requests() == []


# -- -d, -s ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_debug_logs_one_line_per_request_and_no_secret(sim, spawn, workdir, kind):
    proc, mnt, logfile = spawn("-d", "-o", "api_url=" + sim.url, env=clever_env(sim, workdir, kind))
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    app = state["applications"][owner][0]["id"]
    sim.fault(match=f"/applications/{app}/load-balancers/default$", kind="status", status=401, times=-1)
    assert read_json(os.path.join(mnt, "self.json")) == state["self"]
    os.listdir(os.path.join(mnt, "zones"))
    with pytest.raises(PermissionError):
        read_json(os.path.join(mnt, "orgs", owner, "apps", app, "load-balancer.json"))
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    proc.wait(timeout=10)
    with open(logfile) as f:
        log = f.read()
    for secret in secrets(sim):
        assert secret not in log, "a secret is in the -d log"
    requests = sim.requests()
    assert len(requests) >= 4
    for r in requests:
        lines = [line for line in log.splitlines() if "id=" + r["request_id"] in line]
        assert len(lines) == 1, f"{r['path']}: {len(lines)} log lines with its id"
        assert re.search(r"\b%s %s %d \d+ ms id=%s" % (r["method"], re.escape(r["path"]), r["status"],
                                                         re.escape(r["request_id"])), lines[0]), lines[0]


def test_single_threaded_mount_reads(sim, spawn, workdir):
    _, mnt, _ = spawn("-f", "-s", "-o", "api_url=" + sim.url, env=clever_env(sim, workdir))
    state = sim.state()["clever"]
    assert read_json(os.path.join(mnt, "self.json")) == state["self"]
    owner = state["organisations"][0]["id"]
    assert set(os.listdir(os.path.join(mnt, "orgs", owner, "apps"))) == \
        {a["id"] for a in state["applications"][owner]} | {"by-name"}


# -- -o ro, max_conns, cache_dir -------------------------------------------------------------------


def test_read_only_mount_answers_erofs(sim, mount_fs):
    m = mount_fs("clever", "ro")
    state = sim.state()["clever"]
    assert read_json(m.p("self.json")) == state["self"]
    owner = state["organisations"][0]["id"]
    for flags in (os.O_WRONLY, os.O_RDWR):
        with pytest.raises(OSError) as err:
            os.open(m.p("self.json"), flags)
        assert err.value.errno == errno.EROFS
    with pytest.raises(OSError) as err:
        os.open(m.p("orgs", owner, "new.json"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert err.value.errno == errno.EROFS
    with pytest.raises(OSError) as err:
        os.mkdir(m.p("orgs", owner, "apps", "new"))
    assert err.value.errno == errno.EROFS
    with open("/proc/mounts") as f:
        opts = next(line.split()[3] for line in f if line.split()[1] == m.path)
    assert "ro" in opts.split(",")


def max_in_flight(requests):
    events = sorted([(r["t_start"], 1) for r in requests] + [(r["t_end"], -1) for r in requests],
                    key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.mark.concurrency
def test_max_conns_caps_requests_in_flight(sim, mount_fs):
    m = mount_fs("clever", "max_conns=2")
    state = sim.state()["clever"]
    pdfs = [(o, inv["invoice_number"]) for o, invs in state["invoices"].items() for inv in invs][:8]
    sim.latency(200)
    sim.clear_requests()
    # listing invoices/ fetches its documents, in parallel up to max_conns
    procs = [subprocess.Popen(["cat", m.p("orgs", o, "invoices", n + ".pdf")], stdout=subprocess.DEVNULL)
             for o, n in pdfs]
    procs += [subprocess.Popen(["ls", m.p("orgs", owner, "invoices")], stdout=subprocess.DEVNULL)
              for owner in {o for o, _ in pdfs}]
    for p in procs:
        assert p.wait(timeout=TIMEOUT) == 0
    log = sim.requests()
    sim.latency(0)
    asked = [r["path"] for r in log if r["path"].endswith(".pdf")]
    assert len(asked) == len(set(asked)) >= 8
    assert max_in_flight(log) == 2


def test_cache_dir_option(sim, mount_fs, workdir):
    cache_dir = os.path.join(workdir, "elsewhere")
    env = clever_env(sim, workdir)
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    number = state["invoices"][owner][0]["invoice_number"]
    rel = ("orgs", owner, "invoices", number + ".pdf")
    api = f"/v4/billing/organisations/{owner}/invoices/{number}.pdf"
    first = mount_fs("clever", "cache_dir=" + cache_dir, env=env)
    data = open(first.p(*rel), "rb").read()
    assert os.path.isdir(cache_dir) and any(files for _, _, files in os.walk(cache_dir))
    assert not os.path.exists(os.path.join(env["XDG_CACHE_HOME"], "cloudfs"))
    subprocess.run(["fusermount3", "-u", first.path], check=True)
    first.proc.wait(timeout=10)
    sim.clear_requests()
    second = mount_fs("clever", "cache_dir=" + cache_dir, env=env)
    assert open(second.p(*rel), "rb").read() == data
    assert api not in [r["path"] for r in sim.requests()]
    assert data == sim.api(api, accept="application/pdf")


# -- fstab: mount(8) and mount.fuse3 ----------------------------------------------------------------


def pids_serving(mnt):
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if mnt.encode() in argv and any(os.path.basename(a) == b"cloudfs" for a in argv[:1]):
            pids.append(int(pid))
    return pids


def test_mount_through_mount_fuse3(sim, workdir):
    if shutil.which("mount.fuse3") is None and not os.path.exists("/sbin/mount.fuse3"):
        pytest.skip("mount.fuse3 is not installed")
    sim.reset()
    cred = write_credentials(workdir, 0o600, token_lines(sim))
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    env = bare_env(workdir)
    env["PATH"] = BUILD + ":" + env["PATH"] + ":/usr/sbin:/sbin"
    opts = f"api_url={sim.url},credentials={cred}"
    done = subprocess.run(["mount", "-t", "fuse.cloudfs", "clever", mnt, "-o", opts], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0 and "cloudfs: not found" in done.stderr:
        # util-linux mount(8) runs mount.fuse3 without the caller's PATH, so the
        # build directory is not searched; name the program instead (fuse#).
        done = subprocess.run(["mount", "-t", "fuse", f"{CLOUDFS}#clever", mnt, "-o", opts], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    daemons = []
    try:
        assert done.returncode == 0, done.stderr
        assert is_mounted(mnt)
        with open("/proc/mounts") as f:
            fields = next(line.split() for line in f if line.split()[1] == mnt)
        assert fields[0] == "clever" and fields[2] == "fuse.cloudfs", fields
        daemons = pids_serving(mnt)
        assert len(daemons) == 1, daemons
        assert read_json(os.path.join(mnt, "self.json")) == sim.state()["clever"]["self"]
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False, timeout=TIMEOUT)
        ended = wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in daemons), timeout=10)
        for p in daemons:
            if os.path.exists(f"/proc/{p}"):
                os.kill(p, 9)
    assert not is_mounted(mnt)
    assert ended, "the daemon did not end once unmounted"
