"""Database wiring: the engine, the per-request session joined to pyramid_tm, and the models.

``request.dbsession`` is the only database handle request code gets. It is joined to
``request.tm`` by zope.sqlalchemy, so a request commits once when the view returns and aborts
on any error; pyramid_retry re-runs it on serialization failures and deadlocks.
"""
import transaction
from pyramid.settings import asbool
from pyramid_retry import mark_error_retryable
from sqlalchemy import engine_from_config, event
from sqlalchemy.orm import configure_mappers, sessionmaker
from zope.sqlalchemy import register
from zope.sqlalchemy.datamanager import STATUS_CHANGED

from .audit import AuditEntry  # noqa: F401
from .credits import StaffCreditDay, WalletCredit  # noqa: F401
from .commerce import IdempotencyRecord, LedgerEntry, Hold, Order, Ticket, Wallet  # noqa: F401
from .mail import AccountToken, MailCampaign, MailOutbox  # noqa: F401
from .match import Match, MatchSeat, MatchSeatVersion, PriceCategory, SeatAssignment  # noqa: F401
from .meta import Base, metadata  # noqa: F401
from .rate_limit import RateLimitCounter  # noqa: F401
from .user import RefreshToken, User  # noqa: F401
from .venue import Seat, Section, Stadium  # noqa: F401
from .waiting_room import QueuePlace, WaitingRoom, WaitingRoomCall  # noqa: F401

configure_mappers()


def with_psycopg2_driver(url):
    """Pin the driver: SQLAlchemy 2.1 defaults ``postgresql://`` to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def with_hosts_in_query(url):
    """Accept libpq's multi-host URL, ``postgresql://user@h1:p1,h2:p2/db?target_session_attrs=
    read-write`` (what ``pg_autoctl show uri`` prints, docs/decisions/0036), which SQLAlchemy's
    URL parser refuses (one port per URL), by moving the hosts into its query form
    ``postgresql://user@/db?host=h1:p1&host=h2:p2&...``. psycopg2's dialect turns that back
    into libpq's ``host=h1,h2 port=p1,p2``, so libpq tries each host in turn and keeps the one
    that accepts writes. A single-host URL is returned unchanged."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    netloc, _, tail = rest.partition("/")
    user, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return url
    path, _, query = tail.partition("?")
    host_params = "&".join(f"host={host}" for host in hosts.split(",") if host)
    return f"{scheme}://{user}{at}/{path}?{host_params}" + (f"&{query}" if query else "")


def sqlalchemy_url(url):
    """A database URL as ops write it (a libpq URL, one host or several) for SQLAlchemy."""
    return with_psycopg2_driver(with_hosts_in_query(url))


def resolve_database_url(settings):
    """The database URL: DATABASE_URL / sqlalchemy.url, else the embedded cluster."""
    url = (settings.get("sqlalchemy.url") or "").strip()
    if url:
        return sqlalchemy_url(url)
    from ticketing import embedded_postgres

    pgdata = settings.get("ticketing.embedded_pgdata") or "var/pgdata"
    return embedded_postgres.database_url(pgdata)


def get_engine(settings, prefix="sqlalchemy.", **overrides):
    """Build the engine with pool and server-side timeouts from the settings (``overrides``
    win over them: the autocommit engine's isolation level and pool size)."""
    settings = dict(settings)
    settings[prefix + "url"] = resolve_database_url(settings)
    # A ping per checkout is a round trip per transaction; production.ini turns it off and
    # relies on retry_on_lost_connection instead (decision 0016). engine_from_config leaves
    # the setting a string.
    settings[prefix + "pool_pre_ping"] = asbool(settings.get(prefix + "pool_pre_ping", True))
    timeouts = {
        "statement_timeout": int(settings.get("db.statement_timeout_ms", 15000)),
        "lock_timeout": int(settings.get("db.lock_timeout_ms", 5000)),
        "idle_in_transaction_session_timeout": int(
            settings.get("db.idle_in_transaction_session_timeout_ms", 30000)
        ),
    }
    # The hot path's prepared statements are all key lookups whose best plan does not depend
    # on the values: plan them once, not per call (ticketing/services/prepared.py, decision
    # 0017). Only prepared statements are affected; SQLAlchemy's own are sent as text.
    server_settings = {**timeouts, "plan_cache_mode": "force_generic_plan"}
    options = " ".join(f"-c {name}={value}" for name, value in server_settings.items())
    engine = engine_from_config(
        settings,
        prefix,
        connect_args={"options": options, "application_name": "ticketing"},
        future=True,
        **overrides,
    )
    return engine


