"""A printable ticket: one A6 page with the match, the seat, the holder and the QR code.

Rendered by ReportLab (decision 0065), a maintained library that draws the QR code itself as
vector shapes, so the code stays sharp at any print size and no image library is needed.
Text uses the Bitstream Vera fonts that ReportLab ships: unlike the PDF base-14 fonts they
cover the Slovenian letters in fans' names (č, š, ž). Pages are rendered with ReportLab's
``invariant`` flag: the same ticket gives the same bytes, so a client may cache or compare.
The receipt mail (issue 25's mail outbox) can attach ``render(...)`` as it is.
"""
import io

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
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


def render(ticket, code):
    """The PDF bytes of one ticket. ``ticket``: services.tickets.printable's row; ``code``:
    its signed gate code (the caller refuses a void ticket before this)."""
    _fonts()
    width, height = landscape(A6)
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(width, height), invariant=1,
                         pageCompression=0)  # uncompressed: tiny anyway, and greppable text
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

    size = 52 * mm
    widget = QrCodeWidget(code, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, page, width - size - 6 * mm, height - size - 16 * mm)
    page.setFont(REGULAR, 6)
    page.drawString(left, 6 * mm, "Show this code at the gate. It admits one person once; "
                                  "a ticket given to another fan gets a new code.")
    page.showPage()
    page.save()
    return buffer.getvalue()
