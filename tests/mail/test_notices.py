"""Mail about purchases and matches, end to end through the API and the real SMTP server:
the receipt with the tickets, the refund notice, and a notice to every ticket holder when a
match is cancelled or moved (bulk, resumable, its progress counted)."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from ticketing.models import get_session_factory
from ticketing.services import mail

from ..functional.catalogue_helpers import iso, published_match
from ..purchases import buy
from .conftest import html_part, text_part


def test_receipt_with_every_ticket_and_its_code(staff, user_factory, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(email="ana@example.com")
    deliver()
    order = buy(fan, match["id"], quantity=2)
    [receipt] = deliver()
    assert receipt["To"] == "ana@example.com" and receipt["Subject"] == "Your tickets: Tigers vs Eagles"
    body = text_part(receipt)
    assert "€50.00" in body and f"order {order['id']}" in body
    for ticket in order["tickets"]:
        assert ticket["code"] in body and f"/tickets/{ticket['id']}" in body
        assert ticket["code"] in html_part(receipt)
    assert deliver() == []


def test_a_failed_checkout_sends_no_receipt(staff, user_factory, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(email="poor@example.com")
    deliver()
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=402)  # the wallet is empty
    assert deliver() == []


def test_cancelling_an_order_mails_the_refund(staff, user_factory, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(email="bor@example.com")
    order = buy(fan, match["id"], quantity=1)
    deliver()
    fan.post(f"/api/v1/orders/{order['id']}/cancel", status=200)
    [notice] = deliver()
    assert notice["Subject"] == f"Order {order['id']} cancelled, €25.00 refunded"
    fan.post(f"/api/v1/orders/{order['id']}/cancel", status=409)  # refused: no second notice
    assert deliver() == []


def test_cancelling_one_ticket_mails_its_payer_and_a_different_holder(staff, user_factory, engine, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(email="ema@example.com", verified=True)
    friend = user_factory(email="jan@example.com")
    with engine.begin() as conn:  # Jan reads Slovenian
        conn.execute(text("UPDATE users SET locale = 'sl' WHERE id = :u"), {"u": friend.user["id"]})
    kept, given = buy(fan, match["id"], quantity=2)["tickets"]
    fan.post(f"/api/v1/tickets/{given['id']}/transfer", {"email": "jan@example.com"}, status=200)
    deliver()  # the sign-ups, the receipt and the transfer's notices

    # The fan cancels a ticket they hold: one mail, with the refund, in their language.
    fan.post(f"/api/v1/tickets/{kept['id']}/cancel", status=200)
    [notice] = deliver()
    assert notice["To"] == "ema@example.com"
    assert notice["Subject"] == "Ticket for Tigers vs Eagles cancelled, €25.00 refunded"
    seat = kept["seat"]
    assert f"{seat['section']}, row {seat['row']}, seat {seat['number']}" in text_part(notice)
    assert "box office" not in text_part(notice)
    fan.post(f"/api/v1/tickets/{kept['id']}/cancel", status=409)  # refused: no second mail
    assert deliver() == []

    # Staff cancel the ticket given away: the payer gets the money, the holder the news.
    staff.post(f"/api/v1/tickets/{given['id']}/cancel", status=200)
    arrived = {message["To"]: message for message in deliver()}
    assert sorted(arrived) == ["ema@example.com", "jan@example.com"]
    assert arrived["ema@example.com"]["Subject"] == "Ticket for Tigers vs Eagles cancelled, €25.00 refunded"
    assert "by the box office" in text_part(arrived["ema@example.com"])
    assert arrived["jan@example.com"]["Subject"] == "Vstopnica za Tigers vs Eagles preklicana"
    holder = text_part(arrived["jan@example.com"])
    assert "navijaču, ki jo je plačal" in holder and "€" not in holder  # no amount: the money is not theirs
    assert deliver() == []


def holders(user_factory, match_id, count):
    fans = [user_factory(email=f"holder-{n}@example.com") for n in range(count)]
    for fan in fans:
        buy(fan, match_id, quantity=1)
    return fans


def campaigns(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM mail_campaigns ORDER BY id")).mappings().all()


def test_a_cancelled_match_mails_every_holder_once_in_resumable_batches(staff, user_factory, deliver, engine,
                                                                        smtp_transport, inbox):
    match, *_ = published_match(staff, prices=(2500,))
    holders(user_factory, match["id"], 5)
    bystander = user_factory(email="bystander@example.com")
    deliver()
    staff.post(f"/api/v1/matches/{match['id']}/cancel", status=200)
    [campaign] = campaigns(engine)
    assert campaign["total"] == 5 and campaign["enqueued"] == 0

    # Expand two holders at a time, as a sender that crashes after each batch would.
    session_factory = get_session_factory(engine)
    with session_factory() as session, session.begin():
        mail.expand_campaign_batch(session, batch=2)
    assert campaigns(engine)[0]["enqueued"] == 2 and campaigns(engine)[0]["finished_at"] is None
    with session_factory() as session, session.begin():
        mail.expand_campaign_batch(session, batch=2)
    arrived = deliver()  # resumes where the batches stopped
    assert sorted(m["To"] for m in arrived) == [f"holder-{n}@example.com" for n in range(5)]
    assert all(m["Subject"] == "Cancelled: Tigers vs Eagles" for m in arrived)
    assert bystander.user["email"] not in [m["To"] for m in arrived]  # bought nothing
    with session_factory() as session:
        [progress] = mail.campaign_progress(session, match["id"])
    assert (progress["total"], progress["enqueued"], progress["sent"]) == (5, 5, 5)
    assert progress["finished_at"] is not None
    assert deliver() == []


def test_a_moved_match_mails_its_holders_the_new_date(staff, user_factory, deliver, engine):
    match, *_ = published_match(staff, prices=(2500,))
    holders(user_factory, match["id"], 2)
    deliver()
    new_start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=40)
    staff.patch(f"/api/v1/matches/{match['id']}", {"starts_at": iso(new_start)}, status=200)
    arrived = deliver()
    assert len(arrived) == 2 and all(m["Subject"] == "New date: Tigers vs Eagles" for m in arrived)
    staff.patch(f"/api/v1/matches/{match['id']}", {"home_team": "Lions"}, status=200)  # not a new date
    assert deliver() == []
