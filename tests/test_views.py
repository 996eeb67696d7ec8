"""Views the API has no single call for (README "The Clever Cloud tree", "The
UpCloud tree"): invoices.csv, costs.svg, billing/costs.csv and costs.svg.

Every expectation is read from the simulator's own API (urllib, not the mount)
while the test runs: nothing is copied from the seed.
"""

import csv
import io
import json
import os
import re
import struct
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime, timezone
from decimal import Decimal

from conftest import current_month, month_before, quiet, wait_for

HEADER = ["number", "kind", "emission_date", "pay_date", "status", "currency",
          "total_tax_excluded", "total_tax", "total"]


def iso_epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def owners(sim):
    state = sim.state()["clever"]
    return [state["self"]] + state["organisations"]


def invoices_path(oid):
    return f"/v4/billing/organisations/{oid}/invoices"


def api_invoices(sim, oid):
    return json.loads(sim.api(invoices_path(oid)))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def csv_rows(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def amount(value):
    """An amount as the API wrote it (Python prints a float's shortest form)."""
    return "" if value is None else str(value)


def expected_row(inv):
    excluded, tax = inv["total_tax_excluded"], inv["total_tax"]
    return [inv["invoice_number"], inv["kind"], inv["emission_date"], inv["pay_date"] or "",
            inv["status"], excluded["currency"], amount(excluded["amount"]),
            amount(tax["amount"])]


def newest_first(invoices):
    return sorted(invoices, key=lambda inv: iso_epoch(inv["emission_date"]), reverse=True)


def check_invoices_csv(sim, m, oid):
    path = m.p("orgs", oid, "invoices.csv")
    data = read(path)
    invoices = newest_first(api_invoices(sim, oid))
    assert invoices, oid
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in ln for ln in lines), "CRLF line ends"
    rows = csv_rows(data)
    assert rows[0] == HEADER
    assert len(rows) == 1 + len(invoices)
    for row, inv in zip(rows[1:], invoices):
        assert row[:8] == expected_row(inv)
        total = Decimal(row[6]) + Decimal(row[7])
        assert Decimal(row[8]) == total and row[8] == str(total), row
    st = os.stat(path)
    assert st.st_size == len(data)
    assert int(st.st_mtime) == iso_epoch(invoices[0]["emission_date"])
    return rows


def test_invoices_csv_is_the_invoice_list_newest_first(sim, clever):
    for owner in owners(sim):
        check_invoices_csv(sim, clever, owner["id"])


def test_invoices_csv_costs_no_request_beyond_the_invoice_list(sim, clever):
    oid = owners(sim)[1]["id"]
    quiet(sim)
    sim.clear_requests()
    read(clever.p("orgs", oid, "invoices.csv"))
    read(clever.p("orgs", oid, "costs.svg"))
    for name in os.listdir(clever.p("orgs", oid, "invoices")):
        if name.endswith(".json"):
            read(clever.p("orgs", oid, "invoices", name))
    quiet(sim)
    paths = [r["path"] for r in sim.requests()]
    # the owners' list names oid (costs.svg's title too); listing invoices/
    # fetches its documents (README); the invoice list is asked once
    assert [p for p in paths if p == invoices_path(oid)] == [invoices_path(oid)], paths
    assert all(p.startswith(invoices_path(oid)) or p in ("/v2/self", "/v2/organisations")
               for p in paths), paths


def test_invoice_status_change_shows_in_its_row_after_the_ttl(sim, mount_fs):
    m = mount_fs("clever", "ttl=1")
    oid = owners(sim)[0]["id"]
    rows = check_invoices_csv(sim, m, oid)
    number, status = rows[1][0], rows[1][4]
    new = "CANCELED" if status != "CANCELED" else "PAID"
    sim.mutate(op="invoice_status", owner=oid, number=number, status=new)

    def changed():
        return csv_rows(read(m.p("orgs", oid, "invoices.csv")))[1][4] == new

    assert wait_for(changed, timeout=15, interval=0.2)
    check_invoices_csv(sim, m, oid)


# -- UpCloud: billing/costs.csv and costs.svg -----------------------------------------

