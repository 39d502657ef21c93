"""Form plumbing shared by the admin pages: parsing, field errors, pagination, formatting.

Form values arrive as strings; these helpers turn them into the plain values the services
take, collecting ``{field, message}`` errors in the same shape as the services' own
:class:`~ticketing.problems.Problem` errors, so a page shows both kinds the same way.
"""
import fnmatch
import math
import re
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_minus_sign_symbol, get_plus_sign_symbol
from pyramid.events import BeforeRender, NewResponse, subscriber

from ticketing.money import format_money, locale_of
from ticketing.services.wallet import OUTGOING_KINDS
from ticketing.problems import Problem, ValidationFailed, field_error
from ticketing.resources import is_decimal

DEFAULT_TIMEZONE = "Europe/Ljubljana"
#: Wallet ledger kinds that are money out of the wallet (shown with a minus sign).
PAGE_SIZE = 20
ADMIN_PATH = r"^/admin(/|$)"

STATUS_LABELS = {
    "draft": "Draft",
    "on_sale": "On sale",
    "closed": "Sales closed",
    "cancelled": "Cancelled",
    "paid": "Paid",
    "valid": "Valid",
    "void": "Void",
}


def local_zone(request):
    """The staff's wall-clock zone (setting ``admin.timezone``); UTC when tzdata is missing."""
    name = request.registry.settings.get("admin.timezone") or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


# --- parsing ------------------------------------------------------------------------------

def text_field(params, name, max_length=500):
    return (params.get(name) or "").strip()[:max_length]


def int_field(params, name, errors, *, required=True, minimum=None, maximum=None, label="a whole number"):
    raw = (params.get(name) or "").strip()
    if not raw:
        if required:
            errors.append(field_error(name, "is required"))
        return None
    if not re.fullmatch(r"-?\d{1,12}", raw):
        errors.append(field_error(name, f"must be {label}"))
        return None
    value = int(raw)
    if minimum is not None and value < minimum:
        errors.append(field_error(name, f"must be at least {minimum}"))
        return None
    if maximum is not None and value > maximum:
        errors.append(field_error(name, f"must be at most {maximum}"))
        return None
    return value


def money_field(params, name, errors, *, required=True, maximum=None):
    """"25", "25.5", "25,50" or "1 250.00" (major units) -> minor units (int)."""
    raw = (params.get(name) or "").strip().replace(" ", "").replace("\u00a0", "")
    if not raw:
        if required:
            errors.append(field_error(name, "is required"))
        return None
    if "," in raw and "." in raw and raw.rindex(",") > raw.rindex("."):
        raw = raw.replace(".", "").replace(",", ".")  # 1.250,00 as the federation writes it
    raw = raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw.replace(",", "")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        errors.append(field_error(name, "must be an amount such as 25.00"))
        return None
    # Size first: quantizing a huge amount (1e30) to cents overflows Decimal's precision.
    if not amount.is_finite() or abs(amount) > 10**10:
        errors.append(field_error(name, "must be an amount of at most 10,000,000,000.00"))
        return None
    if amount != amount.quantize(Decimal("0.01")):
        errors.append(field_error(name, "must be an amount with at most two decimals"))
        return None
    if maximum is not None and not 0 <= amount * 100 <= maximum:
        errors.append(field_error(name, f"must be an amount from 0.00 to {maximum // 100:,}.{maximum % 100:02d}"))
        return None
    return int(amount * 100)


def datetime_field(params, name, errors, zone, *, required=True):
    """A ``datetime-local`` value in the staff's zone -> an aware datetime."""
    raw = (params.get(name) or "").strip()
    if not raw:
        if required:
            errors.append(field_error(name, "is required"))
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors.append(field_error(name, "must be a date and time such as 2027-03-01T18:00"))
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def id_list(raw):
    """"3, 5 7" -> [3, 5, 7]; anything that is not a number is ignored (it came from our JS)."""
    return sorted({int(token) for token in re.split(r"[\s,]+", raw or "") if is_decimal(token) and len(token) < 19})


