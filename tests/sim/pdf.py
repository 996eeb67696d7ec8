"""A minimal, real PDF 1.4 writer: text lines in the standard Helvetica font.

render() lays lines out on A4 pages (with a page footer) and writes a file that
pdftotext and `qpdf --check` accept: header with a binary comment, one object per
catalog/pages/font/info/page/content stream, an xref table with exact byte offsets
and a trailer. Output depends only on the arguments, so it is byte-stable.
"""

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 50
LEADING = 14
LINES_PER_PAGE = 50
SPECIAL = {ord("\\"): b"\\\\", ord("("): b"\\(", ord(")"): b"\\)"}


def pdf_string(text):
    """A PDF literal string body in WinAnsiEncoding (what Helvetica here uses)."""
    out = bytearray()
    for byte in text.encode("cp1252", errors="replace"):
        if byte in SPECIAL:
            out += SPECIAL[byte]
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    return bytes(out)


def content_stream(lines, footer):
    ops = [b"BT", b"%d TL" % LEADING, b"%d %d Td" % (MARGIN, PAGE_HEIGHT - MARGIN)]
    ops += [b"/F1 %d Tf (%s) Tj T*" % (size, pdf_string(text)) for size, text in lines]
    ops += [b"ET", b"BT /F1 8 Tf %d %d Td (%s) Tj ET" % (MARGIN, MARGIN // 2, pdf_string(footer))]
    return b"\n".join(ops) + b"\n"


def stream_object(data):
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def render(lines, title, created):
    """PDF bytes for lines [(font size, text)], title and a datetime of creation."""
    chunks = [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    first_page = 5  # objects 1-4: catalog, pages, font, info
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(len(chunks)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(chunks)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (%s) /Producer (cloudsim) /CreationDate (D:%s) >>"
        % (pdf_string(title), created.strftime("%Y%m%d%H%M%SZ").encode()),
    ]
    for number, chunk in enumerate(chunks, 1):
        footer = f"{title} - page {number} of {len(chunks)}"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (PAGE_WIDTH, PAGE_HEIGHT, len(objects) + 2)
        )
        objects.append(stream_object(content_stream(chunk, footer)))
    return assemble(objects)


def assemble(objects):
    """Header, numbered objects, xref with their offsets, trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
