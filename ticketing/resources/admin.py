"""The staff admin's traversal tree: ``AdminRoot`` -> area containers -> one row's context.

Every ``admin.*`` route uses :func:`admin_factory` and a ``traverse`` path such as
``/matches/{match_id}``, so a missing or malformed id is a ``KeyError`` (404) and every page
is authorised by the ACLs below, walked from the context up to the root.

Why not the API's contexts: those grant owners and the public (a fan may view their own
order, anyone a published match). The admin is for staff only, so its root ends with
``DENY_ALL`` and grants staff the staff permissions and admins those plus role changes.
Contexts add rules computed from their row, as warehouse does for projects: nobody changes
their own role (an admin cannot lock the last admin out by accident), and only a customer's
wallet can be topped up by staff; nobody disables their own account, and only admins disable
staff accounts.
"""
from pyramid.authorization import DENY_ALL, Deny

from ticketing.models import Match, Order, Stadium, User, WalletCredit

from . import ADMIN, STAFF, Allow, Everyone, Resource, parse_id

STAFF_PERMISSIONS = (
    "admin:enter",
    "stadium:view", "stadium:edit",
    "match:view", "match:edit", "match:check_in",
    "order:view", "order:refund",
    "user:view", "user:top_up", "user:set_active",
    "credit:view", "credit:reverse",
    # The link goes to the account's own address, never to staff: helping a fan at the desk.
    "user:send_password_reset",
    "audit:view",
)
# Admins also open staff accounts and approve the credits above the approval threshold.
ADMIN_PERMISSIONS = STAFF_PERMISSIONS + ("user:set_role", "user:create", "credit:approve")


class AdminRoot(Resource):
    """``/admin/``: the login page is open; everything else is staff-only."""

    __acl__ = [
        (Allow, Everyone, "admin:login"),
        (Allow, ADMIN, ADMIN_PERMISSIONS),
        (Allow, STAFF, STAFF_PERMISSIONS),
        DENY_ALL,
    ]

    def __getitem__(self, key):
        area = AREAS[key]  # KeyError -> 404
        return area(self.request, key, self)


class RowContainer(Resource):
    """A list page whose children are rows found by integer id."""

    model = None
    context_class = None

    def __getitem__(self, key):
        row = self.request.dbsession.get(self.model, parse_id(key))
        if row is None:
            raise KeyError(key)
        return self.context_class(self.request, row, self)


class RowContext(Resource):
    def __init__(self, request, row, parent):
        super().__init__(request, str(row.id), parent)
        self.row = row


class AdminStadium(RowContext):
    @property
    def stadium(self):
        return self.row


class AdminMatch(RowContext):
    @property
    def match(self):
        return self.row


class AdminOrder(RowContext):
    @property
    def order(self):
        return self.row


class AdminUser(RowContext):
    @property
    def user(self):
        return self.row

    @property
    def __acl__(self):
        acl = [(Deny, f"u:{self.user.id}", "user:set_role"),
               # Nobody disables their own account (the last admin cannot lock everyone out).
               (Deny, f"u:{self.user.id}", "user:set_active")]
        if self.user.role != "customer":
            # Wallets belong to fans; staff accounts do not buy tickets.
            acl.append((Deny, Everyone, "user:top_up"))
            # Staff disable fans' accounts; only admins disable staff and admin accounts.
            acl += [(Allow, ADMIN, "user:set_active"), (Deny, Everyone, "user:set_active")]
        return acl


class AdminCredit(RowContext):
    @property
    def credit(self):
        return self.row


class Credits(RowContainer):
    model, context_class = WalletCredit, AdminCredit


class Stadiums(RowContainer):
    model, context_class = Stadium, AdminStadium


class Matches(RowContainer):
    model, context_class = Match, AdminMatch


class Orders(RowContainer):
    model, context_class = Order, AdminOrder


class Users(RowContainer):
    model, context_class = User, AdminUser


class Gate(Resource):
    """The check-in desk: pick a match, then scan at ``/admin/matches/<id>/gate``."""


class AuditLog(Resource):
    pass


AREAS = {
    "stadiums": Stadiums,
    "matches": Matches,
    "orders": Orders,
    "users": Users,
    "gate": Gate,
    "audit": AuditLog,
    "credits": Credits,
}


def admin_factory(request):
    return AdminRoot(request)