def row_labels(raw):
    """"1-5, 8" or "A-C" -> ["1", ..., "5", "8"] / ["A", "B", "C"]; other tokens are labels."""
    labels = []
    for token in (part.strip() for part in (raw or "").split(",")):
        if not token:
            continue
        numbers = re.fullmatch(r"(\d{1,4})\s*-\s*(\d{1,4})", token)
        letters = re.fullmatch(r"([A-Za-z])\s*-\s*([A-Za-z])", token)
        if numbers and int(numbers[1]) <= int(numbers[2]):
            labels += [str(n) for n in range(int(numbers[1]), int(numbers[2]) + 1)]
        elif letters and letters[1].upper() <= letters[2].upper() and letters[1].isupper() == letters[2].isupper():
            labels += [chr(c) for c in range(ord(letters[1]), ord(letters[2]) + 1)]
        else:
            labels.append(token)
    return list(dict.fromkeys(labels))


def require_valid(errors, detail="Some fields are not valid."):
    if errors:
        raise ValidationFailed(detail, errors=errors)


def all_errors(form_errors, action, detail="Some fields are not valid."):
    """Run ``action`` (a service call) even when the form already found errors, so the page
    lists every problem at once: the form's (unparseable fields) and the service's (rules
    across fields). Any error raises; the caller's ``rejected`` dooms what ``action`` wrote."""
    try:
        result = action()
    except ValidationFailed as problem:
        raise ValidationFailed(problem.detail, errors=list(form_errors) + list(problem.errors)) from None
    except Problem as problem:
        if not form_errors:
            raise
        raise ValidationFailed(detail, errors=list(form_errors) + list(problem.errors)) from None
    require_valid(form_errors, detail)
    return result


# --- errors -------------------------------------------------------------------------------

#: Field names that service messages mention (they are shared with the API, whose clients
#: know the JSON names), in the words the admin's labels use.
FIELD_WORDS = {
    "home_team": "the home team", "away_team": "the away team", "starts_at": "kick-off",
    "sales_open_at": "sales open", "sales_close_at": "sales close", "refund_cutoff_at": "the refund cutoff",
    "hold_seconds": "the hold time", "max_tickets_per_fan": "tickets per fan", "stadium_id": "the stadium",
    "section_id": "the section", "category_id": "the category", "seat_ids": "the seats",
    "row_count": "rows", "seats_per_row": "seats per row", "first_row": "the first row label",
    "extra_per_row": "extra seats per row", "full_name": "the name",
}
_FIELD_NAMES = re.compile(r"\b(" + "|".join(sorted(FIELD_WORDS, key=len, reverse=True)) + r")\b")
_LISTS = re.compile(r"\[([^\[\]]*)\]")
_QUOTED_ROW = re.compile(r"\brow '([^']*)'")
_MINOR_UNITS = re.compile(r"(?:a )?(positive )?whole number of minor units")


def plain_words(message):
    """A service's error message as staff read it: labels instead of field names, ``9, 10``
    instead of a Python list, amounts instead of minor units."""
    message = _FIELD_NAMES.sub(lambda match: FIELD_WORDS[match[1]], message or "")
    message = _LISTS.sub(lambda match: ", ".join(item.strip().strip("'\"") for item in match[1].split(",")), message)
    message = _QUOTED_ROW.sub(r"row \1", message)
    message = _MINOR_UNITS.sub(lambda match: "a positive amount" if match[1] else "an amount", message)
    return message.replace("an ISO-8601 timestamp", "a date and time")


def field_words(path):
    """``assignments/0/rows`` -> ``Rows``: the last part of a field path, in words."""
    name = (path or "").rsplit("/", 1)[-1]
    words = FIELD_WORDS.get(name, name.replace("_", " "))
    return words.removeprefix("the ").capitalize()