SUMMARY = "/1.3/account/billing/summary/"
UC_UA = "cloudfs-test-views"


def uc_get(sim, path):
    """(status, JSON body) of an UpCloud API path, fetched directly."""
    token = sim.credentials()["upcloud"]["token"]
    req = urllib.request.Request(sim.url + path, headers={
        "Accept": "application/json", "Authorization": "Bearer " + token, "User-Agent": UC_UA})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def billing_months(m):
    """The months billing/ lists, newest first."""
    return sorted((n for n in os.listdir(m.p("billing")) if not n.startswith("costs.")),
                  reverse=True)


def check_costs_csv(sim, m, missing=()):
    path = m.p("billing", "costs.csv")
    data = read(path)
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    rows = csv_rows(data)
    assert rows[0] == ["month", "currency", "total"]
    months = billing_months(m)
    assert len(months) == 13 and [r[0] for r in rows[1:]] == months
    currencies = set()
    for month, currency, total in rows[1:]:
        status, summary = uc_get(sim, SUMMARY + month)
        if month in missing:
            assert total == "0", month
        else:
            assert status == 200, month
            assert (currency, total) == (summary["currency"], str(summary["total_amount"]))
        currencies.add(currency)
    assert len(currencies) == 1 and "" not in currencies
    assert os.stat(path).st_size == len(data)
    return rows


def test_billing_costs_csv_is_one_row_per_listed_month(sim, upcloud):
    check_costs_csv(sim, upcloud)
    # made from 13 responses: no one URL to name
    for name in ("costs.csv", "costs.svg"):
        assert not [a for a in os.listxattr(upcloud.p("billing", name))
                    if a.startswith("user.cloudfs.")]


def test_a_month_without_a_summary_is_a_zero_row(sim, mount_fs):
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    sim.fault(match="^" + re.escape(SUMMARY + month) + "$", kind="status", status=404,
              times=-1)
    try:
        m = mount_fs("upcloud", expect_warnings=True)
        rows = check_costs_csv(sim, m, missing=(month,))
        assert rows[1][0] == month
    finally:
        sim.clear_faults()


def cloudfs_paths(sim):
    return [r["path"] for r in sim.requests() if r["headers"].get("user-agent") != UC_UA]


def test_costs_and_summaries_ask_each_month_once(sim, upcloud):
    quiet(sim)
    sim.clear_requests()
    # listing billing/ reads each month's summary ahead, as the views need
    os.listdir(upcloud.p("billing"))
    read(upcloud.p("billing", "costs.csv"))
    read(upcloud.p("billing", "costs.svg"))
    for month in billing_months(upcloud):
        read(upcloud.p("billing", month, "summary.json"))
    quiet(sim)
    paths = cloudfs_paths(sim)
    # the account (the titles' name) is the credentials check's answer,
    # which the cache keeps from the mount
    wanted = sorted(SUMMARY + mo for mo in billing_months(upcloud))
    assert sorted(paths) == wanted


# -- ls -l costs what the rows name -----------------------------------------------------

