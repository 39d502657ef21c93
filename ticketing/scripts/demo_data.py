"""``ticketing development.ini demo-data``: a believable volleyball season to click through.

A fresh development database is empty, and an empty box office shows nothing worth testing
by hand. This command loads four halls with named stands and realistic row lengths, a dozen
league matches over the coming weeks (each with three or four price categories, every
section on sale and a few press seats blocked), publishes them, and signs up some fans.

Everything goes through the service layer, exactly as staff would build it through the API,
so the demo data obeys the same rules (and exercises the same code) as real data.

Re-running is safe: a stadium, match or fan that is already there is left alone, so the
command can sit in ``make run`` and a second run creates nothing. Matches are recognised by
their pairing (home, away, hall), not their date, because dates are computed from today.

The demo fans share one password, ``demo-fan-2026`` (development data only: it is printed on
every run). Their addresses count as confirmed: nobody reads example.com's mail, and a demo
fan should be able to try everything, giving a ticket to another and withdrawing included
(decision 0056 keeps those from unconfirmed accounts).
"""
import sys
import time as clock
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import func, select

from ticketing.models import Match, Section, Stadium
from ticketing.scripts.cli import command
from ticketing.services import accounts, matches, stadiums

DEMO_FAN_PASSWORD = "demo-fan-2026"


@dataclass(frozen=True)
class SectionSpec:
    """A stand whose rows get longer towards the back, like a real bowl."""

    name: str
    row_count: int
    front_row_seats: int
    extra_seats_per_row: int = 1

    def rows(self):
        return [
            {"label": str(index + 1), "seats": self.front_row_seats + index * self.extra_seats_per_row}
            for index in range(self.row_count)
        ]

    @property
    def seat_count(self):
        return sum(row["seats"] for row in self.rows())


@dataclass(frozen=True)
class CategorySpec:
    name: str
    price: int  # minor units (cents)
    sections: tuple


@dataclass(frozen=True)
class PressSeats:
    """The seats journalists get: the front of one row in the main stand."""

    section: str
    row: str
    first: int
    last: int


@dataclass(frozen=True)
class VenueSpec:
    name: str
    city: str
    address: str
    sections: tuple
    categories: tuple  # dearest first; a section no category names is sold in the cheapest
    press: PressSeats


def _sides(prefix, halves, row_count, front_row_seats):
    return tuple(SectionSpec(f"{prefix} {half}".strip(), row_count, front_row_seats) for half in halves)


STOZICE = VenueSpec(
    name="Arena Stožice",
    city="Ljubljana",
    address="Vojkova cesta 100",
    sections=(
        *_sides("West Stand", "AB", 18, 26),
        *_sides("East Stand", "AB", 18, 26),
        *_sides("North Stand", "AB", 18, 26),
        *_sides("South Stand", "AB", 18, 26),
        *_sides("West Upper", "AB", 21, 30),
        *_sides("East Upper", "AB", 21, 30),
        *_sides("North Upper", "AB", 21, 30),
        *_sides("South Upper", "AB", 21, 30),
    ),
    categories=(
        CategorySpec("Premium sideline", 6000, ("West Stand A", "West Stand B", "East Stand A", "East Stand B")),
        CategorySpec("Lower tier", 4000, ("North Stand A", "North Stand B", "South Stand A", "South Stand B")),
        CategorySpec("Upper sideline", 2500, ("West Upper A", "West Upper B", "East Upper A", "East Upper B")),
        CategorySpec("Upper ends", 1500, ("North Upper A", "North Upper B", "South Upper A", "South Upper B")),
    ),
    press=PressSeats("West Stand A", "1", 1, 8),
)

TIVOLI = VenueSpec(
    name="Hala Tivoli",
    city="Ljubljana",
    address="Celovška cesta 25",
    sections=(
        *_sides("West Stand", "AB", 16, 28),
        *_sides("East Stand", "AB", 16, 28),
        *_sides("North Stand", "AB", 14, 24),
        *_sides("South Stand", "AB", 14, 24),
    ),
    categories=(
        CategorySpec("Premium", 4000, ("West Stand A", "West Stand B")),
        CategorySpec("Standard", 2500, ("East Stand A", "East Stand B")),
        CategorySpec("Economy", 1800, ("North Stand A", "North Stand B")),
        CategorySpec("Family", 1200, ("South Stand A", "South Stand B")),
    ),
    press=PressSeats("West Stand A", "1", 1, 6),
)

