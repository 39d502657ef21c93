"""Geometry for the admin's server-drawn SVG pictures: seat maps and the sales chart.

Pure functions from rows to shapes; the templates only print them. Seats are drawn from their
stored x/y (units of one seat pitch, see :mod:`ticketing.services.stadiums`), one square per
seat, with a ``<title>`` that browsers show on hover; colours come from CSS classes so the
stylesheet owns the palette (no inline styles, which a strict CSP would block).
"""
import math
from dataclasses import dataclass, field

PITCH = 10  # pixels per seat unit
SEAT = 8  # the square drawn for a seat (set in CSS too)
MARGIN = 2 * PITCH
LABEL_SPACE = 2 * PITCH
PALETTE_SIZE = 8
STATUSES = ("available", "held", "sold", "blocked")


@dataclass
class SeatPicture:
    width: int
    height: int
    seats: list = field(default_factory=list)  # (seat_id, x, y, css class, title)
    labels: list = field(default_factory=list)  # (x, y, text)
    counts: dict = field(default_factory=dict)


def colour_class(index):
    return f"c{index % PALETTE_SIZE}"


def _frame(layout, sections):
    max_x = max((seat.x for seat in layout), default=0)
    max_y = max((seat.y for seat in layout), default=0)
    width = MARGIN * 2 + (max_x + 1) * PITCH
    height = MARGIN + LABEL_SPACE + (max_y + 1) * PITCH + MARGIN
    labels = [
        (MARGIN + section.origin_x * PITCH, LABEL_SPACE + section.origin_y * PITCH + PITCH // 2, section.name)
        for section in sections
    ]
    return width, height, labels


def _position(seat):
    return MARGIN + seat.x * PITCH, LABEL_SPACE + MARGIN + seat.y * PITCH


def stadium_picture(layout, sections):
    """The venue as built: every seat, coloured by section, sections labelled."""
    width, height, labels = _frame(layout, sections)
    names = {section.id: section.name for section in sections}
    colours = {section.id: colour_class(index) for index, section in enumerate(sections)}
    seats = []
    for seat in layout:
        x, y = _position(seat)
        title = f"{names.get(seat.section_id, '')} · row {seat.row_label} · seat {seat.number}"
        seats.append((seat.id, x, y, f"s {colours.get(seat.section_id, 'c0')}", title))
    return SeatPicture(width, height, seats, labels, {"seats": len(layout)})


def match_picture(layout, sections, states, categories):
    """A match's seats: colour by category, state by class, seats not on sale drawn faintly.

    ``states`` maps seat id -> (category id, status); seats missing from it are not on sale.
    """
    width, height, labels = _frame(layout, sections)
    names = {section.id: section.name for section in sections}
    category_index = {category.id: index for index, category in enumerate(categories)}
    category_names = {category.id: category.name for category in categories}
    counts = {status: 0 for status in STATUSES}
    counts["none"] = 0
    per_category = {category.id: 0 for category in categories}
    seats = []
    for seat in layout:
        x, y = _position(seat)
        category_id, status = states.get(seat.id, (None, "none"))
        counts[status] += 1
        if category_id in per_category and status != "blocked":
            per_category[category_id] += 1
        css = f"s st-{status}"
        if category_id in category_index:
            css += " " + colour_class(category_index[category_id])
        status_text = "not on sale" if status == "none" else status
        title = f"{names.get(seat.section_id, '')} · row {seat.row_label} · seat {seat.number} · {status_text}"
        if category_id in category_names:
            title += f" · {category_names[category_id]}"
        seats.append((seat.id, x, y, css, title))
    counts["per_category"] = per_category
    return SeatPicture(width, height, seats, labels, counts)


@dataclass
class Chart:
    width: int
    height: int
    plot: tuple  # (left, top, width, height)
    bars: list  # (x, y, width, height, title)
    y_ticks: list  # (y, label)
    x_labels: list  # (x, label)
    empty: bool


def sales_chart(days, money, width=720, height=240):
    """Revenue per day as bars, with a rounded y scale; ``money`` formats minor units."""
    left, right, top, bottom = 64, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((day["revenue"] for day in days), default=0)
    step = _nice_step(peak / 4) if peak else 100
    y_max = step * 4
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, slot * 0.7)
    bars, x_labels = [], []
    for index, day in enumerate(days):
        h = plot_h * day["revenue"] / y_max
        x = left + index * slot + (slot - bar_w) / 2
        title = f"{day['day']:%a %d %b}: {money(day['revenue'])}, {day['orders']} order(s)"
        if day.get("refunded"):
            title += f", {money(day['refunded'])} refunded"
        bars.append((round(x, 1), round(top + plot_h - h, 1), round(bar_w, 1), round(h, 1), title))
        # A label every week, and the last day unless it would collide with the previous one.
        if index % 7 == 0 or (index == len(days) - 1 and index % 7 >= 4):
            x_labels.append((round(left + index * slot + slot / 2, 1), f"{day['day']:%d %b}"))
    y_ticks = [(round(top + plot_h - plot_h * i / 4, 1), money(step * i).replace("\xa0", " ").rsplit(" ", 1)[0]) for i in range(5)]
    return Chart(width, height, (left, top, plot_w, plot_h), bars, y_ticks, x_labels, peak == 0)


def _nice_step(raw):
    """1, 2 or 5 times a power of ten, at least ``raw`` (minor units)."""
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return int(factor * magnitude) or 1
    return int(10 * magnitude)


@dataclass
class LineChart:
    width: int
    height: int
    plot: tuple  # (left, top, width, height)
    lines: list  # (css class, label, "x,y x,y ...")
    y_ticks: list  # (y, label)
    x_labels: list  # (x, label)
    empty: bool


def queue_chart(history, series=(("joined", "Joined"), ("called", "Called"), ("bought", "Bought")),
                width=720, height=240):
    """A waiting room's minutes as lines: fans joined, called and buying per minute."""
    left, right, top, bottom = 48, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((row[name] for row in history for name, _ in series), default=0)
    step = _nice_step(peak / 4) if peak else 1
    y_max = step * 4
    slot = plot_w / max(1, len(history) - 1)
    lines = []
    for index, (name, label) in enumerate(series):
        points = " ".join(f"{round(left + i * slot, 1)},{round(top + plot_h - plot_h * row[name] / y_max, 1)}"
                          for i, row in enumerate(history))
        lines.append((f"line {colour_class(index)}", label, points))
    y_ticks = [(round(top + plot_h - plot_h * i / 4, 1), str(step * i)) for i in range(5)]
    x_labels = [(round(left + i * slot, 1), f"{row['minute']:%H:%M}") for i, row in enumerate(history)
                if i % 10 == 0 or i == len(history) - 1]
    return LineChart(width, height, (left, top, plot_w, plot_h), lines, y_ticks, x_labels, peak == 0)
