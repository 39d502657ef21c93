"""CSV exports: contents checked against the database, with names that break naive CSV
(commas, quotes, non-ASCII letters) and names that a spreadsheet would run as formulas."""
import csv
import io
from decimal import Decimal

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match

TRICKY_NAMES = ['Novak, "Ana"', "Žiga Čučnik", '=HYPERLINK("http://evil.example","x")', "+1 SUM(A1)",
                "-2+3", "@cmd", "\tTabbed", "\rReturn"]


def _csv(response):
    assert response.content_type == "text/csv" and response.charset == "utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.body.startswith("\ufeff".encode())  # UTF-8 with BOM, for Excel
    return list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"), newline="")))


def _defused(value):
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _fans_with_orders(staff_admin, user_factory, engine, match_id):
    fans = []
    for name in TRICKY_NAMES:
        fan = user_factory(full_name="placeholder")
        with engine.begin() as conn:  # the sign-up trims names; a tab or CR first needs SQL
            conn.execute(text("UPDATE users SET full_name = :n WHERE id = :u"), {"n": name, "u": fan.user["id"]})
        fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
        hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 1}, status=201).json
        fans.append((fan, fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json))
    return fans


def test_orders_attendees_and_check_ins_match_the_database(staff_admin, user_factory, engine):
    match, *_ = published_match(staff_admin.api, seats_per_row=5, rows=2, prices=(4000, 2500))
    match_id = match["id"]
    fans = _fans_with_orders(staff_admin, user_factory, engine, match_id)
    # One order cancelled, two tickets admitted at the gate.
    staff_admin.post(f"/admin/orders/{fans[1][1]['id']}/refund", {"reason": "ill"})
    for _fan, order in (fans[0], fans[2]):
        staff_admin.api.post(f"/api/v1/matches/{match_id}/check-ins", {"code": order["tickets"][0]["code"]}, status=200)

    rows = _csv(staff_admin.get("/admin/orders.csv"))
    assert rows[0][:5] == ["Order", "Placed (Europe/Ljubljana)", "Status", "Fan", "E-mail"]
    with engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT o.id, o.status, u.full_name, u.email, o.total, (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) "
            "FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.id DESC")).all()
    assert [(int(r[0]), r[2], r[3], r[4], Decimal(r[9]), int(r[8])) for r in rows[1:]] == [
        (i, status, _defused(name), email, Decimal(total) / 100, count) for i, status, name, email, total, count in expected]
    assert {r[3] for r in rows[1:]} >= {'Novak, "Ana"', "Žiga Čučnik", "'=HYPERLINK(\"http://evil.example\",\"x\")",
                                         "'+1 SUM(A1)", "'-2+3", "'@cmd", "'\tTabbed", "'\rReturn"}
    # The list's filters pass through: only the cancelled order, only this fan's orders.
    assert [int(r[0]) for r in _csv(staff_admin.get("/admin/orders.csv?status=cancelled"))[1:]] == [fans[1][1]["id"]]
    page = staff_admin.get("/admin/orders?status=cancelled&page=1")
    assert page.html.find(id="orders-csv")["href"] == "/admin/orders.csv?status=cancelled"
    links = staff_admin.get(f"/admin/matches/{match_id}").html.find(id="match-exports").find_all("a")
    assert [a["href"] for a in links] == [f"/admin/matches/{match_id}/{name}.csv" for name in ("report", "attendees", "check-ins")]
    email = fans[3][0].user["email"]
    assert [r[4] for r in _csv(staff_admin.get(f"/admin/orders.csv?q={email.upper()}"))[1:]] == [email]

    attendees = _csv(staff_admin.get(f"/admin/matches/{match_id}/attendees.csv"))
    assert attendees[0] == ["Ticket", "Order", "Section", "Row", "Seat", "Holder", "E-mail", "Category", "Price",
                            "Currency", "Ticket status", "Checked in (Europe/Ljubljana)", "Checked in by"]
    with engine.connect() as conn:
        tickets = conn.execute(text(
            "SELECT t.id, sec.name, s.row_label, s.number, u.full_name, t.status, "
            "to_char(t.checked_in_at AT TIME ZONE 'Europe/Ljubljana', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM tickets t JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id "
            "JOIN users u ON u.id = t.user_id WHERE t.match_id = :m ORDER BY t.id"), {"m": match_id}).all()
    assert sorted((int(r[0]), r[2], r[3], int(r[4]), r[5], r[10], r[11] or None) for r in attendees[1:]) == [
        (i, section, row, number, _defused(name), status, checked) for i, section, row, number, name, status, checked in tickets]
    assert attendees[1:] and {r[10] for r in attendees[1:]} == {"valid", "void"}

    check_ins = _csv(staff_admin.get(f"/admin/matches/{match_id}/check-ins.csv"))
    assert [int(r[0]) for r in check_ins[1:]] == [fans[0][1]["tickets"][0]["id"], fans[2][1]["tickets"][0]["id"]]
    assert {r[12] for r in check_ins[1:]} == {staff_admin.user["email"]}

    report = _csv(staff_admin.get(f"/admin/matches/{match_id}/report.csv"))
    api = staff_admin.api.get(f"/api/v1/matches/{match_id}/report").json
    assert report[1][:7] == ["Total", "All seats", *(str(api["totals"][k]) for k in ("available", "held", "sold", "blocked", "total"))]
    assert Decimal(report[1][7]) == Decimal(api["totals"]["revenue"]) / 100
    assert [r[1] for r in report if r[0] == "Section"] == [g["name"] for g in api["per_section"]]