def ls_l(path):
    done = subprocess.run(["ls", "-l", path], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ls_l_of_billing_costs_the_summaries_once(sim, upcloud):
    quiet(sim)
    sim.clear_requests()
    months = billing_months(upcloud)
    ls_l(upcloud.p("billing"))
    quiet(sim)
    # the account: the credentials check's answer, kept from the mount
    wanted = sorted(SUMMARY + mo for mo in months)
    assert sorted(cloudfs_paths(sim)) == wanted


def test_ls_l_of_an_owner_costs_its_rows_requests_once(sim, clever):
    state = sim.state()["clever"]
    for owner in [state["self"]] + state["organisations"]:
        oid = owner["id"]
        v2 = "/v2/self" if owner is state["self"] else f"/v2/organisations/{oid}"
        quiet(sim)
        sim.clear_requests()
        # not after a listing of orgs/, which would read all of them ahead
        ls_l(clever.p("orgs", oid))
        quiet(sim)
        paths = cloudfs_paths(sim)
        # the owners' list (its path's lookup), org.json's GET, the invoice
        # list (invoices/, invoices.csv and costs.svg), and the read-ahead
        # of the apps/ and addons/ lists
        allowed = {"/v2/self", "/v2/organisations", v2, invoices_path(oid),
                   f"{v2}/applications", f"{v2}/addons"}
        assert invoices_path(oid) in paths, paths
        assert set(paths) <= allowed, paths
        assert len(paths) == len(set(paths)), paths


# -- the SVG charts render, and their bars follow the data ------------------------------

SVG = "{http://www.w3.org/2000/svg}"
BAR_RGB = (0x4C, 0x78, 0xA8)


def png_pixels(data):
    """(width, height, rows of RGBA tuples) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def render_png(svg_path, workdir):
    out = os.path.join(workdir, "chart.png")
    done = subprocess.run(["rsvg-convert", "-o", out, svg_path], capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return png_pixels(read(out))


def is_bar(rgb):
    return all(abs(a - b) <= 8 for a, b in zip(rgb, BAR_RGB))


def chart_bars(svg_bytes):
    """(title text, [(label, value text, rect)]) of one of cloudfs's charts."""
    root = ET.fromstring(svg_bytes)
    assert root.tag == SVG + "svg"
    title = next(t for t in root.iter(SVG + "text"))
    bars = []
    for rect in root.iter(SVG + "rect"):
        if rect.get("class") == "bar":
            label, value = rect.find(SVG + "title").text.split(" ")[0:2]
            bars.append((label.rstrip(":"), value, rect))
    return title.text, bars


def thirteen_months():
    now = current_month()
    return [month_before(now, n) for n in range(12, -1, -1)]


def check_chart(path, workdir, want, title_has):
    """The chart at path draws want {month: value text}, oldest first; two bars
    of different values have different heights, in the SVG and in the PNG."""
    data = read(path)
    title, bars = chart_bars(data)
    for word in title_has:
        assert word in title, (word, title)
    assert [(label, value) for label, value, _ in bars] == list(want.items())
    width, height, rows = render_png(path, workdir)
    assert len({px for row in rows for px in row}) > 2, "a blank picture"
    assert any(is_bar(px) for row in rows for px in row), "no bar drawn"
    heights = {label: float(rect.get("height")) for label, _, rect in bars}
    values = {label: Decimal(value) for label, value, _ in bars}
    top = max(values.values())
    assert top > 0
    for label in want:
        assert abs(heights[label] - heights[max(values, key=values.get)]
                   * float(values[label] / top)) < 0.2, label
    a, b = sorted((lbl for lbl in want if values[lbl] > 0), key=values.get)[-2:]
    assert values[a] != values[b]
    assert heights[a] != heights[b]

    def column(label):
        rect = next(r for lbl, _, r in bars if lbl == label)
        x = int(float(rect.get("x")) + float(rect.get("width")) / 2)
        return sum(1 for y in range(height) if is_bar(rows[y][x]))

    assert column(a) != column(b)
    for label in (a, b):
        assert abs(column(label) - heights[label]) <= 2, label


def test_clever_costs_svg_renders_the_monthly_totals(sim, clever, workdir):
    for owner in owners(sim):
        oid = owner["id"]
        invoices = newest_first(api_invoices(sim, oid))
        currency = invoices[0]["total_tax_excluded"]["currency"]
        want = {}
        for month in thirteen_months():
            amounts = [Decimal(str(inv["total_tax_excluded"]["amount"])) for inv in invoices
                       if inv["emission_date"][:7] == month
                       and inv["total_tax_excluded"]["currency"] == currency]
            want[month] = str(sum(amounts)) if amounts else "0"
        check_chart(clever.p("orgs", oid, "costs.svg"), workdir, want,
                    [owner["name"], currency])


def test_upcloud_costs_svg_renders_the_costs_table(sim, upcloud, workdir):
    rows = check_costs_csv(sim, upcloud)
    want = {month: total for month, _, total in reversed(rows[1:])}
    assert list(want) == thirteen_months()
    _, account = uc_get(sim, "/1.3/account")
    check_chart(upcloud.p("billing", "costs.svg"), workdir, want,
                [account["account"]["username"], rows[1][1]])
