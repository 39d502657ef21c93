"""Mail the box office sends, queued in the outbox of the request's own transaction.

A message is written to ``mail_outbox`` with ``request.dbsession`` (decision 0055): it commits
with the change it reports, or not at all, so a rolled-back request sends nothing and a
committed one cannot lose its mail when the SMTP server is down. ``ticketing-mail-sender``
(ticketing/scripts/mail_sender.py) sends what is due with pyramid_mailer, a few rows per short
transaction that holds their locks while the SMTP server answers; a failure is retried
with exponential backoff, and a message sent again after a crash carries the Message-ID chosen
when it was queued, so the receiving side can recognise it.

Bodies are rendered when the message is queued (the language and the facts of that moment;
the checkout's receipt alone is composed by the sender, off the hot path, with its tickets
attached as PDF files), from one Jinja2 template per message and language with three
blocks: ``subject``, ``text`` and ``html``. A sent message's bodies are emptied: a reset
link must not outlive its delivery in the database.

Bulk notices (a cancelled or rescheduled match: one message per ticket holder, 12,000 for a
full arena) are a ``MailCampaign``, written in the staff request's transaction; the sender
expands it into outbox rows in batches in user-id order, remembering where it stopped.
"""
import email.policy
import json
import logging
import smtplib
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from pyramid_mailer.mailer import DebugMailer, Mailer
from pyramid_mailer.message import Message
from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ticketing.models import MailCampaign, MailOutbox
from ticketing.services.prepared import Prepared

log = logging.getLogger(__name__)

LOCALES = ("en", "sl")
DEFAULT_LOCALE = "en"
MESSAGE_ID_DOMAIN = "box-office.ticketing"
#: Retries: 1, 2, 4 ... minutes, at most an hour apart; given up after a day and a half.
BACKOFF_FIRST_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
MAX_ATTEMPTS = 40
CAMPAIGN_BATCH = 500

