"""Traversal resources for stadiums and matches.

Anyone may read stadiums and published matches; staff build venues and run matches. A draft
match is visible to staff only, which its ``__acl__`` says (computed from the row, as
warehouse does for projects).
"""
from ticketing.models import Match, Stadium

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


class MatchContainer(Resource):
    __acl__ = [
        (Allow, Everyone, "match:list"),
        (Allow, STAFF, "match:create"),
        (Allow, ADMIN, "match:create"),
    ]

    def __getitem__(self, key):
        match = self.request.dbsession.get(Match, parse_id(key))
        if match is None:
            raise KeyError(key)
        return MatchResource(self.request, match, parent=self)


class MatchResource(Resource):
    def __init__(self, request, match, parent):
        super().__init__(request, str(match.id), parent)
        self.match = match

    @property
    def __acl__(self):
        acl = [
            (Allow, STAFF, ("match:view", "match:edit", "match:report", "match:check_in")),
            (Allow, ADMIN, ("match:view", "match:edit", "match:report", "match:check_in")),
        ]
        if self.match.status != "draft":
            acl.append((Allow, Everyone, "match:view"))
            acl.append((Allow, CUSTOMER, "match:hold"))
        return acl


def stadium_factory(request):
    return StadiumContainer(request, "stadiums")


def match_factory(request):
    return MatchContainer(request, "matches")