def test_ledger_and_audit_log_exports(staff_admin, user_factory, engine):
    fan = user_factory(full_name="Luka Dončić", verified=True)  # a payout needs it (decision 0056)
    fan.post("/api/v1/wallet/top-ups", {"amount": 12_345}, status=201)
    fan.post("/api/v1/wallet/withdrawals", {"amount": 2_000}, headers={"Idempotency-Key": "export-test-payout"},
             status=201)  # money out: negative in the file
    rows = _csv(staff_admin.get("/admin/ledger.csv"))
    with engine.connect() as conn:
        balances = dict(conn.execute(text("SELECT u.email, w.balance FROM wallets w JOIN users u ON u.id = w.user_id")).all())
    sums = {}
    for row in rows[1:]:
        sums[row[2]] = sums.get(row[2], 0) + Decimal(row[5])  # outgoing money is negative: the sum is the balance
    assert sums == {email: Decimal(balance) / 100 for email, balance in balances.items()}
    assert ("Luka Dončić", "top_up", "123.45") in {(r[3], r[4], r[5]) for r in rows[1:]}
    assert ("Luka Dončić", "withdrawal", "-20.00") in {(r[3], r[4], r[5]) for r in rows[1:]}
    own = _csv(staff_admin.get(f"/admin/ledger.csv?user_id={fan.user['id']}"))
    assert {r[2] for r in own[1:]} == {fan.user["email"]}

    staff_admin.post(f"/admin/users/{fan.user['id']}/active", {"active": "no"})
    audit = _csv(staff_admin.get("/admin/audit.csv"))
    with engine.connect() as conn:
        expected = conn.execute(text("SELECT id, action, target_id FROM audit_log ORDER BY id DESC")).all()
    assert [(int(r[0]), r[3], int(r[5])) for r in audit[1:]] == [tuple(e) for e in expected]
    assert staff_admin.get("/admin/audit?action=user.disable").html.find(id="audit-csv")["href"] == \
        "/admin/audit.csv?action=user.disable"
    filtered = _csv(staff_admin.get("/admin/audit.csv?action=user.disable"))
    assert [r[3] for r in filtered[1:]] == ["user.disable"] and '"email": "' in filtered[1][6]


def test_exports_stream_in_batches_and_are_for_staff_only(staff_admin, user_factory, wsgi_app, engine):
    fan = user_factory()
    with engine.begin() as conn:  # 1,200 ledger rows: more than two batches of 500
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                          "SELECT :u, 'top_up', 100, 100 * g, 'EUR' FROM generate_series(1, 1200) g"),
                     {"u": fan.user["id"]})
    response = staff_admin.get("/admin/ledger.csv")
    assert len(response.body.decode("utf-8-sig").splitlines()) == 1201
    # The body is an iterator of chunks (header, then one per batch), not one string.
    request = staff_admin.app.RequestClass.blank("/admin/ledger.csv", environ={"REMOTE_ADDR": "127.0.0.1"})
    request.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in staff_admin.app.cookiejar)
    chunks = list(request.get_response(wsgi_app).app_iter)
    assert len(chunks) == 4 and chunks[0].startswith("\ufeffEntry,".encode())

    fan_admin = staff_admin.__class__(wsgi_app, fan)
    fan_admin.get("/admin/ledger.csv", status=303)  # not logged in to the admin: sent to the login page
    fan.get("/admin/ledger.csv", status=403)  # a fan's bearer token does not open the admin
