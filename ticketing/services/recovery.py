"""E-mail verification and password reset by e-mail.

A token is 256 random bits, mailed once and stored only as its SHA-256, for one purpose and
one address, with an expiry. Using it is a conditional UPDATE (``used_at IS NULL AND
expires_at > now()``) on the locked row, so two requests presenting the same token cannot
both succeed. A reset:

- answers the same whether or not the address has an account (the view says "if an account
  has this address, we sent it a link"), so nobody learns which addresses are registered;
- ends every session and token of the account: every refresh token is revoked (and with its
  family, every access token issued with it, security.py), and the session generation moves
  on, which refuses every access token and admin session issued before;
- also kills the account's other reset links, and verifies the address (the link proved it).

Requests are limited per address and per client address (the views count them); what an
unverified account may do is decision 0056.
"""
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import text

from ticketing.models import AccountToken, User
from ticketing.problems import Forbidden, ValidationFailed, field_error
from ticketing.services import mail, passwords
from ticketing.services.tokens import utcnow

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).digest()


def issue_token(dbsession, user, purpose, ttl_seconds):
    token = secrets.token_urlsafe(32)
    dbsession.add(AccountToken(user_id=user.id, purpose=purpose, token_hash=token_hash(token), email=user.email,
                               expires_at=utcnow() + timedelta(seconds=ttl_seconds)))
    dbsession.flush()
    return token


def send_verification(dbsession, user, ttl_seconds):
    """Mail ``user`` a link that verifies their current address."""
    token = issue_token(dbsession, user, VERIFY_EMAIL, ttl_seconds)
    mail.enqueue(dbsession, "verify_email", user.email, user.locale,
                 {"full_name": user.full_name, "token": token, "hours": ttl_seconds // 3600}, user_id=user.id)


def _invalid_token():
    return field_error("token", "is not valid: it was used already, has expired or never existed", "invalid_token")


_USE_TOKEN = text("""
    UPDATE account_tokens SET used_at = now()
    WHERE token_hash = :h AND purpose = :p AND used_at IS NULL AND expires_at > now()
    RETURNING user_id, email
""")


def verify_email(dbsession, token):
    """Mark the address the token was sent to as verified; returns the user."""
    used = dbsession.execute(_USE_TOKEN, {"h": token_hash(token or ""), "p": VERIFY_EMAIL}).first()
    user = dbsession.get(User, used.user_id) if used else None
    # The address must still be the account's: a link to an old address verifies nothing.
    if user is None or user.email != used.email or user.deleted_at is not None:
        raise ValidationFailed("The verification link is not valid.", errors=[_invalid_token()])
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    dbsession.flush()
    return user


def request_password_reset(dbsession, user, ttl_seconds):
    """Mail ``user`` a single-use link to set a new password (the fan's form, or staff's
    button). Callers answer the same whether or not there was a user to mail."""
    if user is None or not user.is_active or user.deleted_at is not None:
        return False
    token = issue_token(dbsession, user, RESET_PASSWORD, ttl_seconds)
    mail.enqueue(dbsession, "reset_password", user.email, user.locale,
                 {"full_name": user.full_name, "token": token, "minutes": ttl_seconds // 60}, user_id=user.id)
    return True


def reset_password(dbsession, token, new_password, bcrypt_rounds=12):
    """Set a new password with a reset token, and end every session and token of the account.
    Every bad field at once: the token and the password's problems."""
    row = dbsession.execute(
        text("SELECT t.user_id, t.email, t.used_at IS NULL AND t.expires_at > now() AS usable "
             "FROM account_tokens t WHERE t.token_hash = :h AND t.purpose = :p FOR UPDATE"),
        {"h": token_hash(token or ""), "p": RESET_PASSWORD},
    ).first()
    user = dbsession.get(User, row.user_id) if row is not None and row.usable else None
    usable = user is not None and user.is_active and user.deleted_at is None and user.email == row.email
    errors = [] if usable else [_invalid_token()]
    for reason in passwords.password_problems(new_password or "", user.email if usable else ""):
        errors.append(field_error("password", reason, "weak_password"))
    if errors:
        raise ValidationFailed("The password was not changed.", errors=errors)
    # This link and every other reset link of the account are spent.
    dbsession.execute(text("UPDATE account_tokens SET used_at = now() WHERE user_id = :u AND purpose = :p "
                           "AND used_at IS NULL"), {"u": user.id, "p": RESET_PASSWORD})
    user.password_hash = passwords.hash_password(new_password, bcrypt_rounds)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link reached the mailbox
    end_every_session(dbsession, user)
    return user


def end_every_session(dbsession, user):
    """Revoke every refresh token of ``user`` and refuse every access token and admin
    session issued so far (a password reset, a deleted account)."""
    revoke = text("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL")
    # Again until nothing changes: a refresh in flight may commit a successor meanwhile
    # (the same reasoning as tokens.revoke_family).
    while dbsession.execute(revoke, {"u": user.id}).rowcount:
        pass
    user.session_generation = User.session_generation + 1
    dbsession.flush()
    dbsession.refresh(user, ["session_generation"])


class EmailNotVerified(Forbidden):
    """Its own problem type, so a client can tell "confirm your address" from a missing right
    and offer the fan the way out (a new link) instead of an error."""

    slug, title = "email-not-verified", "Confirm your e-mail address first"


def require_verified_email(user, action):
    """For what decision 0056 keeps from unverified accounts (money or tickets leaving the
    account): a 403 that says what to do. Callers run it before they write anything."""
    if user.email_verified_at is None:
        raise EmailNotVerified(f"Confirm your e-mail address before you {action}: follow the link we mailed you, "
                               "or ask for a new one (POST /api/v1/me/verification-email).")
