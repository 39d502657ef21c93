"""Every URL of the application, in one screen.

API routes are hybrid: a URL pattern picks the route, ``factory`` gives the container and
``traverse`` walks to the context whose ``__acl__`` decides access. Paths under ``/api/v1``
must match the OpenAPI document (pyramid_openapi3 checks this at start-up).

``queue_patience={method: times}``: under overload, a request waits at most
``ticketing.max_queue_wait_ms`` behind nginx before it is refused unstarted; these wait that
many times as long (ticketing/load_shedding.py).
"""
from ticketing.resources import root_factory
from ticketing.resources.accounts import auth_factory, me_factory
from ticketing.resources.admin import admin_factory
from ticketing.resources.catalogue import match_factory, stadium_factory
from ticketing.resources.commerce import hold_factory, order_factory, ticket_factory, wallet_factory


#: Completes what an earlier request started (paying for a hold, releasing one, a gate scan).
FINISHES_WORK = 3
#: bcrypt's cost is by design: a burst of signups or logins waits its turn rather than fail,
#: up to 20 s: refused by the app before nginx gives up on it (proxy_read_timeout 30 s), so the
#: fan gets a clean 503 with Retry-After, never a 504 while the signup may still commit.
HASHES_A_PASSWORD = 4
#: The waiting room: a join already waited its turn at nginx (which paces joins), and a fan
#: refused now would lose their place in line; a called fan's admission starts their shopping
#: time. Both wait as long as finishing work does.
KEEPS_A_PLACE_IN_LINE = 3