class FormErrors:
    """A problem's field errors keyed by form field, plus the ones no field shows."""

    def __init__(self, problem=None, aliases=(), fields=()):
        self.detail = problem.detail if problem is not None else None
        self.by_field = {}
        self.general = []
        if problem is None:
            return
        for error in problem.errors:
            field = error.get("field") or ""
            for pattern, alias in aliases:
                if fnmatch.fnmatch(field, pattern):
                    field = alias
                    break
            message = plain_words(error.get("message"))
            if field in fields:
                self.by_field.setdefault(field, message)
            else:
                self.general.append({"field": field_words(field) if field else "", "message": message})

    def __bool__(self):
        return bool(self.detail)

    def get(self, field):
        return self.by_field.get(field)


NO_ERRORS = FormErrors()


def rejected(request, problem, aliases=(), fields=()):
    """The action failed: keep nothing it wrote, answer with its status, return the errors."""
    request.tm.doom()
    request.response.status = problem.status if 400 <= problem.status < 500 else 400
    return FormErrors(problem, aliases, fields)


def flash(request, message, queue="success"):
    request.session.flash(message, queue=queue)


# --- pagination -----------------------------------------------------------------------------

class Pager:
    def __init__(self, request, total, size=PAGE_SIZE):
        self.request = request
        self.size = size
        self.total = total
        self.pages = max(1, math.ceil(total / size))
        raw = request.GET.get("page", "1")
        self.number = min(int(raw), self.pages) if is_decimal(raw) and 0 < len(raw) < 7 and int(raw) > 0 else 1

    @classmethod
    def of(cls, request, size=PAGE_SIZE):
        """Limit and offset before the total is known (the query returns it)."""
        raw = request.GET.get("page", "1")
        number = int(raw) if is_decimal(raw) and 0 < len(raw) < 7 and int(raw) > 0 else 1
        return size, (number - 1) * size

    @property
    def offset(self):
        return (self.number - 1) * self.size

    def url(self, number):
        query = {key: value for key, value in self.request.GET.items() if key != "page" and value != ""}
        query["page"] = str(number)
        return self.request.current_route_path(_query=query)

    @property
    def previous_url(self):
        return self.url(self.number - 1) if self.number > 1 else None

    @property
    def next_url(self):
        return self.url(self.number + 1) if self.number < self.pages else None

    @property
    def first_item(self):
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_item(self):
        return min(self.offset + self.size, self.total)


def paged(request, fetch, size=PAGE_SIZE):
    """Call ``fetch(limit, offset)`` -> (rows, total) for the requested page; returns (rows, pager)."""
    limit, offset = Pager.of(request, size)
    rows, total = fetch(limit, offset)
    pager = Pager(request, total, size)
    if offset and not rows and total:
        rows, total = fetch(limit, pager.offset)  # a page past the end shows the last one
    return rows, pager


class KeysetPager:
    """Newer / older links for a keyset page (services/keyset.py): each link keeps every
    filter of the request and replaces only the cursor, so paging never drops a search."""

    def __init__(self, request, page, shown):
        self.request = request
        self.page = page
        self.shown = shown

    @staticmethod
    def cursor(params):
        """``(after, before)`` from the request; anything but an id is ignored."""
        after, before = (params.get(name, "") for name in ("after", "before"))
        return (int(after) if is_decimal(after) and len(after) < 19 else None,
                int(before) if is_decimal(before) and len(before) < 19 else None)

    def _url(self, **cursor):
        query = {key: value for key, value in self.request.GET.items()
                 if key not in ("after", "before", "page") and value != ""}
        query.update(cursor)
        return self.request.current_route_path(_query=query)

    @property
    def previous_url(self):
        return self._url(before=str(self.page.first_id)) if self.page.has_previous else None

    @property
    def next_url(self):
        return self._url(after=str(self.page.last_id)) if self.page.has_next else None

    @property
    def first_url(self):
        return self._url() if self.page.has_previous else None


