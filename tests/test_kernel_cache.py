"""The kernel as a cache (README "Caching and errors", "What the kernel is told").

Within the TTL the kernel keeps names, attributes, listings and the pages of
read-only files, so warm stats and reads never reach the daemon: counted here in
libfuse's own log of the requests it takes from /dev/fuse (-o debug).  What
changes before its TTL (a write) is taken back at once.
"""

import collections
import os
import re
import threading
import time
import urllib.parse

from conftest import quiet, wait_for
from test_upcloud import sim_json

TTL = "ttl=600"


def requests_taken(m):
    """The FUSE requests the daemon has taken so far, by opcode, once the
    asynchronous ones (RELEASE) have arrived."""
    def counted():
        return collections.Counter(re.findall(r"opcode: (\w+)", m.output()))
    last = counted()
    def settled():
        nonlocal last
        time.sleep(0.2)
        now, last = last, counted()
        return now == last
    wait_for(settled)
    return last


def read(path):
    """The bytes of path, with no ioctl or fstat of Python's own around them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def walk_files(root):
    """Every regular read-only file below root (no logs: they grow)."""
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.endswith("logs")]
        for name in names:
            path = os.path.join(d, name)
            st = os.lstat(path)
            if (os.path.isfile(path) and not os.path.islink(path) and
                    st.st_mode & 0o777 == 0o444 and name != "logs"):
                files.append(path)
    return files


def test_warm_stats_and_reads_stay_in_the_kernel(sim, mount_fs):
    m = mount_fs("clever", TTL, "debug")
    files = walk_files(m.path)
    assert len(files) > 20
    first = {p: read(p) for p in files}
    for p in files:
        # a read makes the kernel ask for the atime once more
        os.stat(p)
    quiet(sim)
    before = requests_taken(m)
    for _ in range(3):
        for p in files:
            assert os.stat(p).st_size == len(first[p]), p
    stats = requests_taken(m) - before
    assert sum(stats.values()) == 0, stats
    before = requests_taken(m)
    for p in files:
        assert read(p) == first[p], p
    reads = requests_taken(m) - before
    # the bytes come from the page cache: an OPEN and a RELEASE each
    assert reads == {"OPEN": len(files), "RELEASE": len(files)}, reads


def test_concurrent_readers_see_whole_files_while_the_tree_is_walked(sim, mount_fs):
    m = mount_fs("clever", TTL)
    files = walk_files(m.path)
    first = {p: read(p) for p in files}
    bad = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for p in files:
                data = read(p)
                if data != first[p] or os.stat(p).st_size != len(data):
                    bad.append(p)

    def walker():
        while not stop.is_set():
            walk_files(m.path)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads += [threading.Thread(target=walker) for _ in range(2)]
    for t in threads:
        t.start()
    stop.wait(3)
    stop.set()
    for t in threads:
        t.join()
    assert bad == []


def accounts_with_labels(sim):
    body = sim_json(sim, "/1.3/account/list")
    for account in body["accounts"]["account"]:
        if account["labels"]:
            yield account


def test_a_write_takes_back_what_the_kernel_holds(sim, mount_fs):
    m = mount_fs("upcloud", TTL)
    account = next(accounts_with_labels(sim))
    username = account["username"]
    label = account["labels"][0]
    pair = "%s=%s" % (label["key"], label["value"])
    link = m.p("labels", pair, username)
    # held by the kernel now, for the TTL it was told
    assert os.path.islink(link)
    assert username in os.listdir(m.p("labels", pair))
    kept = [l for l in account["labels"] if l is not label]
    with open(m.p("accounts", username, "labels"), "w") as f:
        f.write("".join("%s=%s\n" % (l["key"], l["value"]) for l in kept))
    query = "/1.3/account/list?label=" + urllib.parse.quote(pair, safe="")
    assert username not in [a["username"] for a in
                            sim_json(sim, query)["accounts"]["account"]]
    # the close has returned: nothing the kernel held of it is served
    assert not os.path.lexists(link)
    assert username not in os.listdir(m.p("labels", pair))


def test_a_change_on_the_server_shows_at_the_ttl_whatever_the_kernel_kept(sim, mount_fs):
    ttl = 3
    m = mount_fs("clever", "ttl=%d" % ttl)
    state = sim.state()["clever"]
    owner = state["organisations"][0]["id"]
    inv = state["invoices"][owner][0]
    pdf = m.p("orgs", owner, "invoices", inv["invoice_number"] + ".pdf")
    # what is read is fetched from now on, so it stays fresh until ttl
    seen_at = time.monotonic()
    old = read(pdf)
    new_status = "REFUNDED" if inv["status"] != "REFUNDED" else "PAID"
    sim.mutate(op="invoice_status", owner=owner, number=inv["invoice_number"],
               status=new_status)
    api = "/v4/billing/organisations/%s/invoices/%s.pdf" % (owner, inv["invoice_number"])
    new = sim.api(api, accept="application/pdf")
    assert len(new) != len(old)
    # within the TTL, the kept version, its size and its pages agree
    while time.monotonic() - seen_at < ttl - 1:
        assert os.stat(pdf).st_size == len(old)
        assert read(pdf) == old
        time.sleep(0.1)
    # past it, the kernel asks again: the new size with the new bytes
    wait_for(lambda: os.stat(pdf).st_size == len(new), timeout=ttl + 5)
    assert read(pdf) == new
    fd = os.open(pdf, os.O_RDONLY)
    try:
        assert os.fstat(fd).st_size == len(new)
    finally:
        os.close(fd)
