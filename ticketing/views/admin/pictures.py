"""Geometry for the admin's server-drawn SVG pictures: seat maps and the sales chart.

Pure functions from rows to shapes; the templates only print them. Seats are drawn from their
stored x/y (units of one seat pitch, see :mod:`ticketing.services.stadiums`), one square per
seat, with a ``<title>`` that browsers show on hover; colours come from CSS classes so the
stylesheet owns the palette (no inline styles, which a strict CSP would block). The seat
maps travel as a compact drawing that static/admin/seatmap.js turns into the squares
(decision 0060): about 10 bytes a seat instead of 100.
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
    seats: list = field(default_factory=list)  # seat ids, in drawing order
    labels: list = field(default_factory=list)  # (x, y, text)
    counts: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # the compact drawing, for static/admin/seatmap.js


def colour_class(index):
    return f"c{index % PALETTE_SIZE}"


def _frame(layout, sections):
    max_x = max((seat[4] for seat in layout), default=0)  # layout rows: id, section, row, number, x, y
    max_y = max((seat[5] for seat in layout), default=0)
    width = MARGIN * 2 + (max_x + 1) * PITCH
    height = MARGIN + LABEL_SPACE + (max_y + 1) * PITCH + MARGIN
    labels = [
        (MARGIN + section.origin_x * PITCH, LABEL_SPACE + section.origin_y * PITCH + PITCH // 2, section.name)
        for section in sections
    ]
    return width, height, labels


#: One character per seat status in the compact drawing.
STATUS_CODES = {"available": "a", "held": "h", "sold": "s", "blocked": "b", "none": "n"}
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _deltas(values):
    return [b - a for a, b in zip((0,) + values[:-1], values)]


def _compact(layout, sections, kinds, statuses=None, category_ids=None, categories=None, category_of=None):
    """The seats as a compact drawing (decision 0060): a page of 12,000 seats drawn as one
    element each weighed 1.2-1.6 MB of HTML; this is about 10 bytes a seat, drawn into the
    SVG by static/admin/seatmap.js.

    ``d`` holds four numbers a seat, each the difference from the seat before: id, x, y and
    seat number (usually ``1,1,0,1``); ``r`` the row labels and ``t`` the sections, each as
    [first seat index, value] runs; ``k`` one class index a seat (base 36, ``kinds``) into
    ``classes``; ``s`` one status character a seat (STATUS_CODES); ``c`` one category index a
    seat (base 36, ``-`` for none) into ``categories``. Built column by column (comprehensions,
    no per-seat branching): 10,000 seats in a few milliseconds."""
    ids, section_ids, labels, numbers, xs, ys = (tuple(column) for column in zip(*layout)) if layout else ((),) * 6
    section_index = {section.id: index for index, section in enumerate(sections)}
    count = len(ids)
    deltas = [value for four in zip(_deltas(ids), _deltas(xs), _deltas(ys), _deltas(numbers)) for value in four]
    rows = [[i, labels[i]] for i in range(count)
            if i == 0 or labels[i] != labels[i - 1] or section_ids[i] != section_ids[i - 1]]
    parts = [[i, section_index.get(section_ids[i], 0)] for i in range(count)
             if i == 0 or section_ids[i] != section_ids[i - 1]]
    data = {"pitch": PITCH, "margin": MARGIN, "top": LABEL_SPACE + MARGIN, "d": deltas, "r": rows, "t": parts,
            "k": "".join(_BASE36[kind % 36] for kind in kinds(ids, section_ids)),
            "sections": [section.name for section in sections]}
    if statuses is not None:
        data.update({"s": "".join(STATUS_CODES[status] for status in statuses),
                     "c": "".join(_BASE36[category_of[c] % 36] if c in category_of else "-" for c in category_ids),
                     "categories": categories})
    return data


def stadium_picture(layout, sections):
    """The venue as built: every seat, coloured by section, sections labelled."""
    width, height, labels = _frame(layout, sections)
    colours = {section.id: index % PALETTE_SIZE for index, section in enumerate(sections)}
    data = _compact(layout, sections, lambda ids, section_ids: [colours.get(s, 0) for s in section_ids])
    data["classes"] = [f"s c{index}" for index in range(PALETTE_SIZE)]
    return SeatPicture(width, height, [seat[0] for seat in layout], labels, {"seats": len(layout)}, data)


def match_picture(layout, sections, states, categories):
    """A match's seats: colour by category, state by class, seats not on sale drawn faintly.

    ``states`` maps seat id -> (category id, status); seats missing from it are not on sale.
    """
    width, height, labels = _frame(layout, sections)
    category_index = {category.id: index for index, category in enumerate(categories)}
    missing = (None, "none")
    seat_states = [states.get(seat[0], missing) for seat in layout]
    category_ids = [state[0] for state in seat_states]
    statuses = [state[1] for state in seat_states]
    counts = {status: statuses.count(status) for status in STATUSES + ("none",)}
    counts["per_category"] = {category.id: 0 for category in categories}
    for category_id, status in seat_states:
        if category_id in counts["per_category"] and status != "blocked":
            counts["per_category"][category_id] += 1
    # The class of a seat: its category's colour (st-<status> is added from ``s``).
    data = _compact(layout, sections,
                    lambda ids, section_ids: [1 + category_index[c] % PALETTE_SIZE if c in category_index else 0
                                              for c in category_ids],
                    statuses, category_ids, [category.name for category in categories], category_index)
    data["classes"] = ["s"] + [f"s c{index}" for index in range(PALETTE_SIZE)]
    return SeatPicture(width, height, [seat[0] for seat in layout], labels, counts, data)


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
