"""The manual and what `meson install` puts in place: doc/cloudfs.1 renders
at 80 columns without a warning; it, the README's option table and
`cloudfs -h` name every option of the fuse_opt table in src/options.c, and
the man page and the README list the same options; the install holds the
binary, the man page and the examples; systemd-analyze verify accepts the
example units as installed, and the mount unit mounts what the fstab example
does.
"""

import configparser
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, CLOUDFS, ROOT

MAN_PAGE = os.path.join(ROOT, "doc", "cloudfs.1")
EXAMPLES = os.path.join(ROOT, "examples")
SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CREDENTIALS",
            "THE CLEVER CLOUD TREE", "THE UPCLOUD TREE", "SEMANTICS", "FILES",
            "EXAMPLES", "EXIT STATUS")
SYSTEM_UNITS = ("mnt-cloudfs-clever.mount", "mnt-cloudfs-clever.automount")
USER_UNIT = "cloudfs@.service"
# where the README's `ninja -C build install` puts the binary, which the
# service runs
INSTALLED_CLOUDFS = "/usr/local/bin/cloudfs"
TIMEOUT = 120


def render_man(locale="C"):
    """`MANWIDTH=80 man --warnings -l doc/cloudfs.1`, in one locale."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL=locale)
    return subprocess.run(["man", "--warnings", "-l", MAN_PAGE], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def headings(text):
    """The rendered page's section headings, the lines that start in column
    one (the page's header and footer lines among them)."""
    return [line for line in text.splitlines() if line and not line[0].isspace()]


def man_section(text, title):
    found = re.search(r"^%s\n(.*?)^(?=\S)" % re.escape(title), text, re.S | re.M)
    assert found, f"no {title} section in the man page"
    return found.group(1)


def table_options():
    """The -o names and the flags of the fuse_opt table in src/options.c."""
    with open(os.path.join(ROOT, "src", "options.c")) as f:
        source = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    table = re.search(r"option_table\[\]\s*=\s*\{(.*?)FUSE_OPT_END", source, re.S)
    assert table, "no fuse_opt option_table in src/options.c"
    templates = re.findall(r'"([^"]+)"', table.group(1))
    options = {t.split("=")[0] for t in templates if not t.startswith("-")}
    flags = {t for t in templates if t.startswith("-")}
    # the parse found the table, not some other strings
    assert {"api_url", "credentials", "ro"} <= options, options
    assert {"-f", "-h", "--help"} <= flags, flags
    return options, flags


def man_options():
    """The -o options the man page's OPTIONS section describes (its tags)."""
    options = man_section(render_man().stdout, "OPTIONS")
    return set(re.findall(r"^ {7}-o ([a-z_]+)", options, re.M))


def man_flags():
    options = man_section(render_man().stdout, "OPTIONS")
    tags = re.findall(r"^ {7}(-\w)(?:, (--\w+))?", options, re.M)
    return {flag for tag in tags for flag in tag if flag}


def readme_options():
    """The -o options of the option table in the README's "Mounting"."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    mounting = re.search(r"^## Mounting\n(.*?)^## ", readme, re.S | re.M)
    assert mounting, "no Mounting section in the README"
    return set(re.findall(r"^\| `-o ([a-z_]+)", mounting.group(1), re.M))


def help_text():
    done = subprocess.run([CLOUDFS, "-h"], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def help_options():
    """The -o options `cloudfs -h` names, whatever its layout."""
    return set(re.findall(r"-o\s+([a-z_]+)", help_text()))


# -- the man page ---------------------------------------------------------------


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_man_page_renders_without_warnings(locale):
    done = render_man(locale)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("CLOUDFS(1)"), lines[:1]
    wide = [line for line in lines if len(line) > 80]
    assert wide == [], "lines past 80 columns"


def test_man_page_has_its_sections():
    found = headings(render_man().stdout)
    assert [s for s in SECTIONS if s not in found] == []


@pytest.mark.parametrize("document, listed", [
    ("the man page", man_options),
    ("the README's option table", readme_options),
    ("cloudfs -h", help_options),
])
def test_every_option_is_documented(document, listed):
    options, _ = table_options()
    assert sorted(options - listed()) == [], f"options missing from {document}"


def test_man_page_and_readme_list_the_same_options():
    assert man_options() == readme_options()


def test_every_flag_is_in_the_man_page_and_help():
    _, flags = table_options()
    assert sorted(flags - man_flags()) == []
    text = help_text()
    absent = [f for f in flags if not re.search(r"(?<![\w-])%s\b" % re.escape(f), text)]
    assert absent == []


# -- meson install ---------------------------------------------------------------


class Install:
    """A `meson install --destdir` of the build under test."""

    def __init__(self, destdir):
        self.destdir = destdir
        done = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                              capture_output=True, text=True, check=True,
                              timeout=TIMEOUT)
        self.options = {o["name"]: o["value"] for o in json.loads(done.stdout)}

    def dir(self, name):
        """An installation directory (bindir, mandir, ...) under destdir."""
        path = os.path.join(self.options["prefix"], self.options[name])
        return os.path.join(self.destdir, path.lstrip("/"))

    def files(self):
        found = set()
        for top, _, names in os.walk(self.destdir):
            found |= {os.path.join(top, n) for n in names}
        return found

    @property
    def examples(self):
        return os.path.join(self.dir("datadir"), "doc", "cloudfs", "examples")


@pytest.fixture(scope="module")
def installed():
    dest = tempfile.mkdtemp(prefix="cloudfs-install-")
    try:
        done = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                               "--quiet", "--destdir", dest], capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
        yield Install(dest)
    finally:
        shutil.rmtree(dest)


def example_files():
    """Every file of examples/, relative to it."""
    found = set()
    for top, _, names in os.walk(EXAMPLES):
        found |= {os.path.relpath(os.path.join(top, n), EXAMPLES) for n in names}
    return found


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def test_install_puts_the_binary_the_man_page_and_the_examples(installed):
    binary = os.path.join(installed.dir("bindir"), "cloudfs")
    man = os.path.join(installed.dir("mandir"), "man1", "cloudfs.1")
    examples = {os.path.join(installed.examples, f) for f in example_files()}
    assert os.path.join("systemd", USER_UNIT) in example_files()
    assert installed.files() == {binary, man} | examples
    assert os.access(binary, os.X_OK)
    assert same_bytes(man, MAN_PAGE)
    assert all(same_bytes(os.path.join(installed.examples, f), os.path.join(EXAMPLES, f))
               for f in example_files())


# -- the systemd units -----------------------------------------------------------


def verify(*args, env):
    """systemd-analyze verify ARGS: its status and the output lines about the
    example units."""
    done = subprocess.run(["systemd-analyze", *args], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    about = [line for line in (done.stdout + done.stderr).splitlines()
             if "cloudfs" in line]
    return done.returncode, about


def test_systemd_units_verify(installed):
    """The units as installed; the service runs the installed binary (under
    destdir here) and both find their Documentation=, the installed man page."""
    work = tempfile.mkdtemp(prefix="cloudfs-units-")
    try:
        binary = os.path.join(installed.dir("bindir"), "cloudfs")
        for name in SYSTEM_UNITS + (USER_UNIT,):
            with open(os.path.join(installed.examples, "systemd", name)) as f:
                unit = f.read()
            if name == USER_UNIT:
                assert INSTALLED_CLOUDFS in unit
                unit = unit.replace(INSTALLED_CLOUDFS, binary)
            with open(os.path.join(work, name), "w") as f:
                f.write(unit)
        runtime = os.path.join(work, "runtime")
        os.mkdir(runtime, 0o700)
        env = dict(os.environ, MANPATH=installed.dir("mandir"), XDG_RUNTIME_DIR=runtime)
        system = verify("verify", *[os.path.join(work, n) for n in SYSTEM_UNITS], env=env)
        user = verify("--user", "verify", os.path.join(work, "cloudfs@clever.service"),
                      env=env)
    finally:
        shutil.rmtree(work)
    assert system == (0, [])
    assert user == (0, [])


def unit_section(name, section):
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(EXAMPLES, "systemd", name))
    return unit[section]


def test_mount_unit_mounts_what_the_fstab_example_does():
    with open(os.path.join(EXAMPLES, "fstab")) as f:
        entries = [line.split() for line in f if line.strip() and not line.startswith("#")]
    source, _, fstype, options, *_ = next(e for e in entries if e[0] == "clever")
    mount = unit_section(SYSTEM_UNITS[0], "Mount")
    automount = unit_section(SYSTEM_UNITS[1], "Automount")
    assert (mount["What"], mount["Type"]) == (source, fstype)
    assert automount["Where"] == mount["Where"]
    fstab_options = set(options.split(","))
    unit_options = set(mount["Options"].split(","))
    assert {o for o in fstab_options if o.startswith("credentials=")} <= unit_options
    assert "_netdev" in unit_options
