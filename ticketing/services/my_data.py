"""A fan's own data: all of it as JSON, and deleting the account (decision 0057).

Deleting anonymises rather than removes: the orders, tickets and wallet ledger stay (money
is conserved only if every ledger row does, and the federation's accounts need the sales),
but nothing in them names the fan any more. The account row keeps its id with a placeholder
address, no name, an unusable password and ``deleted_at``; tokens, pending mail and
idempotency records go. Deletion is refused while it would throw away something the fan
still has (money in the wallet, a live hold, a valid ticket for a match not yet played),
and every such reason is listed at once.
"""
from sqlalchemy import text

from ticketing.problems import Conflict, ValidationFailed, field_error
from ticketing.services import passwords, recovery
from ticketing.services.tokens import utcnow


def _rows(dbsession, sql, **params):
    return [dict(row) for row in dbsession.execute(text(sql), params).mappings()]


def export(dbsession, user):
    """Everything the box office keeps about ``user``, newest first where it is a history."""
    return {
        "exported_at": utcnow(),
        "account": {"id": user.id, "email": user.email, "full_name": user.full_name, "role": user.role,
                    "language": user.locale, "created_at": user.created_at,
                    "email_verified_at": user.email_verified_at},
        "wallet": (_rows(dbsession, "SELECT balance, currency, updated_at FROM wallets WHERE user_id = :u",
                         u=user.id) or [{"balance": 0, "currency": None, "updated_at": None}])[0],
        "ledger": _rows(dbsession, "SELECT id, kind, amount, balance_after, currency, order_id, reason, created_at "
                                   "FROM wallet_ledger WHERE user_id = :u ORDER BY id DESC", u=user.id),
        "orders": _rows(dbsession, """
            SELECT o.id, o.match_id, m.home_team || ' vs ' || m.away_team AS match, m.starts_at, o.status,
                   o.total, o.currency, o.created_at, o.cancelled_at,
                   coalesce(jsonb_agg(jsonb_build_object(
                       'id', t.id, 'seat_id', t.seat_id, 'price', t.price, 'status', t.status,
                       'checked_in_at', t.checked_in_at) ORDER BY t.id) FILTER (WHERE t.id IS NOT NULL),
                       '[]') AS tickets
            FROM orders o JOIN matches m ON m.id = o.match_id LEFT JOIN tickets t ON t.order_id = o.id
            WHERE o.user_id = :u GROUP BY o.id, m.id ORDER BY o.id DESC""", u=user.id),
        "queue_places": _rows(dbsession, "SELECT match_id, joined_at, called_at, admitted_at FROM queue_places "
                                         "WHERE user_id = :u ORDER BY joined_at DESC", u=user.id),
        "mail": _rows(dbsession, "SELECT template, subject, recipient, created_at, sent_at FROM mail_outbox "
                                 "WHERE user_id = :u ORDER BY id DESC", u=user.id),
    }


def _reasons_to_keep(dbsession, user_id):
    """What the fan would lose by deleting now: one field error per reason."""
    row = dbsession.execute(text("""
        SELECT (SELECT coalesce(sum(balance), 0) FROM wallets WHERE user_id = :u) AS balance,
               (SELECT count(*) FROM holds WHERE user_id = :u AND status = 'active' AND expires_at > now()) AS holds,
               (SELECT count(*) FROM tickets t JOIN matches m ON m.id = t.match_id
                WHERE t.user_id = :u AND t.status = 'valid' AND m.status <> 'cancelled'
                  AND m.starts_at > now()) AS tickets
    """), {"u": user_id}).one()
    errors = []
    if row.balance > 0:
        errors.append(field_error("wallet", "still holds money: withdraw or spend it first", "balance_left"))
    if row.holds:
        errors.append(field_error("holds", "a hold is live: release it or let it lapse first", "live_hold"))
    if row.tickets:
        errors.append(field_error("tickets", f"{row.tickets} valid ticket(s) for matches still to come: "
                                             "cancel the orders first, or delete after the matches", "valid_tickets"))
    return errors


def delete_account(dbsession, user, password, bcrypt_rounds=12):
    """Anonymise ``user`` after checking the password; end every session and token."""
    if not passwords.verify_password(password or "", user.password_hash):
        raise ValidationFailed("The account was not deleted.",
                               errors=[field_error("password", "is not your current password", "wrong_password")])
    # The wallet row locked first, as every money movement does: a top-up or checkout racing
    # this deletion either commits before (and is seen below) or waits and finds no account.
    dbsession.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": user.id})
    errors = _reasons_to_keep(dbsession, user.id)
    if errors:
        raise Conflict("The account still has something you would lose.", errors=errors)
    recovery.end_every_session(dbsession, user)
    placeholder = f"deleted-{user.id}@deleted.invalid"
    user.email = placeholder
    user.full_name = "Deleted account"
    user.password_hash = "!"  # matches no password (verify_password refuses it)
    user.is_active = False
    user.email_verified_at = None
    user.deleted_at = utcnow()
    for statement in (
        "DELETE FROM refresh_tokens WHERE user_id = :u",
        "DELETE FROM account_tokens WHERE user_id = :u",
        "DELETE FROM idempotency_keys WHERE user_id = :u",
        "DELETE FROM mail_outbox WHERE user_id = :u AND sent_at IS NULL",
        "UPDATE mail_outbox SET recipient = :p, body_text = NULL, body_html = NULL WHERE user_id = :u",
    ):
        dbsession.execute(text(statement), {"u": user.id, "p": placeholder})
    dbsession.flush()
    return user
