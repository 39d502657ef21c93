"""CSV exports, streamed: orders, the match report, attendees, check-ins, the wallet ledger
and the audit log (what each holds: services/exports.py; why this way: decision 0040).

A file of 20,000 tickets is written as it is read: the rows come from a server-side cursor
in batches and each batch goes out before the next is fetched, so memory stays flat. The
request's own transaction has committed by the time a streamed body is sent (pyramid_tm
ends it when the view returns), so the stream reads on a connection of its own, one
statement, in a read-only transaction, closed when the last row is out or the client goes.

Every text cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is prefixed with an apostrophe (OWASP's advice): a fan
named ``=HYPERLINK(...)`` stays a name. Numbers and dates are written as values. The file is
UTF-8 with a byte-order mark, so Excel shows "Dončić" rather than mojibake.
"""
import csv
import io
from datetime import datetime
from urllib.parse import quote

from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.orm import Session

from ticketing.resources.admin import AdminMatch, AuditLog, Orders, Users
from ticketing.problems import ValidationFailed
from ticketing.services import exports, seat_map

from .audit import audit_filters
from .forms import int_field, local_zone
from .orders import order_filters, query_of

#: What spreadsheets treat as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH_ROWS = 500
BOM = "\ufeff"


def neutralise(value):
    """A cell as written: None empty, formula-looking text defused, anything else as is."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvLines:
    """csv.writer into a buffer that is emptied after each batch."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def write(self, cells):
        self.writer.writerow([neutralise(cell) for cell in cells])

    def take(self):
        chunk = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return chunk


def _local(request):
    zone = local_zone(request)

    def local(moment):
        if moment is None:
            return None
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)
    return local


def csv_response(request, filename, body):
    response = Response(app_iter=body, content_type="text/csv", charset="utf-8")
    response.content_disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    # Personal data: not for shared caches, nor the browser's back button after logout.
    response.cache_control = "no-store"
    return response


def stream(request, export):
    """The export's rows as CSV chunks, read on a connection of the stream's own."""
    engine = request.registry["db_engine"]
    local = _local(request)

    def body():
        lines = CsvLines()
        lines.write(export.header)
        yield BOM.encode("utf-8") + lines.take()
        with engine.connect() as connection:
            with connection.begin():
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                with Session(bind=connection) as session:
                    # A server-side cursor (psycopg2 named cursor): rows arrive BATCH_ROWS at a time.
                    result = session.execute(export.statement, export.params,
                                             execution_options={"stream_results": True, "yield_per": BATCH_ROWS})
                    for batch in result.partitions(BATCH_ROWS):
                        for row in batch:
                            lines.write(export.to_row(row, local))
                        yield lines.take()

    return csv_response(request, export.filename, body())


def _zone_name(request):
    return getattr(local_zone(request), "key", "UTC")


@view_config(route_name="admin.export.orders", context=Orders, permission="order:view", request_method="GET")
def orders_csv(context, request):
    errors = []
    filters = order_filters(request, errors)
    if errors:
        raise ValidationFailed("The search is not valid.", errors=errors)
    # An order number: the list opens that one order, and the file holds just it.
    return stream(request, exports.orders_export(request.dbsession, _zone_name(request), **query_of(filters)))


@view_config(route_name="admin.export.audit", context=AuditLog, permission="audit:view", request_method="GET")
def audit_csv(context, request):
    errors = []
    filters = audit_filters(request, errors)
    if errors:
        raise ValidationFailed("The filter is not valid.", errors=errors)
    return stream(request, exports.audit_export(_zone_name(request), **filters))


@view_config(route_name="admin.export.ledger", context=Users, permission="user:view", request_method="GET")
def ledger_csv(context, request):
    user_id = int_field(request.GET, "user_id", [], required=False, minimum=1)
    return stream(request, exports.ledger_export(_zone_name(request), user_id))


@view_config(route_name="admin.export.attendees", context=AdminMatch, permission="match:view", request_method="GET")
def attendees_csv(context, request):
    return stream(request, exports.attendees_export(_zone_name(request), context.match.id))


@view_config(route_name="admin.export.check_ins", context=AdminMatch, permission="match:view", request_method="GET")
def check_ins_csv(context, request):
    return stream(request, exports.check_ins_export(_zone_name(request), context.match.id))


@view_config(route_name="admin.export.report", context=AdminMatch, permission="match:view", request_method="GET")
def report_csv(context, request):
    report = seat_map.report(request.dbsession, context.match, request.registry.settings["ticketing.currency"])
    header, rows = exports.report_rows(report)
    lines = CsvLines()
    lines.write(header)
    for row in rows:
        lines.write(row)
    stamp = datetime.now(local_zone(request)).strftime("%Y%m%d-%H%M")
    return csv_response(request, f"match-{context.match.id}-report-{stamp}.csv",
                        [BOM.encode("utf-8") + lines.take()])
