"""Traversal resources for stadiums and matches.

Anyone may read stadiums and published matches; staff build venues and run matches. A draft
match is visible to staff only, which its ``__acl__`` says (computed from the row, as
warehouse does for projects).
"""
from ticketing.models import Match, Stadium
from ticketing.problems import Unauthorized
from ticketing.services.prepared import Prepared

from . import ADMIN, CUSTOMER, STAFF, Allow, Everyone, Resource, parse_id


class StadiumContainer(Resource):
    __acl__ = [
        (Allow, Everyone, "stadium:list"),
        (Allow, STAFF, "stadium:create"),
        (Allow, ADMIN, "stadium:create"),
    ]

    def __getitem__(self, key):
        stadium = self.request.dbsession.get(Stadium, parse_id(key))
        if stadium is None:
            raise KeyError(key)
        return StadiumResource(self.request, stadium, parent=self)


class StadiumResource(Resource):
    def __init__(self, request, stadium, parent):
        super().__init__(request, str(stadium.id), parent)
        self.stadium = stadium

    __acl__ = [
        (Allow, Everyone, "stadium:view"),
        (Allow, STAFF, "stadium:edit"),
        (Allow, ADMIN, "stadium:edit"),
    ]


# What every request under /matches/{id} needs (the ACL, buying, the seat map, whether a
# hold needs a waiting-room admission), in one prepared statement; the ORM object is loaded
# only by the views that need the whole match.
_MATCH_ROW = Prepared(
    "traversal_match",
    """
    SELECT m.id, m.stadium_id, m.status, m.hold_seconds, m.max_tickets_per_fan, m.sales_open_at,
           m.sales_close_at, coalesce(r.enabled, false) AS waiting_room
    FROM matches m LEFT JOIN waiting_rooms r ON r.match_id = m.id WHERE m.id = :id
    """,
    {"id": "bigint"},
)


class MatchContainer(Resource):
    __acl__ = [
        (Allow, Everyone, "match:list"),
        (Allow, STAFF, "match:create"),
        (Allow, ADMIN, "match:create"),
    ]

    def __getitem__(self, key):
        row = _MATCH_ROW.execute(self.request.dbsession, {"id": parse_id(key)}).one_or_none()
        if row is None:
            raise KeyError(key)
        match = MatchResource(self.request, row, parent=self)
        # A match the caller may not even see (a draft, to anyone but staff) does not exist for
        # them: a 404 like an unknown id, never a 401/403 that confirms it is there.
        if row.status == "draft" and not self.request.has_permission("match:view", match):
            if self.request.environ.get("ticketing.invalid_token"):
                # An expired token: the caller may be staff; say so, so their client refreshes it.
                raise Unauthorized("The access token is invalid or expired.")
            raise KeyError(key)
        return match


class MatchResource(Resource):
    def __init__(self, request, row, parent):
        super().__init__(request, str(row.id), parent)
        self.row = row  # id, stadium_id, status, hold_seconds, max_tickets_per_fan, sales window, waiting_room
        self._match = None

    @property
    def match(self):
        """The ORM object, loaded on first use (views that show or change the whole match)."""
        if self._match is None:
            self._match = self.request.dbsession.get(Match, self.row.id)
        return self._match

    @property
    def __acl__(self):
        acl = [
            (Allow, STAFF, ("match:view", "match:edit", "match:report", "match:check_in")),
            (Allow, ADMIN, ("match:view", "match:edit", "match:report", "match:check_in")),
        ]
        if self.row.status != "draft":
            acl.append((Allow, Everyone, "match:view"))
            acl.append((Allow, CUSTOMER, ("match:hold", "match:queue")))
        return acl


def stadium_factory(request):
    return StadiumContainer(request, "stadiums")


def match_factory(request):
    return MatchContainer(request, "matches")
