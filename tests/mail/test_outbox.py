"""The outbox and its sender, against a real SMTP server: one message per event, none for a
rolled-back transaction, retried with the same Message-ID after the server was down."""
from datetime import timedelta

import pytest
import transaction
from sqlalchemy import text

from ticketing.models import get_tm_session
from ticketing.services import mail

from .conftest import SENDER, free_port, html_part, text_part


class LaterStepFailed(Exception):
    pass


def queue(session_factory, commit=True, **kw):
    """Queue a message in a transaction of the app's kind (pyramid_tm's, joined by
    zope.sqlalchemy); ``commit=False``: a later step of the same request fails."""
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(session_factory, manager)
        mail.enqueue(session, "verify_email", kw.pop("to", "ana@example.com"), kw.pop("locale", "en"),
                     {"full_name": "Ana <b>", "token": "tok-123", "hours": 72}, **kw)
        if not commit:
            raise LaterStepFailed()


def outbox(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM mail_outbox ORDER BY id")).mappings().all()


def test_a_committed_message_arrives_once_with_text_and_html(clean_db, session_factory, deliver):
    queue(session_factory)
    arrived = deliver()
    assert len(arrived) == 1
    message = arrived[0]
    row = outbox(clean_db)[0]
    assert message["Message-ID"] == row["message_id"]
    assert message["To"] == "ana@example.com" and message["From"] == SENDER
    assert message["Subject"] == "Confirm your e-mail address"
    assert "verify-email?token=tok-123" in text_part(message)
    assert "Ana &lt;b&gt;" in html_part(message)  # HTML is escaped, text is not
    assert "Ana <b>" in text_part(message)
    # Sent, and the bodies (a reset link) no longer kept.
    assert row["sent_at"] is not None and row["body_text"] is None and row["body_html"] is None
    assert deliver() == []  # nothing twice


def test_a_rolled_back_transaction_sends_nothing(clean_db, session_factory, deliver):
    with pytest.raises(LaterStepFailed):
        queue(session_factory, commit=False)
    assert outbox(clean_db) == []
    assert deliver() == []


def test_one_message_per_event(clean_db, session_factory, deliver):
    queue(session_factory, dedupe_key="verify:1")
    queue(session_factory, dedupe_key="verify:1")
    assert len(deliver()) == 1


def test_slovenian(clean_db, session_factory, deliver):
    queue(session_factory, locale="sl")
    [message] = deliver()
    assert message["Subject"] == "Potrdite svoj e-poštni naslov"
    assert "Pozdravljeni" in text_part(message) and 'lang="sl"' in html_part(message)


def test_retried_with_backoff_after_the_server_was_down(clean_db, session_factory, deliver, inbox):
    queue(session_factory)
    queue(session_factory, to="bor@example.com")
    down = mail.transport_from_settings({"mail.host": "127.0.0.1", "mail.port": str(free_port())})  # no one there
    assert deliver(transport=down) == []
    rows = outbox(clean_db)
    # The round stopped at the first refusal: the other message was not even tried.
    assert [row["attempts"] for row in rows] == [1, 0]
    first = rows[0]
    assert first["sent_at"] is None and "Connection" in first["last_error"]
    assert first["next_attempt_at"] - first["created_at"] >= timedelta(seconds=55)

    # The server is back: the untried one goes now, the refused one only when its backoff ends.
    arrived = deliver()
    assert [m["To"] for m in arrived] == ["bor@example.com"]
    arrived = deliver(now=first["next_attempt_at"] + timedelta(seconds=1))
    assert [m["Message-ID"] for m in arrived] == [first["message_id"]]
    assert len(inbox.messages) == 2
    assert outbox(clean_db)[0]["attempts"] == 2


def test_backoff_doubles_up_to_an_hour():
    assert [mail.backoff(n).total_seconds() for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


@pytest.mark.parametrize("template", ["verify_email", "account_exists", "reset_password", "order_receipt",
                                      "order_cancelled", "match_cancelled", "match_rescheduled",
                                      "ticket_received", "ticket_given", "withdrawal_paid", "ticket_cancelled"])
@pytest.mark.parametrize("locale", ["en", "sl"])
def test_every_template_renders_in_both_languages(template, locale):
    params = {"full_name": "Ana", "token": "t", "hours": 72, "minutes": 60, "match": "A vs B",
              "starts_at": "2027-03-01 18:00", "old_starts_at": "2027-02-01 18:00", "refund_cutoff_at": "2027-02-28T18:00:00+00:00",
              "order_id": 7, "total": "25.00 EUR", "by_staff": True,
              "section": "N", "row": "1", "seat": 2, "from_name": "Ana", "to_name": "Bor", "to_email": "bor@example.com",
              "amount": "70.00 EUR", "reference": "PO-9", "balance": "130.00 EUR", "refunded": "25.00 EUR",
              "tickets": [{"id": 1, "section": "N", "row": "1", "seat": 2, "code": "C"}]}
    rendered = mail.render(template, locale, params)
    assert rendered.subject and rendered.text.strip() and rendered.html.startswith("<!doctype html>")
    assert f'lang="{locale}"' in rendered.html


def test_development_writes_each_message_to_var_mail(clean_db, session_factory, tmp_path):
    queue(session_factory)
    transport = mail.transport_from_settings({"mail.transport": "directory", "mail.directory": str(tmp_path)})
    assert mail.drain(session_factory, transport, SENDER).sent == 1
    [eml] = tmp_path.glob("*.eml")
    assert "Subject: Confirm your e-mail address" in eml.read_text()


def _fan(engine):
    with engine.begin() as conn:
        return conn.execute(text("INSERT INTO users (email, full_name, password_hash, role) "
                                 "VALUES ('cene@example.com', 'Cene', 'x', 'customer') RETURNING id")).scalar_one()


def _queue_for_sender(session_factory, user_id, *templates):
    with session_factory() as session, session.begin():
        for number, template in enumerate(templates):
            mail.enqueue_for_sender(session, template, user_id, {"n": number}, dedupe_key=f"{template}:{number}")


def _fill(session, row):
    row.subject, row.body_text, row.body_html = f"Composed {row.params['n']}", "text", "<p>html</p>"


def test_a_composer_failing_in_the_database_defers_only_its_own_message(clean_db, session_factory,
                                                                        smtp_transport, inbox):
    """A receipt whose facts cannot be read (here a division by zero) is retried later; the
    rest of its batch is sent and recorded once (the composer runs in a savepoint)."""
    def broken(session, row):
        session.execute(text("SELECT 1 / 0"))

    _queue_for_sender(session_factory, _fan(clean_db), "broken", "fine")
    composers = {"broken": broken, "fine": _fill}
    report = mail.send_due(session_factory, smtp_transport, SENDER, composers=composers)
    assert (report.sent, report.deferred, report.failed) == (1, 1, 0)
    broken_row, fine_row = outbox(clean_db)
    assert broken_row["attempts"] == 1 and broken_row["sent_at"] is None
    assert "DivisionByZero" in broken_row["last_error"]
    assert fine_row["sent_at"] is not None and fine_row["attempts"] == 1
    assert [m["Subject"] for m in inbox.messages] == ["Composed 1"]
    # The next round sends nothing again: the sent one was recorded, the other waits its backoff.
    assert mail.send_due(session_factory, smtp_transport, SENDER, composers=composers).sent == 0
    assert len(inbox.messages) == 1


def test_links_that_expire_overtake_a_backlog_of_receipts(clean_db, session_factory, smtp_transport, inbox):
    """Each batch takes the quick lane first: a verification link queued behind receipts
    (composed by the sender, PDFs and all) goes out in the next batch, not after them."""
    _queue_for_sender(session_factory, _fan(clean_db), *["receipt"] * 3)
    queue(session_factory)  # the verification link, queued last
    mail.send_due(session_factory, smtp_transport, SENDER, composers={"receipt": _fill}, batch=1, limit=1)
    assert [m["Subject"] for m in inbox.messages] == ["Confirm your e-mail address"]
    mail.send_due(session_factory, smtp_transport, SENDER, composers={"receipt": _fill}, batch=1)
    assert [m["Subject"] for m in inbox.messages][1:] == ["Composed 0", "Composed 1", "Composed 2"]


def test_amounts_are_written_in_the_language_of_the_mail():
    from ticketing.services import notices

    assert notices.money(7000, "EUR", "sl") == "70,00\xa0€"
    assert notices.money(7000, "EUR", "en") == "€70.00"