_environment = Environment(
    loader=PackageLoader("ticketing", "templates/mail"),
    autoescape=select_autoescape(default=False, default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals["shop_url"] = "http://127.0.0.1:6543"
#: The federation's matches are in Slovenia: times in mail are local times there.
LOCAL_ZONE = ZoneInfo("Europe/Ljubljana")
#: Genitive, as a date says it ("1. marca 2027").
_MONTHS_SL = ("januarja", "februarja", "marca", "aprila", "maja", "junija", "julija", "avgusta", "septembra",
              "oktobra", "novembra", "decembra")


@pass_context
def _when(context, value):
    """A moment (datetime or ISO text) as a reader of the message's language writes it."""
    if value is None:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(LOCAL_ZONE)
    if context.get("locale") == "sl":
        return f"{local.day}. {_MONTHS_SL[local.month - 1]} {local.year} ob {local:%H.%M}"
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


_environment.filters["when"] = _when


def utcnow():
    return datetime.now(timezone.utc)


def configure(settings):
    """Read the mail settings once at start-up (the app's and the sender's)."""
    _environment.globals["shop_url"] = (settings.get("mail.shop_url") or "http://127.0.0.1:6543").rstrip("/")


def locale_of(value):
    return value if value in LOCALES else DEFAULT_LOCALE


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(template, locale, params):
    """Subject, plain text and HTML of ``template`` in ``locale`` (``en`` if unknown)."""
    compiled = _environment.get_template(f"{template}.{locale_of(locale)}.jinja2")
    context = compiled.new_context(dict(params, locale=locale_of(locale)))

    def block(name):
        return "".join(compiled.blocks[name](context)).strip()

    return Rendered(" ".join(block("subject").split()), block("text") + "\n", block("html"))


def new_message_id():
    return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


def enqueue(dbsession, template, recipient, locale, params, *, user_id=None, dedupe_key=None):
    """Queue one message in the caller's transaction. With ``dedupe_key`` it is one message
    per event: a second call with the same key queues nothing. Returns True if queued."""
    rendered = render(template, locale, params)
    statement = pg_insert(MailOutbox).values(
        message_id=new_message_id(), dedupe_key=dedupe_key, user_id=user_id, recipient=recipient,
        template=template, subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(MailOutbox.id)
    return dbsession.execute(statement).first() is not None


# Prepared (decision 0017): it runs in every checkout, and as plain text PostgreSQL planned
# it each time (pg_stat_statements in a sell-out: 0.11 ms of planning, as long as it ran).
_ENQUEUE_FOR_SENDER = Prepared(
    "mail_enqueue_for_sender",
    """
    INSERT INTO mail_outbox (message_id, dedupe_key, user_id, recipient, template, subject, params)
    SELECT :message_id, :dedupe_key, u.id, u.email, :template, '', CAST(:params AS jsonb)
    FROM users u WHERE u.id = :user_id
    ON CONFLICT (dedupe_key) DO NOTHING
    """,
    {"message_id": "text", "dedupe_key": "text", "user_id": "bigint", "template": "text", "params": "text"},
)


def enqueue_for_sender(dbsession, template, user_id, params, dedupe_key):
    """Queue a message to the account ``user_id`` in one statement, to be composed by the
    sender (``composers`` of :func:`send_due`): for the checkout, where every round trip
    counts (docs/decisions/0020), the facts are read and the bodies rendered later."""
    _ENQUEUE_FOR_SENDER.execute(dbsession, {
        "message_id": new_message_id(), "dedupe_key": dedupe_key, "user_id": user_id, "template": template,
        "params": json.dumps(params)})


# -- bulk notices to a match's ticket holders -----------------------------------------------

#: The holders a notice goes to: fans with a paid order of the match, or one that was
#: cancelled with it (in the same transaction as the campaign, so at the same ``now()``).
_HOLDERS = """
    FROM orders o JOIN users u ON u.id = o.user_id
    WHERE o.match_id = :m AND u.deleted_at IS NULL
      AND (o.status = 'paid' OR o.cancelled_at >= :since)
"""


def start_campaign(dbsession, match_id, kind, params):
    """Queue a notice to every ticket holder of the match, in the caller's transaction."""
    campaign = MailCampaign(match_id=match_id, kind=kind, params=params)
    dbsession.add(campaign)
    dbsession.flush()
    dbsession.refresh(campaign, ["created_at"])
    campaign.total = dbsession.execute(
        text("SELECT count(DISTINCT o.user_id) " + _HOLDERS), {"m": match_id, "since": campaign.created_at}
    ).scalar_one()
    if campaign.total == 0:
        campaign.finished_at = campaign.created_at
    dbsession.flush()
    return campaign


def expand_campaign_batch(dbsession, batch=CAMPAIGN_BATCH):
    """Queue the next ``batch`` holders of one unfinished campaign; False when none is left.

    The campaign row is locked (SKIP LOCKED: two senders expand different campaigns), and its
    cursor moves in the same transaction as the rows it queued: a crash loses nothing and
    queues nobody twice (the dedupe key would refuse it anyway)."""
    campaign = dbsession.execute(
        select(MailCampaign).where(MailCampaign.finished_at.is_(None)).order_by(MailCampaign.id)
        .with_for_update(skip_locked=True).limit(1)
    ).scalar_one_or_none()
    if campaign is None:
        return False
    holders = dbsession.execute(
        text("SELECT o.user_id, min(u.email) AS email, min(u.locale) AS locale, min(u.full_name) AS full_name, "
             "count(*) AS orders " + _HOLDERS + " AND o.user_id > :cursor "
             "GROUP BY o.user_id ORDER BY o.user_id LIMIT :batch"),
        {"m": campaign.match_id, "since": campaign.created_at, "cursor": campaign.cursor_user_id, "batch": batch},
    ).all()
    rows = []
    for holder in holders:
        rendered = render(campaign.kind, holder.locale, dict(campaign.params, full_name=holder.full_name))
        rows.append({"message_id": new_message_id(), "dedupe_key": f"campaign:{campaign.id}:user:{holder.user_id}",
                     "user_id": holder.user_id, "campaign_id": campaign.id, "recipient": holder.email,
                     "template": campaign.kind, "subject": rendered.subject, "body_text": rendered.text,
                     "body_html": rendered.html})
    if rows:
        dbsession.execute(pg_insert(MailOutbox).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))
        campaign.cursor_user_id = holders[-1].user_id
        campaign.enqueued += len(rows)
    if len(holders) < batch:
        campaign.finished_at = func.now()
    dbsession.flush()
    return True


def campaign_progress(dbsession, match_id):
    """Each notice of the match, newest first: how many holders, queued, sent, given up."""
    return dbsession.execute(
        text("""
            SELECT c.id, c.kind, c.created_at, c.total, c.enqueued, c.finished_at,
                   count(o.sent_at) AS sent, count(o.failed_at) AS failed
            FROM mail_campaigns c LEFT JOIN mail_outbox o ON o.campaign_id = c.id
            WHERE c.match_id = :m GROUP BY c.id ORDER BY c.id DESC
        """),
        {"m": match_id},
    ).mappings().all()


# -- sending ---------------------------------------------------------------------------------

#: SMTP wants CRLF line ends; repoze.sendmail (under pyramid_mailer) sends the bytes the
#: message's policy writes, bare LF by default, which strict servers refuse as smuggling.
SMTP_POLICY = email.policy.compat32.clone(linesep="\r\n")


class Transport:
    """Delivers a pyramid_mailer ``Message`` at once: by SMTP, or into a directory."""

    def __init__(self, mailer):
        self.mailer = mailer

    def send(self, message):
        if isinstance(self.mailer, DebugMailer):
            self.mailer.send_immediately(message)
            return
        mime = message.to_message()
        mime.policy = SMTP_POLICY
        self.mailer.smtp_mailer.send(message.sender, message.send_to, mime)


def transport_from_settings(settings):
    """pyramid_mailer's SMTP mailer (``mail.transport = smtp``, with ``mail.host`` etc.), or its
    DebugMailer writing one .eml file per message into ``mail.directory`` (development)."""
    if settings.get("mail.transport", "smtp") == "directory":
        return Transport(DebugMailer(settings["mail.directory"]))
    return Transport(Mailer.from_settings(settings, "mail."))


def backoff(attempts):
    return timedelta(seconds=min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


#: Errors that say the server (not this message) is the problem: the round stops there.
SERVER_DOWN = (ConnectionError, socket.timeout, socket.gaierror, smtplib.SMTPServerDisconnected,
               smtplib.SMTPConnectError)


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    server_down: bool = False


def _as_message(row, sender, attachments=()):
    return Message(subject=row.subject, sender=sender, recipients=[row.recipient], body=row.body_text,
                   html=row.body_html, extra_headers={"Message-ID": row.message_id},
                   attachments=list(attachments))


#: Rows taken per transaction: fewer commits for a bulk notice; after a crash, at most this
#: many messages the SMTP server had already taken are sent again (with their Message-IDs).
SEND_BATCH = 25

#: Messages rendered when queued and sent to one person: links that expire (verification,
#: password reset) and notices. Receipts (composed by the sender, with PDFs) and the messages
#: of a bulk notice (thousands at once) go after them.
QUICK_LANE = and_(MailOutbox.params.is_(None), MailOutbox.campaign_id.is_(None))


def send_due(session_factory, transport, sender, now=None, limit=1000, composers=None, batch=SEND_BATCH):
    """Send up to ``limit`` due messages, ``batch`` per transaction; returns a SendReport.

    ``composers``: ``{template: function(session, row)}`` that fill the subject and bodies of
    a row queued unrendered (:func:`enqueue_for_sender`) just before each attempt to send it,
    and return its pyramid_mailer ``Attachment`` list (or None). Attachments are not stored:
    they are made again at every attempt, with the bodies, so the two always agree.

    The rows stay locked (FOR UPDATE SKIP LOCKED) while the SMTP server takes them, so two
    senders never send the same row, and a row is marked sent only once the server accepted
    it, in the transaction that locked it: a crash before that commit sends it again, with
    the same Message-ID."""
    report = SendReport()
    while report.sent + report.deferred + report.failed < limit:
        moment = now or utcnow()
        room = min(batch, limit - report.sent - report.deferred - report.failed)
        with session_factory() as session, session.begin():
            # Each batch takes the quick lane first: a verification or reset link waits at
            # most one batch of receipts (each renders its PDFs) or of a bulk notice.
            rows = []
            for lane in QUICK_LANE, ~QUICK_LANE:
                rows = session.execute(
                    select(MailOutbox)
                    .where(MailOutbox.sent_at.is_(None), MailOutbox.failed_at.is_(None),
                           MailOutbox.next_attempt_at <= moment, lane)
                    .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
                    .with_for_update(skip_locked=True).limit(room)
                ).scalars().all()
                if rows:
                    break
            if not rows:
                return report
            for row in rows:
                if not _send_one(session, row, transport, sender, moment, composers, report):
                    return report  # the server is down: the rest of the batch waits, untried
    return report


def _send_one(session, row, transport, sender, moment, composers, report):
    """Send one locked row and record the outcome on it; False when the server is down."""
    row.attempts += 1
    try:
        attachments = ()
        composer = (composers or {}).get(row.template) if row.params is not None else None
        if composer is not None:
            # In a savepoint: a composer that fails in the database rolls back alone, and the
            # batch's transaction still records this row's attempt and the others' sends.
            with session.begin_nested():
                attachments = composer(session, row) or ()
        elif row.body_text is None and row.body_html is None:
            raise LookupError(f"no composer for the unrendered {row.template!r} message")
        transport.send(_as_message(row, sender, attachments))
    except Exception as exc:  # noqa: BLE001 - any failure is retried later
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.failed_at = moment
            report.failed += 1
        else:
            row.next_attempt_at = moment + backoff(row.attempts)
            report.deferred += 1
        log.warning("mail %s to %s not sent (attempt %d): %s", row.message_id, row.recipient,
                    row.attempts, row.last_error)
        if isinstance(exc, SERVER_DOWN):
            report.server_down = True
            return False
        return True
    row.sent_at = moment
    row.last_error = None
    row.body_text = row.body_html = None
    report.sent += 1
    return True


def drain(session_factory, transport, sender, now=None, batch=CAMPAIGN_BATCH, composers=None):
    """One round of the sender: expand campaigns a batch at a time and send what is due."""
    total = SendReport()
    while True:
        with session_factory() as session, session.begin():
            expanded = expand_campaign_batch(session, batch)
        report = send_due(session_factory, transport, sender, now=now, composers=composers)
        total.sent += report.sent
        total.deferred += report.deferred
        total.failed += report.failed
        if report.server_down:
            total.server_down = True
            return total
        if not expanded:
            return total