def get_autocommit_engine(settings):
    """The engine for the small statements that must commit on their own, outside the
    request's transaction: rate-limit counters and idempotency claims.

    Its own pool of connections that are autocommit from birth: borrowing a connection of
    the main pool and switching it to autocommit and back cost psycopg2 two
    ``SET default_transaction_isolation`` round trips per use (eight per purchase), and every
    later transaction on it an explicit ``BEGIN ISOLATION LEVEL READ COMMITTED``.
    """
    return retry_on_lost_connection(get_engine(
        settings,
        isolation_level="AUTOCOMMIT",
        pool_size=int(settings.get("db.autocommit_pool_size", 6)),
        max_overflow=int(settings.get("db.autocommit_max_overflow", 4)),
    ))


def retry_on_lost_connection(engine):
    """Let pyramid_retry run a request again when its transaction found its pooled connection
    dead (a database restart, a proxy's idle timeout): SQLAlchemy has then invalidated every
    connection of the pool, so the next attempt gets a fresh one.

    Safe because nothing of the request's transaction can have committed: the error came from
    a statement (``context.statement``), and a lost connection rolls its transaction back. A
    connection lost at COMMIT has no statement (its outcome is unknown) and is never retried.
    On the autocommit engine a statement lost mid-flight may have committed: a rate-limit
    count then counts twice, and an idempotency claim answers the retry "still running"
    until it goes stale; neither can do anything twice.
    """

    @event.listens_for(engine, "handle_error")
    def _mark_retryable(context):
        if context.is_disconnect and context.statement is not None and context.sqlalchemy_exception is not None:
            mark_error_retryable(context.sqlalchemy_exception)

    return engine


def get_session_factory(engine):
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(session_factory, transaction_manager, request=None):
    """A session joined to ``transaction_manager``: it commits or aborts with it, as the
    Pyramid cookiecutter's. For scripts and tests that bring their own manager; requests
    use ``get_request_session_factory``.

    It starts "changed" (``STATUS_CHANGED``): the hot paths write with SQL statements
    (conditional UPDATEs, INSERT ... SELECT, prepared EXECUTEs) that zope.sqlalchemy cannot
    see, and such a write must never be dropped because the ORM did not notice it;
    committing a read-only transaction costs what rolling it back does.
    """
    session = session_factory(info={"request": request})
    register(session, initial_state=STATUS_CHANGED, transaction_manager=transaction_manager)
    return session


def get_request_session_factory(engine):
    """Sessions joined to the transaction of the thread they are made in: pyramid_tm's
    default manager (``transaction.manager``, one per thread) is what ``request.tm`` is, and
    waitress serves a request in one thread from start to end.

    zope.sqlalchemy's listeners are registered once, on the factory, as its ``register``
    allows. Registering them on each request's session (the cookiecutter's way, needed with
    an explicit manager per request) cost 11 % of the app's CPU in a sell-out: SQLAlchemy
    builds an event dispatcher per session for seven listeners (bench/results/ab-zope-
    register-once.json). Initial state: see ``get_tm_session``.
    """
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    register(factory, initial_state=STATUS_CHANGED, transaction_manager=transaction.manager)
    return factory


def includeme(config):
    settings = config.get_settings()
    # request.tm is transaction.manager, the thread's own manager: the request sessions'
    # factory is joined to it once (get_request_session_factory).
    settings.pop("tm.manager_hook", None)
    # pyramid_tm would look up the user to annotate each transaction, *outside* the exception
    # views: a database outage there became a bare 500 (found by the crash test).
    settings["tm.annotate_user"] = False
    settings.setdefault("retry.activate_hook", "ticketing.input_guard.retry_attempts")
    config.include("pyramid_tm")
    config.include("pyramid_retry")

    engine = retry_on_lost_connection(get_engine(settings))
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory
    request_session_factory = get_request_session_factory(engine)
    config.registry["db_engine"] = engine
    config.registry["db_autocommit_engine"] = get_autocommit_engine(settings)

    def dbsession(request):
        # Tests may hand in a session bound to an outer transaction via the environ.
        session = request.environ.get("app.dbsession")
        if session is None:
            session = request_session_factory(info={"request": request})
        return session

    config.add_request_method(dbsession, reify=True)
