"""Clever Cloud invoice documents: line items, the .html and the .pdf renderings.

Line items are a pure function of the invoice number and emission date (seeded
random), so the seed can total them and the documents can list them without
storing them. Documents are a pure function of the invoice object: the same bytes
on every request, different bytes once the invoice changes (its status is printed).
"""

import json
import random
from functools import lru_cache
from html import escape

from clock import DAY, HOUR, parse_iso
import pdf

LARGE_LINES = 5000  # hourly lines: makes a PDF well over 300 KiB
PRODUCTS = [
    ("Scaler XS (1 vCPU, 1 GiB)", 0.0201),
    ("Scaler S (2 vCPU, 2 GiB)", 0.0402),
    ("PostgreSQL XS Small Space", 0.0073),
    ("Redis S", 0.0139),
    ("Pulsar storage (GiB)", 0.0009),
    ("Outgoing bandwidth (GiB)", 0.0900),
    ("Cellar storage (GiB)", 0.0002),
]


def line_items(number, emission_date, large):
    """[(label, amount)] for the month before emission_date."""
    rng = random.Random(number)
    period_end = parse_iso(emission_date)
    if large:
        start = period_end - LARGE_LINES * HOUR
        return [hourly_line(rng, start + i * HOUR) for i in range(LARGE_LINES)]
    period = (period_end - DAY).strftime("%Y-%m")
    picks = rng.sample(PRODUCTS, rng.randint(3, 6))
    return [(f"{period}  {name}  x {rng.randint(50, 744)}", round(price * rng.randint(50, 744), 2))
            for name, price in picks]


def hourly_line(rng, hour):
    name, price = PRODUCTS[rng.randrange(2)]
    return f"{hour:%Y-%m-%d %H}:00  {name}  1 h", price


def header(invoice):
    addr = invoice["address"]
    return [
        f"Invoice {invoice['invoice_number']}",
        f"Status: {invoice['status']}",
        f"Emitted: {invoice['emission_date']}",
        f"Billed to: {addr['company'] or addr['name']}, {addr['address']}, "
        f"{addr['zipcode']} {addr['city']} ({addr['country_alpha2']})",
    ]


def totals(invoice):
    return [
        f"Total excluding tax: {invoice['total_tax_excluded']['default_display']}",
        f"VAT {invoice['vat_percent']:g}%: {invoice['total_tax']['default_display']}",
    ]


@lru_cache(maxsize=64)
def render(kind, invoice_json, large):
    """The invoice document ("html" or "pdf") as bytes."""
    invoice = json.loads(invoice_json)
    lines = line_items(invoice["invoice_number"], invoice["emission_date"], large)
    return RENDERERS[kind](invoice, lines)


def render_html(invoice, lines):
    shown = lines[:12]
    rows = "".join(f"<tr><td>{escape(label)}</td><td>{amount:.4f} EUR</td></tr>\n"
                   for label, amount in shown)
    more = f"<p>... and {len(lines) - len(shown)} more lines</p>\n" if len(lines) > len(shown) else ""
    head, *details = header(invoice)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(head)}</title></head>\n<body>\n<h1>{escape(head)}</h1>\n"
        + "".join(f"<p>{escape(text)}</p>\n" for text in details)
        + f"<table>\n{rows}</table>\n{more}"
        + "".join(f"<p><strong>{escape(text)}</strong></p>\n" for text in totals(invoice))
        + "</body></html>\n"
    ).encode("utf-8")


def render_pdf(invoice, lines):
    head, *details = header(invoice)
    text = [(16, head), (10, "")] + [(10, line) for line in details] + [(10, "")]
    text += [(9, f"{label}    {amount:.4f} EUR") for label, amount in lines]
    text += [(10, "")] + [(11, line) for line in totals(invoice)]
    return pdf.render(text, head, parse_iso(invoice["emission_date"]))


RENDERERS = {"html": render_html, "pdf": render_pdf}