LUKNA = VenueSpec(
    name="Dvorana Lukna",
    city="Maribor",
    address="Koroška cesta 160",
    sections=(
        SectionSpec("West Stand", 18, 34),
        SectionSpec("East Stand", 18, 34),
        SectionSpec("North Stand", 14, 28),
        SectionSpec("South Stand", 14, 28),
    ),
    categories=(
        CategorySpec("Main stand", 2500, ("West Stand",)),
        CategorySpec("Opposite stand", 1800, ("East Stand",)),
        CategorySpec("Ends", 1200, ("North Stand", "South Stand")),
    ),
    press=PressSeats("West Stand", "1", 1, 6),
)

ZLATOROG = VenueSpec(
    name="Dvorana Zlatorog",
    city="Celje",
    address="Opekarniška cesta 15",
    sections=(
        *_sides("West Stand", "AB", 18, 30),
        *_sides("East Stand", "AB", 18, 30),
        *_sides("North Stand", "AB", 16, 26),
        *_sides("South Stand", "AB", 16, 26),
    ),
    categories=(
        CategorySpec("Sideline", 3000, ("West Stand A", "West Stand B")),
        CategorySpec("Opposite", 2000, ("East Stand A", "East Stand B")),
        CategorySpec("Ends", 1500, ("North Stand A", "North Stand B", "South Stand A", "South Stand B")),
    ),
    press=PressSeats("West Stand A", "1", 1, 6),
)

VENUES = (STOZICE, TIVOLI, LUKNA, ZLATOROG)

SATURDAY, SUNDAY, WEDNESDAY = 0, 1, 4  # days after the round's Saturday


@dataclass(frozen=True)
class Fixture:
    week: int
    day: int
    kickoff: time  # local time in the hall
    home: str
    away: str
    venue: VenueSpec


# Eight clubs; the Ljubljana clubs play at Tivoli and move to Stožice for the opener and the
# derby. Each (home, away) pair appears once: it is how a re-run recognises its own matches.
FIXTURES = (
    Fixture(0, SATURDAY, time(19, 0), "ACH Volley Ljubljana", "Calcit Volley Kamnik", STOZICE),
    Fixture(0, SUNDAY, time(18, 0), "OK Merkur Maribor", "OK Salonit Anhovo", LUKNA),
    Fixture(1, SATURDAY, time(19, 30), "OK Olimpija Ljubljana", "OK Panvita Pomgrad", TIVOLI),
    Fixture(1, SUNDAY, time(17, 0), "OK Celje", "OK Maribor", ZLATOROG),
    Fixture(1, WEDNESDAY, time(20, 0), "Calcit Volley Kamnik", "OK Celje", TIVOLI),
    Fixture(2, SATURDAY, time(20, 0), "ACH Volley Ljubljana", "OK Merkur Maribor", TIVOLI),
    Fixture(3, SATURDAY, time(18, 0), "OK Maribor", "OK Olimpija Ljubljana", LUKNA),
    Fixture(3, SUNDAY, time(18, 0), "OK Salonit Anhovo", "OK Panvita Pomgrad", ZLATOROG),
    Fixture(4, SATURDAY, time(19, 0), "OK Olimpija Ljubljana", "Calcit Volley Kamnik", TIVOLI),
    Fixture(5, SATURDAY, time(19, 0), "OK Merkur Maribor", "OK Maribor", LUKNA),
    Fixture(6, SUNDAY, time(18, 0), "OK Celje", "ACH Volley Ljubljana", ZLATOROG),
    Fixture(7, SATURDAY, time(20, 0), "ACH Volley Ljubljana", "OK Olimpija Ljubljana", STOZICE),
)


@dataclass(frozen=True)
class DemoFan:
    email: str
    full_name: str


