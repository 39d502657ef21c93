"""Small edits to a draft seating plan, expressed as the whole plan the service replaces.

The API's seating endpoint replaces the plan (rules apply in order, blocks last). Staff in
the admin change it a step at a time ("rows 1-5 of North to Premium", "block these seats"), so
each step sends :func:`ticketing.services.matches.replace_seating` the current plan (as
seat-id rules, which re-create it exactly, blocked reasons included) plus the change. The
service still validates and applies everything; nothing here decides what is allowed.
"""
from ticketing.problems import ValidationFailed, field_error


class Plan:
    def __init__(self, rows):
        self.categories = {}  # category_id -> [seat ids]
        self.blocks = {}  # reason -> [seat ids]
        for seat_id, category_id, reason in rows:
            if category_id is not None:
                self.categories.setdefault(category_id, []).append(seat_id)
            if reason is not None:
                self.blocks.setdefault(reason, []).append(seat_id)

    def assignments(self):
        return [{"seat_ids": ids, "category_id": category_id} for category_id, ids in self.categories.items() if ids]

    def blocked(self):
        return [{"seat_ids": ids, "reason": reason} for reason, ids in self.blocks.items() if ids]

    def remove_from_sale(self, seat_ids):
        drop = set(seat_ids)
        self.categories = {c: [s for s in ids if s not in drop] for c, ids in self.categories.items()}

    def unblock(self, seat_ids):
        drop = set(seat_ids)
        self.blocks = {r: [s for s in ids if s not in drop] for r, ids in self.blocks.items()}

    def block(self, seat_ids, reason):
        self.unblock(seat_ids)
        self.blocks.setdefault(reason, []).extend(seat_ids)


def select_seats(layout, sections, section_id, rows=None, first=None, last=None, field_prefix=""):
    """Seat ids of a section, optionally some rows and a seat-number range, from the layout.

    Used where the admin needs seat ids itself (removing seats from sale, toggling blocks on
    a match on sale); an unknown section or row is a field error, as the service reports it.
    """
    known_sections = {section.id: section for section in sections}
    if section_id not in known_sections:
        raise ValidationFailed("Choose a section.",
                               errors=[field_error(field_prefix + "section_id", "is not a section of this stadium")])
    seats = [seat for seat in layout if seat.section_id == section_id]
    if rows:
        present = {seat.row_label for seat in seats}
        unknown = [label for label in rows if label not in present]
        if unknown:
            name = known_sections[section_id].name
            raise ValidationFailed("Unknown rows.", errors=[
                field_error(field_prefix + ("row" if len(rows) == 1 else "rows"),
                            f"has no row {', '.join(unknown[:10])} in section {name}")])
        seats = [seat for seat in seats if seat.row_label in rows]
    if first is not None or last is not None:
        low, high = first or 1, last or max((seat.number for seat in seats), default=0)
        if low > high:
            raise ValidationFailed("Bad seat range.", errors=[field_error(field_prefix + "to", "must not be before From")])
        seats = [seat for seat in seats if low <= seat.number <= high]
    if not seats:
        raise ValidationFailed("No seats match.", errors=[field_error(field_prefix + "to", "matches no seat")])
    return [seat.id for seat in seats]
