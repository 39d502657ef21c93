"""The dashboard: upcoming matches with their seat counts, revenue, and sales per day; the
figures refresh in place (static/admin/live.js fetches ``?live=1``)."""
from datetime import datetime, timedelta, timezone

from pyramid.view import view_config

from ticketing.resources.admin import AdminRoot
from ticketing.services import sales, seat_map

from .forms import TemplateHelpers, local_zone
from .pictures import sales_chart

UPCOMING = 8
CHART_DAYS = 30


@view_config(route_name="admin.dashboard", context=AdminRoot, permission="admin:enter",
             request_method="GET", renderer="admin/dashboard.jinja2")
def dashboard(context, request):
    dbsession = request.dbsession
    now = datetime.now(timezone.utc)
    if request.GET.get("live"):  # the figures only, for live.js to swap in
        request.override_renderer = "admin/dashboard_live.jinja2"
    # "Upcoming" means fans can see it: drafts and cancelled matches are not counted.
    upcoming, total_upcoming, drafts = sales.upcoming_matches(dbsession, now, UPCOMING)
    ids = [match.id for match in upcoming]
    zone = local_zone(request)
    today = now.astimezone(zone).date()
    days = sales.daily_sales(dbsession, today - timedelta(days=CHART_DAYS - 1), today, tz=getattr(zone, "key", "UTC"))
    helpers = TemplateHelpers(request)
    return {
        "upcoming": upcoming,
        "total_upcoming": total_upcoming,
        "drafts": drafts,
        "now": now,
        "seats": seat_map.summaries(dbsession, ids),
        "revenue": sales.revenue_by_match(dbsession, ids),
        "totals": sales.totals(dbsession),
        "chart": sales_chart(days, helpers.money),
        "chart_days": CHART_DAYS,
        "last_days": {
            "revenue": sum(day["revenue"] for day in days[-7:]),
            "orders": sum(day["orders"] for day in days[-7:]),
        },
    }