DEMO_FANS = (
    DemoFan("ana.novak@example.com", "Ana Novak"),
    DemoFan("luka.kovac@example.com", "Luka Kovač"),
    DemoFan("maja.horvat@example.com", "Maja Horvat"),
)


def _hall_timezone():
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Ljubljana")
    except Exception:  # no tz database on this machine: Central European Time is close enough
        return timezone(timedelta(hours=1))


def first_round_saturday(today):
    """The first Saturday at least three days away, so every kick-off is safely in the future."""
    earliest = today + timedelta(days=3)
    return earliest + timedelta(days=(5 - earliest.weekday()) % 7)


def kickoff_of(fixture, first_saturday, tz):
    day = first_saturday + timedelta(weeks=fixture.week, days=fixture.day)
    return datetime.combine(day, fixture.kickoff, tzinfo=tz)


class ProgressBar:
    """One text line redrawn in place: ``[#####.....]  7/19  Home – Away``."""

    LINE_WIDTH = 79  # a carriage return cannot climb back over a line the terminal wrapped

    def __init__(self, total, out, bar_width=20):
        self.total, self.out, self.bar_width = total, out, bar_width
        self.done = 0

    def advance(self, label):
        self.done += 1
        filled = self.bar_width * self.done // self.total
        bar = "#" * filled + "." * (self.bar_width - filled)
        line = f"[{bar}] {self.done:>{len(str(self.total))}}/{self.total}  {label}"
        # Padding to the full width wipes out the tail of a longer previous label.
        self.out.write("\r" + line[: self.LINE_WIDTH].ljust(self.LINE_WIDTH))
        self.out.flush()

    def finish(self):
        self.out.write("\n")
        self.out.flush()


@dataclass
class DemoSummary:
    """What a run created and what it found already there."""

    stadiums_created: int = 0
    stadiums_present: int = 0
    seats_created: int = 0
    seats_total: int = 0
    matches_created: int = 0
    matches_present: int = 0
    customers_created: int = 0
    customers_present: int = 0
    fans: list = field(default_factory=list)

    @property
    def created_anything(self):
        return bool(self.stadiums_created or self.matches_created or self.customers_created)


def _find_stadium(dbsession, name):
    return dbsession.execute(
        select(Stadium).where(func.lower(Stadium.name) == name.lower())
    ).scalar_one_or_none()


def ensure_stadium(dbsession, venue, summary):
    """The venue's stadium, built section by section unless a stadium of that name exists."""
    stadium = _find_stadium(dbsession, venue.name)
    if stadium is not None:
        summary.stadiums_present += 1
    else:
        stadium = stadiums.create_stadium(dbsession, venue.name, venue.city, venue.address)
        for section in venue.sections:
            stadiums.add_section(dbsession, stadium, section.name, section.rows())
        summary.stadiums_created += 1
        summary.seats_created += sum(section.seat_count for section in venue.sections)
    summary.seats_total += stadiums.seat_count(dbsession, stadium.id)
    return stadium


def _match_exists(dbsession, stadium, fixture):
    return dbsession.execute(
        select(Match.id).where(
            Match.stadium_id == stadium.id,
            func.lower(Match.home_team) == fixture.home.lower(),
            func.lower(Match.away_team) == fixture.away.lower(),
        )
    ).first() is not None


def seating_plan(venue, sections_by_name, category_ids):
    """Assignments covering every section of the hall, and the press block.

    Sections are read from the database, not the spec, so a hall that already existed with
    extra stands still has all of them on sale (in the cheapest category).
    """
    category_of_section = {
        section_name: category_ids[category.name]
        for category in venue.categories
        for section_name in category.sections
    }
    cheapest = category_ids[venue.categories[-1].name]
    assignments = [
        {"section_id": section_id, "category_id": category_of_section.get(name, cheapest)}
        for name, section_id in sorted(sections_by_name.items())
    ]
    blocked = []
    if venue.press.section in sections_by_name:
        blocked.append({
            "section_id": sections_by_name[venue.press.section],
            "row": venue.press.row,
            "from": venue.press.first,
            "to": venue.press.last,
            "reason": "press",
        })
    return assignments, blocked