def keyset_paged(request, fetch, size=PAGE_SIZE):
    """Call ``fetch(size, after, before)`` -> a keyset Page; returns (rows, pager)."""
    after, before = KeysetPager.cursor(request.GET)
    page = fetch(size, after, before)
    return page.rows, KeysetPager(request, page, len(page.rows))


def date_field(params, name, errors, zone):
    """A ``date`` input (YYYY-MM-DD) -> the start of that day in the staff's zone, or None."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors.append(field_error(name, "must be a date such as 2027-03-01"))
        return None
    if not 2000 <= day.year <= 2100:
        errors.append(field_error(name, "must be a date between the years 2000 and 2100"))
        return None
    return datetime.combine(day, time(0), tzinfo=zone)


# --- template helpers -------------------------------------------------------------------

class TemplateHelpers:
    """``h`` in every admin template: formatting in the staff's zone and currency."""

    def __init__(self, request):
        self.request = request
        self.zone = local_zone(request)
        self.currency = request.registry.settings.get("ticketing.currency", "EUR")
        self.locale = str(locale_of(request.registry.settings))

    def money(self, minor, currency=None):
        """Minor units -> an amount as the federation writes it (``2.870,00 €`` in sl_SI)."""
        if minor is None:
            return ""
        return format_money(minor, currency or self.currency, self.locale)

    def signed_money(self, minor, currency=None, outgoing=False):
        """An amount with its direction: ``+80,00 €`` in, ``−80,00 €`` out (ledger amounts are
        positive and the entry's kind says which way the money went)."""
        if minor is None:
            return ""
        sign = get_minus_sign_symbol(self.locale) if outgoing else get_plus_sign_symbol(self.locale)
        return sign + self.money(abs(int(minor)), currency)

    def is_debit(self, kind):
        """Ledger kinds that take money out of the fan's wallet."""
        return kind in OUTGOING_KINDS

    def amount_input(self, minor):
        return "" if minor is None else f"{int(minor) // 100}.{int(minor) % 100:02d}"

    def local(self, moment):
        return moment.astimezone(self.zone) if moment is not None else None

    def when(self, moment):
        if moment is None:
            return ""
        return self.local(moment).strftime("%a %d %b %Y, %H:%M")

    def day(self, moment):
        return self.local(moment).strftime("%d %b %Y") if moment is not None else ""

    def datetime_input(self, moment):
        return self.local(moment).strftime("%Y-%m-%dT%H:%M") if moment is not None else ""

    def iso(self, moment):
        return moment.astimezone(timezone.utc).isoformat() if moment is not None else ""

    @property
    def zone_name(self):
        return getattr(self.zone, "key", "UTC")

    def status(self, value):
        return STATUS_LABELS.get(value, (value or "").replace("_", " ").capitalize())

    def is_admin(self):
        identity = self.request.identity
        return identity is not None and identity.role == "admin"


@subscriber(BeforeRender)
def add_template_helpers(event):
    renderer = event.get("renderer_name") or ""
    request = event.get("request")
    if request is not None and renderer.startswith("admin/"):
        event["h"] = TemplateHelpers(request)
        event.setdefault("errors", NO_ERRORS)


_ADMIN = re.compile(ADMIN_PATH)


@subscriber(NewResponse)
def admin_pages_are_not_stored(event):
    """Every admin response is ``Cache-Control: no-store``: after logging out, the browser's
    back button or cache must not show a fan's orders, or the gate's last verdict, to the next
    person at a shared screen. Views that chose their own caching keep it."""
    request, response = event.request, event.response
    # The WSGI path as sent (latin-1 text): request.path_info decodes it as UTF-8 and raises
    # on a path like /api/v1/matches/%FF, whose 404 passes through here too.
    if _ADMIN.match(request.environ.get("PATH_INFO", "")) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
