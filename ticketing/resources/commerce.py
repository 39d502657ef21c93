"""Owner-scoped resources: the wallet, holds, orders and tickets.

Each context's ``__acl__`` grants its owner (``u:<id>``) and, where staff need it, the staff
role. Containers also hide other people's objects: looking up someone else's hold, order or
ticket is a ``KeyError`` (404), never a 403, so ids cannot be probed for existence.
"""
from ticketing.models import Hold, Order, Ticket
from ticketing.problems import Unauthorized
from ticketing.services.prepared import Prepared

from . import ADMIN, CUSTOMER, STAFF, Allow, Resource, parse_id


def _may_see(request, owner_id, staff_may_see):
    identity = request.identity
    if identity.id == owner_id:
        return True
    return staff_may_see and identity.role in ("staff", "admin")


class WalletResource(Resource):
    __acl__ = [(Allow, CUSTOMER, ("wallet:view", "wallet:top_up", "wallet:withdraw"))]


class OwnedContainer(Resource):
    model = None
    context_class = None
    staff_may_see = True

    def load(self, object_id):
        return self.request.dbsession.get(self.model, object_id)

    def __getitem__(self, key):
        # Before any lookup: an anonymous caller learns nothing about which ids exist.
        if self.request.identity is None:
            raise Unauthorized("A valid bearer access token is required.")
        row = self.load(parse_id(key))
        if row is None or not _may_see(self.request, row.user_id, self.staff_may_see):
            raise KeyError(key)
        return self.context_class(self.request, row, parent=self)


class HoldResource(Resource):
    def __init__(self, request, row, parent):
        super().__init__(request, str(row.id), parent)
        self.row = row  # every column of the hold, as a row
        self._hold = None

    @property
    def hold(self):
        """The ORM object, loaded on first use (releasing a hold)."""
        if self._hold is None:
            self._hold = self.request.dbsession.get(Hold, self.row.id)
        return self._hold

    @property
    def __acl__(self):
        return [
            (Allow, f"u:{self.row.user_id}", ("hold:view", "hold:release", "hold:checkout")),
            (Allow, STAFF, "hold:view"),
            (Allow, ADMIN, "hold:view"),
        ]


# Viewing and paying for a hold need its row only: one prepared statement, no ORM object.
_HOLD_ROW = Prepared(
    "traversal_hold",
    "SELECT id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at FROM holds WHERE id = :id",
    {"id": "bigint"},
)


class HoldContainer(OwnedContainer):
    model, context_class = Hold, HoldResource

    def load(self, object_id):
        return _HOLD_ROW.execute(self.request.dbsession, {"id": object_id}).one_or_none()


class OrderResource(Resource):
    def __init__(self, request, order, parent):
        super().__init__(request, str(order.id), parent)
        self.order = order

    @property
    def __acl__(self):
        return [
            (Allow, f"u:{self.order.user_id}", ("order:view", "order:cancel")),
            (Allow, STAFF, ("order:view", "order:cancel")),
            (Allow, ADMIN, ("order:view", "order:cancel")),
        ]


class OrderContainer(OwnedContainer):
    model, context_class = Order, OrderResource

    __acl__ = [
        (Allow, CUSTOMER, "order:list"),
        (Allow, STAFF, "order:list"),
        (Allow, ADMIN, "order:list"),
    ]


class TicketResource(Resource):
    def __init__(self, request, ticket, parent):
        super().__init__(request, str(ticket.id), parent)
        self.ticket = ticket

    @property
    def __acl__(self):
        # The holder (who bought it, or was given it) may give it on; staff may not: a
        # transfer is the fan's own choice. Cancelling refunds the payer (services/tickets.py).
        return [
            (Allow, f"u:{self.ticket.user_id}", ("ticket:view", "ticket:cancel", "ticket:transfer")),
            (Allow, STAFF, ("ticket:view", "ticket:cancel")),
            (Allow, ADMIN, ("ticket:view", "ticket:cancel")),
        ]


class TicketContainer(OwnedContainer):
    model, context_class = Ticket, TicketResource

    __acl__ = [(Allow, CUSTOMER, "ticket:list")]


def wallet_factory(request):
    return WalletResource(request, "wallet")


def hold_factory(request):
    return HoldContainer(request, "holds")


def order_factory(request):
    return OrderContainer(request, "orders")


def ticket_factory(request):
    return TicketContainer(request, "tickets")