def includeme(config):
    config.add_route("healthz", "/healthz", factory=root_factory)
    # Prometheus scrapes it; nginx lets only the configured addresses reach it (ticketing/metrics.py).
    config.add_route("metrics", "/metrics", factory=root_factory)

    # API documentation
    config.add_route("api.openapi_json", "/api/v1/openapi.json", factory=root_factory)
    config.add_route("api.docs", "/api/v1/docs", factory=root_factory)

    # Accounts
    config.add_route("api.auth.signup", "/api/v1/auth/signup", factory=auth_factory,
                     queue_patience={"POST": HASHES_A_PASSWORD})
    config.add_route("api.auth.login", "/api/v1/auth/login", factory=auth_factory,
                     queue_patience={"POST": HASHES_A_PASSWORD})
    config.add_route("api.auth.refresh", "/api/v1/auth/refresh", factory=auth_factory)
    config.add_route("api.auth.logout", "/api/v1/auth/logout", factory=auth_factory)
    config.add_route("api.me", "/api/v1/me", factory=me_factory)
    # Account recovery and the fan's own data (issue 25)
    config.add_route("api.auth.verify_email", "/api/v1/auth/verify-email", factory=auth_factory)
    config.add_route("api.auth.password_reset", "/api/v1/auth/password-reset", factory=auth_factory)
    config.add_route("api.auth.password_reset.confirm", "/api/v1/auth/password-reset/confirm", factory=auth_factory,
                     queue_patience={"POST": HASHES_A_PASSWORD})
    config.add_route("api.me.verification_email", "/api/v1/me/verification-email", factory=me_factory)
    config.add_route("api.me.data", "/api/v1/me/data", factory=me_factory)
    config.add_route("api.me.deletion", "/api/v1/me/deletion", factory=me_factory,
                     queue_patience={"POST": HASHES_A_PASSWORD})

    # Stadiums: the container, then one stadium reached by traversal
    config.add_route("api.stadiums", "/api/v1/stadiums", factory=stadium_factory)
    stadium = "/api/v1/stadiums/{stadium_id}"
    config.add_route("api.stadium", stadium, factory=stadium_factory, traverse="/{stadium_id}")
    config.add_route("api.stadium.sections", stadium + "/sections", factory=stadium_factory, traverse="/{stadium_id}")
    config.add_route(
        "api.stadium.section", stadium + "/sections/{section_id}", factory=stadium_factory, traverse="/{stadium_id}"
    )
    config.add_route("api.stadium.seats", stadium + "/seats", factory=stadium_factory, traverse="/{stadium_id}")

    # Matches
    config.add_route("api.matches", "/api/v1/matches", factory=match_factory)
    match = "/api/v1/matches/{match_id}"
    for name, suffix in (
        ("api.match", ""),
        ("api.match.categories", "/categories"),
        ("api.match.seating", "/seating"),
        ("api.match.publish", "/publish"),
        ("api.match.close", "/close"),
        ("api.match.seats", "/seats"),
        ("api.match.summary", "/summary"),
        ("api.match.report", "/report"),
        ("api.match.cancel", "/cancel"),
        ("api.match.holds", "/holds"),
        ("api.match.waiting_room", "/waiting-room"),
        ("api.match.queue.me", "/queue/me"),
    ):
        config.add_route(name, match + suffix, factory=match_factory, traverse="/{match_id}")
    for name, suffix in (("api.match.queue", "/queue"), ("api.match.queue.admission", "/queue/admission")):
        config.add_route(name, match + suffix, factory=match_factory, traverse="/{match_id}",
                         queue_patience={"POST": KEEPS_A_PLACE_IN_LINE})
    config.add_route("api.match.check_ins", match + "/check-ins", factory=match_factory, traverse="/{match_id}",
                     queue_patience={"POST": FINISHES_WORK})

    # Buying: the caller's wallet, then holds, orders and tickets reached by traversal
    config.add_route("api.wallet", "/api/v1/wallet", factory=wallet_factory)
    config.add_route("api.wallet.top_ups", "/api/v1/wallet/top-ups", factory=wallet_factory)
    config.add_route("api.wallet.transactions", "/api/v1/wallet/transactions", factory=wallet_factory)
    config.add_route("api.hold", "/api/v1/holds/{hold_id}", factory=hold_factory, traverse="/{hold_id}",
                     queue_patience={"DELETE": FINISHES_WORK})
    config.add_route("api.hold.checkout", "/api/v1/holds/{hold_id}/checkout", factory=hold_factory,
                     traverse="/{hold_id}", queue_patience={"POST": FINISHES_WORK})
    config.add_route("api.orders", "/api/v1/orders", factory=order_factory)
    config.add_route("api.order", "/api/v1/orders/{order_id}", factory=order_factory, traverse="/{order_id}")
    config.add_route(
        "api.order.cancel", "/api/v1/orders/{order_id}/cancel", factory=order_factory, traverse="/{order_id}"
    )
    config.add_route("api.wallet.withdrawals", "/api/v1/wallet/withdrawals", factory=wallet_factory)
    config.add_route("api.tickets", "/api/v1/tickets", factory=ticket_factory)
    config.add_route("api.tickets.public_key", "/api/v1/tickets/public-key", factory=root_factory)
    # Before api.ticket, whose {ticket_id} would otherwise match "12.pdf".
    config.add_route("api.ticket.pdf", "/api/v1/tickets/{ticket_id}.pdf", factory=ticket_factory,
                     traverse="/{ticket_id}")
    config.add_route("api.ticket", "/api/v1/tickets/{ticket_id}", factory=ticket_factory, traverse="/{ticket_id}")
    config.add_route(
        "api.ticket.qr", "/api/v1/tickets/{ticket_id}/qr.svg", factory=ticket_factory, traverse="/{ticket_id}"
    )
    config.add_route(
        "api.ticket.cancel", "/api/v1/tickets/{ticket_id}/cancel", factory=ticket_factory, traverse="/{ticket_id}"
    )
    config.add_route(
        "api.ticket.transfer", "/api/v1/tickets/{ticket_id}/transfer", factory=ticket_factory,
        traverse="/{ticket_id}"
    )

    # Staff admin (HTML; session cookie + CSRF). One tree, AdminRoot, whose __acl__ admits
    # staff only; ``traverse`` walks to the area or row (ticketing/resources/admin.py).
    for name, pattern, traverse in (
        ("admin.login", "/admin/login", ""),
        ("admin.logout", "/admin/logout", ""),
        ("admin.dashboard", "/admin/", ""),
        ("admin.stadiums", "/admin/stadiums", "/stadiums"),
        ("admin.stadiums.new", "/admin/stadiums/new", "/stadiums"),
        ("admin.stadium", "/admin/stadiums/{stadium_id}", "/stadiums/{stadium_id}"),
        ("admin.stadium.sections", "/admin/stadiums/{stadium_id}/sections", "/stadiums/{stadium_id}"),
        ("admin.stadium.section.delete", "/admin/stadiums/{stadium_id}/sections/{section_id}/delete",
         "/stadiums/{stadium_id}"),
        ("admin.matches", "/admin/matches", "/matches"),
        ("admin.matches.new", "/admin/matches/new", "/matches"),
        ("admin.match", "/admin/matches/{match_id}", "/matches/{match_id}"),
        ("admin.match.edit", "/admin/matches/{match_id}/edit", "/matches/{match_id}"),
        ("admin.match.categories", "/admin/matches/{match_id}/categories", "/matches/{match_id}"),
        ("admin.match.seating", "/admin/matches/{match_id}/seating", "/matches/{match_id}"),
        ("admin.match.publish", "/admin/matches/{match_id}/publish", "/matches/{match_id}"),
        ("admin.match.close", "/admin/matches/{match_id}/close", "/matches/{match_id}"),
        ("admin.match.reopen", "/admin/matches/{match_id}/reopen", "/matches/{match_id}"),
        ("admin.match.category", "/admin/matches/{match_id}/categories/{category_id}", "/matches/{match_id}"),
        ("admin.match.category.delete", "/admin/matches/{match_id}/categories/{category_id}/delete",
         "/matches/{match_id}"),
        ("admin.match.cancel", "/admin/matches/{match_id}/cancel", "/matches/{match_id}"),
        ("admin.match.seats", "/admin/matches/{match_id}/seats", "/matches/{match_id}"),
        ("admin.match.blocks", "/admin/matches/{match_id}/blocks", "/matches/{match_id}"),
        ("admin.match.gate", "/admin/matches/{match_id}/gate", "/matches/{match_id}"),
        ("admin.match.waiting_room", "/admin/matches/{match_id}/waiting-room", "/matches/{match_id}"),
        ("admin.gate", "/admin/gate", "/gate"),
        ("admin.orders", "/admin/orders", "/orders"),
        ("admin.order", "/admin/orders/{order_id}", "/orders/{order_id}"),
        ("admin.order.refund", "/admin/orders/{order_id}/refund", "/orders/{order_id}"),
        ("admin.order.ticket_cancel", "/admin/orders/{order_id}/tickets/{ticket_id}/cancel", "/orders/{order_id}"),
        ("admin.users", "/admin/users", "/users"),
        ("admin.users.new", "/admin/users/new", "/users"),  # before admin.user, which would match it
        ("admin.user", "/admin/users/{user_id}", "/users/{user_id}"),
        ("admin.user.role", "/admin/users/{user_id}/role", "/users/{user_id}"),
        ("admin.user.top_up", "/admin/users/{user_id}/top-up", "/users/{user_id}"),
        ("admin.user.password_reset", "/admin/users/{user_id}/password-reset", "/users/{user_id}"),
        ("admin.audit", "/admin/audit", "/audit"),
        # Account tools and staff credits (decision 0041)
        ("admin.user.active", "/admin/users/{user_id}/active", "/users/{user_id}"),
        ("admin.credits", "/admin/credits", "/credits"),
        ("admin.credit.approve", "/admin/credits/{credit_id}/approve", "/credits/{credit_id}"),
        ("admin.credit.reject", "/admin/credits/{credit_id}/reject", "/credits/{credit_id}"),
        ("admin.credit.reverse", "/admin/credits/{credit_id}/reverse", "/credits/{credit_id}"),
        # CSV exports (decision 0040): the list's own filters come in the query string
        ("admin.export.orders", "/admin/orders.csv", "/orders"),
        ("admin.export.ledger", "/admin/ledger.csv", "/users"),
        ("admin.export.audit", "/admin/audit.csv", "/audit"),
        ("admin.export.report", "/admin/matches/{match_id}/report.csv", "/matches/{match_id}"),
        ("admin.export.attendees", "/admin/matches/{match_id}/attendees.csv", "/matches/{match_id}"),
        ("admin.export.check_ins", "/admin/matches/{match_id}/check-ins.csv", "/matches/{match_id}"),
    ):
        config.add_route(name, pattern, factory=admin_factory, traverse=traverse or None)
