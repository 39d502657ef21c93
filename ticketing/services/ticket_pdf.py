"""A printable ticket: one A6 page with the match, the seat, the holder and the QR code.

Rendered by ReportLab (decision 0065). The QR code is encoded by segno (the library the SVG
endpoint uses: ReportLab's own pure-Python encoder took ~0.4 s per code) and drawn as vector
rectangles, one per run of dark modules in a row, so it stays sharp at any print size and no
image library is needed.
Text uses the Bitstream Vera fonts that ReportLab ships: unlike the PDF base-14 fonts they
cover the Slovenian letters in fans' names (č, š, ž). Pages are rendered with ReportLab's
``invariant`` flag: the same ticket gives the same bytes, so a client may cache or compare.
The receipt mail attaches ``render(...)`` as it is (services/notices.py, composed by the sender).
"""
import io

import segno
from reportlab.lib.pagesizes import A6, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

REGULAR, BOLD = "Vera", "VeraBd"
_registered = False


def _fonts():
    global _registered
    if not _registered:  # once per process; registering is idempotent but reads the files
        pdfmetrics.registerFont(TTFont(REGULAR, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))
        _registered = True


def _money(amount, currency):
    return f"{amount // 100}.{amount % 100:02d} {currency}"


def _draw_qr(page, code, x, y, size):
    """The code's QR symbol (error correction M, as the SVG) in a ``size`` square at x, y,
    with its quiet zone."""
    symbol = segno.make(code, error="m")
    matrix = symbol.matrix
    border = 2
    modules = len(matrix) + 2 * border
    page.saveState()
    # In module units, top row first: every rectangle is a few small integers in the file.
    page.translate(x, y + size)
    page.scale(size / modules, -size / modules)
    page.setFillColorRGB(0, 0, 0)
    path = page.beginPath()
    for row_index, row in enumerate(matrix):
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            start = column
            while column < len(row) and row[column]:
                column += 1
            path.rect(start + border, row_index + border, column - start, 1)
    page.drawPath(path, stroke=0, fill=1)
    page.restoreState()


def render(ticket, code):
    """The PDF bytes of one ticket. ``ticket``: services.tickets.printable's row; ``code``:
    its signed gate code (the caller refuses a void ticket before this)."""
    _fonts()
    width, height = landscape(A6)
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(width, height), invariant=1, pageCompression=1)
    page.setTitle(f"Ticket {ticket['id']}: {ticket['home_team']} vs {ticket['away_team']}")
    page.setAuthor("Volleyball federation box office")

    left, top = 8 * mm, height - 10 * mm
    page.setFont(BOLD, 13)
    page.drawString(left, top, f"{ticket['home_team']} vs {ticket['away_team']}")
    page.setFont(REGULAR, 9)
    kickoff = ticket["starts_at"].strftime("%Y-%m-%d %H:%M UTC")
    page.drawString(left, top - 6 * mm, f"{ticket['stadium']}, {ticket['city']} - {kickoff}")

    lines = [
        ("Section", ticket["section"]),
        ("Row", ticket["row"]),
        ("Seat", str(ticket["number"])),
        ("Category", ticket["category"] or "-"),
        ("Price", _money(ticket["price"], ticket["currency"])),
        ("Holder", ticket["holder"]),
        ("Ticket", f"#{ticket['id']} (order #{ticket['order_id']})"),
    ]
    y = top - 16 * mm
    for label, value in lines:
        page.setFont(REGULAR, 8)
        page.drawString(left, y, label)
        page.setFont(BOLD, 10)
        page.drawString(left + 18 * mm, y, value)
        y -= 6 * mm

    _draw_qr(page, code, width - 58 * mm, height - 68 * mm, 52 * mm)
    page.setFont(REGULAR, 6)
    page.drawString(left, 6 * mm, "Show this code at the gate. It admits one person once; "
                                  "a ticket given to another fan gets a new code.")
    page.showPage()
    page.save()
    return buffer.getvalue()
