"""Reads and checks the deployment settings once, at start-up.

Everything that turns an ini value or an environment variable into a typed setting lives
here, so the rest of the code reads plain values and production refuses to start with a
configuration that would be unsafe (missing or development secrets).
"""
import os

from babel import Locale
from pyramid.settings import asbool

from ticketing.money import DEFAULT_LOCALE

#: Environment variables that override ini settings (twelve-factor style deployments).
ENVIRONMENT_OVERRIDES = {
    "DATABASE_URL": "sqlalchemy.url",
    "TICKETING_JWT_SECRET": "auth.jwt_secret",
    "TICKETING_SESSION_SECRET": "auth.session_secret",
    "TICKETING_BCRYPT_ROUNDS": "auth.bcrypt_rounds",
    "TICKETING_ENVIRONMENT": "ticketing.environment",
    "TICKETING_TICKET_SIGNING_KEY": "tickets.signing_key",
    "TICKETING_TICKET_SIGNING_KEY_FILE": "tickets.signing_key_file",
    "TICKETING_GC_FREEZE": "ticketing.gc_freeze",
    # Mail (decision 0055): production's SMTP relay and addresses come from the environment.
    "TICKETING_SMTP_HOST": "mail.host",
    "TICKETING_SMTP_PORT": "mail.port",
    "TICKETING_SMTP_USERNAME": "mail.username",
    "TICKETING_SMTP_PASSWORD": "mail.password",
    "TICKETING_SMTP_TLS": "mail.tls",
    "TICKETING_SMTP_SSL": "mail.ssl",
    "TICKETING_MAIL_FROM": "mail.default_sender",
    "TICKETING_SHOP_URL": "mail.shop_url",
}

INT_SETTINGS = {
    "auth.access_token_ttl_seconds": 900,
    "auth.refresh_token_ttl_seconds": 14 * 24 * 3600,
    "auth.bcrypt_rounds": 12,
    # Logins and signups (ticketing/services/login_throttle.py), per auth_window_seconds:
    "ratelimit.auth_per_ip": 30,
    "ratelimit.auth_per_email": 10,  # signups of one address
    "ratelimit.auth_per_account_client": 10,  # an untrusted client's logins to one account
    "ratelimit.auth_per_device": 10,  # a trusted client's (device token) logins
    "ratelimit.auth_window_seconds": 300,
    # All untrusted clients of one account together: slowed down, not locked out.
    "ratelimit.auth_untrusted_per_account": 5,
    "ratelimit.auth_untrusted_window_seconds": 30,
    # Per minute; 0 disables. Generous for a person, tight for a bot.
    "ratelimit.holds_per_user": 30,
    "ratelimit.holds_per_ip": 600,
    "ratelimit.checkouts_per_user": 20,
    "ratelimit.checkouts_per_ip": 300,
    # Per hour: a transfer names its recipient by e-mail, and an unknown address is a 422,
    # so attempts are few per fan to keep that from probing which addresses are registered.
    "ratelimit.transfers_per_user_hour": 20,
    # Payouts per fan and minute: each is a ledger row and a mail to the fan.
    "ratelimit.withdrawals_per_user": 5,
    "db.statement_timeout_ms": 15000,
    "db.lock_timeout_ms": 5000,
    "db.idle_in_transaction_session_timeout_ms": 30000,
    # An API request that waited longer than this for a thread is refused unstarted with a
    # 503 (ticketing/load_shedding.py, decision 0025); 0 serves every request however late.
    "ticketing.max_queue_wait_ms": 5000,
    # Staff credits to fans' wallets, in minor units (services/credits.py, decision 0041): one
    # credit at most, one staff member's credits per calendar day at most, and above what an
    # administrator other than the requester must approve the credit before the money moves.
    "wallet.staff_credit_max": 50_000,
    "wallet.staff_credit_daily_max": 200_000,
    "wallet.staff_credit_approval_above": 20_000,
    # Account recovery (ticketing/services/recovery.py): token lifetimes, and password reset
    # requests per e-mail address and per client address, per hour.
    "auth.verify_email_ttl_seconds": 3 * 24 * 3600,
    "auth.password_reset_ttl_seconds": 3600,
    "ratelimit.password_reset_per_email": 3,
    "ratelimit.password_reset_per_ip": 20,
}

REQUEST_LIMITS = (
    "ratelimit.holds_per_user",
    "ratelimit.holds_per_ip",
    "ratelimit.checkouts_per_user",
    "ratelimit.checkouts_per_ip",
    "ratelimit.transfers_per_user_hour",
    "ratelimit.withdrawals_per_user",
)

MIN_SECRET_LENGTH = 32


class UnsafeConfiguration(RuntimeError):
    """Raised at start-up when a production deployment is misconfigured."""


def normalize_settings(settings, environ=None):
    """Return a copy of ``settings`` with environment overrides applied and types coerced."""
    environ = os.environ if environ is None else environ
    settings = dict(settings)
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            settings[key] = environ[variable]
    for key, default in INT_SETTINGS.items():
        value = settings.get(key)
        settings[key] = default if value in (None, "") else int(value)
    disabled = environ.get("TICKETING_DISABLE_REQUEST_LIMITS", "").lower()
    if disabled in ("1", "true", "yes", "per-ip"):
        # Load tests send everything from one address ("per-ip": the per-user limits stay on,
        # so their cost is measured) and a few hundred users (docs/performance.md).
        for key in REQUEST_LIMITS:
            if disabled != "per-ip" or key.endswith("_per_ip"):
                settings[key] = 0
    settings["ticketing.gc_freeze"] = asbool(settings.get("ticketing.gc_freeze", False))
    settings.setdefault("ticketing.environment", "development")
    settings.setdefault("ticketing.currency", "EUR")
    # The federation's locale for amounts in the admin (Babel); a typo fails at start-up,
    # not on the first page that shows money.
    settings["ticketing.locale"] = str(Locale.parse(settings.get("ticketing.locale") or DEFAULT_LOCALE))
    settings.setdefault("mail.transport", "smtp")
    settings.setdefault("mail.default_sender", "Box office <box-office@localhost>")
    settings["ticketing.production"] = settings["ticketing.environment"] == "production"
    settings["auth.jwt_audience"] = settings.get("auth.jwt_audience") or "ticketing-api"
    settings["auth.jwt_issuer"] = settings.get("auth.jwt_issuer") or "ticketing"
    settings["auth.cookie_secure"] = asbool(
        settings.get("auth.cookie_secure", settings["ticketing.production"])
    )
    check_secrets(settings)
    return settings


def check_secrets(settings):
    """Refuse to run production with missing, short or development secrets."""
    if not settings["ticketing.production"]:
        return
    for key in ("auth.jwt_secret", "auth.session_secret"):
        value = settings.get(key) or ""
        if len(value) < MIN_SECRET_LENGTH or value.startswith("dev-only-"):
            raise UnsafeConfiguration(
                f"{key} must be set to a random secret of at least {MIN_SECRET_LENGTH} "
                "characters in production (see README, 'Production')."
            )