def schedule_match(dbsession, stadium, fixture, starts_at, currency):
    """Create, price, seat and publish one match: the same steps staff take in the API."""
    match = matches.create_match(dbsession, {
        "stadium_id": stadium.id,
        "home_team": fixture.home,
        "away_team": fixture.away,
        "starts_at": starts_at,
    })
    category_ids = {
        category.name: matches.add_category(dbsession, match, category.name, category.price, currency).id
        for category in fixture.venue.categories
    }
    sections_by_name = dict(
        dbsession.execute(select(Section.name, Section.id).where(Section.stadium_id == stadium.id)).all()
    )
    assignments, blocked = seating_plan(fixture.venue, sections_by_name, category_ids)
    matches.replace_seating(dbsession, match, assignments=assignments, blocked=blocked)
    return matches.publish(dbsession, match)


def ensure_fan(dbsession, fan, bcrypt_rounds, summary):
    if accounts.find_by_email(dbsession, fan.email) is not None:
        summary.customers_present += 1
    else:
        user = accounts.signup(dbsession, fan.email, DEMO_FAN_PASSWORD, fan.full_name, bcrypt_rounds=bcrypt_rounds)
        user.email_verified_at = datetime.now(timezone.utc)
        summary.customers_created += 1
    summary.fans.append(fan)


def load_demo_data(dbsession, settings, out=None, today=None):
    """Create whatever part of the demo season is missing; return a :class:`DemoSummary`.

    The caller owns the transaction: nothing here commits. ``out`` defaults to the
    *current* ``sys.stdout`` (looked up per call, so redirections and pytest's capsys work).
    """
    summary = DemoSummary()
    progress = ProgressBar(len(VENUES) + len(FIXTURES) + len(DEMO_FANS), out or sys.stdout)

    stadium_of_venue = {}
    for venue in VENUES:
        stadium_of_venue[venue.name] = ensure_stadium(dbsession, venue, summary)
        progress.advance(f"stadium {venue.name}")

    tz = _hall_timezone()
    first_saturday = first_round_saturday(today or datetime.now(tz).date())
    for fixture in FIXTURES:
        stadium = stadium_of_venue[fixture.venue.name]
        if _match_exists(dbsession, stadium, fixture):
            summary.matches_present += 1
        else:
            starts_at = kickoff_of(fixture, first_saturday, tz)
            schedule_match(dbsession, stadium, fixture, starts_at, settings["ticketing.currency"])
            summary.matches_created += 1
        progress.advance(f"{fixture.home} – {fixture.away}")

    for fan in DEMO_FANS:
        ensure_fan(dbsession, fan, int(settings["auth.bcrypt_rounds"]), summary)
        progress.advance(f"customer {fan.email}")

    progress.finish()
    return summary


def print_summary(summary, out=None):
    out = out or sys.stdout

    def line(what, created, present, extra=""):
        out.write(f"  {what:<10} {created:>3} new, {present:>3} already there{extra}\n")

    out.write("Demo season:\n" if summary.created_anything else "Demo season already loaded; nothing new:\n")
    line("stadiums", summary.stadiums_created, summary.stadiums_present,
         f"  ({summary.seats_total:,} seats, {summary.seats_created:,} new)")
    line("matches", summary.matches_created, summary.matches_present, "  (published, on sale)")
    line("customers", summary.customers_created, summary.customers_present)
    out.write(f"Demo customers (password: {DEMO_FAN_PASSWORD}):\n")
    for fan in summary.fans:
        out.write(f"  {fan.email:<28} {fan.full_name}\n")


@command("demo-data", "load a demo season (stadiums, matches on sale, customers); safe to re-run")
def demo_data(env, args):
    request = env["request"]
    started = clock.monotonic()
    with request.tm:
        summary = load_demo_data(request.dbsession, env["registry"].settings)
    # Only after the commit: the summary must not announce data that was rolled back.
    print_summary(summary)
    print(f"Done in {clock.monotonic() - started:.1f} s.")
