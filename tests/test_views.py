"""Views the API has no single call for (README "The Clever Cloud tree", "The
UpCloud tree"): invoices.csv, costs.svg, billing/costs.csv and costs.svg.

Every expectation is read from the simulator's own API (urllib, not the mount)
while the test runs: nothing is copied from the seed.
"""

import csv
import io
import json
import os
import subprocess
import time
from datetime import datetime
from decimal import Decimal

from conftest import wait_for

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
    os.listdir(clever.p("orgs"))
    sim.clear_requests()
    read(clever.p("orgs", oid, "invoices.csv"))
    read(clever.p("orgs", oid, "costs.svg"))
    for name in os.listdir(clever.p("orgs", oid, "invoices")):
        if name.endswith(".json"):
            read(clever.p("orgs", oid, "invoices", name))
    paths = [r["path"] for r in sim.requests()]
    # listing invoices/ fetches its documents (README); the list is asked once
    assert [p for p in paths if p == invoices_path(oid)] == [invoices_path(oid)], paths
    assert all(p.startswith(invoices_path(oid)) for p in paths), paths


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
