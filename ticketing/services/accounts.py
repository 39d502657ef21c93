"""Sign-up, log-in, role changes, and the admin's account tools (disable, staff accounts).

E-mail addresses are normalised (trimmed, lower-cased) before they are stored or looked up,
and the database's unique index on ``lower(email)`` is the final word on duplicates, so two
concurrent sign-ups with the same address in different cases cannot both succeed.

A fan's sign-up (``register``) does not tell anyone which addresses have an account: a
sign-up with an address already registered answers as a new one would (an account-shaped
answer whose id comes from the same sequence) and mails that address "you already have an
account" instead of the verification link (decision 0056).
"""
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ticketing.models import RefreshToken, User
from ticketing.models.user import ROLES, STAFF_ROLES
from ticketing.problems import Conflict, Unauthorized, ValidationFailed, field_error
from ticketing.services import keyset, mail, passwords, recovery
from ticketing.services.stadiums import escape_like

# Deliberately permissive (RFC 5322 allows a lot); the real check is the confirmation mail a
# production deployment would send.
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalize_email(email):
    return (email or "").strip().lower()


def signup_field_errors(body):
    """Every rule a signup's fields break, beyond their JSON types: also run on a body that
    failed the schema, so the answer lists every bad field at once (views/api/field_checks.py).
    Fields of the wrong type are left to the schema's errors."""
    errors = []
    email, password, full_name = (body.get(key) for key in ("email", "password", "full_name"))
    if isinstance(email, str):
        email = normalize_email(email)
        if not EMAIL_PATTERN.match(email) or len(email) > 254:
            errors.append(field_error("email", "must be a valid e-mail address", "invalid_email"))
    if isinstance(password, str):
        for reason in passwords.password_problems(password, email if isinstance(email, str) else ""):
            errors.append(field_error("password", reason, "weak_password"))
    if isinstance(full_name, str) and not full_name.strip():
        errors.append(field_error("full_name", "must not be empty", "required"))
    return errors


def signup(dbsession, email, password, full_name, bcrypt_rounds=12, role="customer", locale="en"):
    """Create an account. Role escalation is impossible: callers pass no role from input."""
    errors = signup_field_errors({"email": email, "password": password, "full_name": full_name})
    if role not in ROLES:
        errors.append(field_error("role", f"must be one of {', '.join(ROLES)}", "invalid_choice"))
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors=errors)
    email = normalize_email(email)
    full_name = full_name.strip()

    password_hash = passwords.hash_password(password, bcrypt_rounds)
    # A savepoint lets us turn the unique violation into a 409 without losing the transaction.
    try:
        with dbsession.begin_nested():
            user_id = dbsession.execute(
                insert(User)
                .values(email=email, full_name=full_name, password_hash=password_hash, role=role,
                        locale=locale if locale in ("en", "sl") else "en")
                .returning(User.id)
            ).scalar_one()
    except IntegrityError as exc:
        if "uq_users_email_lower" in str(exc.orig):
            raise Conflict(
                "An account with this e-mail address already exists.",
                errors=[field_error("email", "is already registered", "duplicate")],
            ) from None
        raise
    return dbsession.get(User, user_id)


@dataclass(frozen=True)
class SignupAnswer:
    """What a sign-up answers with: the new account, or a stand-in of the same shape."""

    id: int
    email: str
    full_name: str
    created_at: datetime
    role: str = "customer"
    email_verified: bool = False


class AlreadyRegistered(Exception):
    """``signup`` found the address taken (the savepoint was rolled back)."""


def register(dbsession, email, password, full_name, *, bcrypt_rounds=12, locale="en", verify_ttl_seconds=3 * 86400):
    """A fan signs up: a new account and its verification mail, or, for an address that has an
    account already, a mail to that address and an answer that looks the same (no
    enumeration; decision 0056). Both paths hash the password first, so they take as long."""
    try:
        user = signup(dbsession, email, password, full_name, bcrypt_rounds=bcrypt_rounds, locale=locale)
    except Conflict:
        existing = find_by_email(dbsession, email)
        if existing is not None and existing.is_active and existing.deleted_at is None:
            # At most one such mail an hour: repeated sign-ups must not flood the owner.
            hour = dbsession.execute(text("SELECT to_char(now(), 'YYYYMMDDHH24')")).scalar_one()
            mail.enqueue(dbsession, "account_exists", existing.email, existing.locale,
                         {"full_name": existing.full_name}, user_id=existing.id,
                         dedupe_key=f"account-exists:{existing.id}:{hour}")
        # An id from the accounts' own sequence, as a new account would get.
        stand_in_id, now = dbsession.execute(
            text("SELECT nextval(pg_get_serial_sequence('users', 'id')), now()")).one()
        return SignupAnswer(id=stand_in_id, email=normalize_email(email), full_name=full_name.strip(),
                            created_at=now)
    recovery.send_verification(dbsession, user, verify_ttl_seconds)
    return SignupAnswer(id=user.id, email=user.email, full_name=user.full_name, created_at=user.created_at,
                        role=user.role)


def find_by_email(dbsession, email):
    return dbsession.execute(
        select(User).where(func.lower(User.email) == normalize_email(email))
    ).scalar_one_or_none()


def authenticate(dbsession, email, password, bcrypt_rounds=12):
    """Return the user for valid credentials; the same error whatever was wrong."""
    user = find_by_email(dbsession, email)
    if user is None:
        passwords.burn_verification_time(password, bcrypt_rounds)
    elif passwords.verify_password(password, user.password_hash) and user.is_active:
        return user
    raise Unauthorized("The e-mail address or the password is not correct.")


def set_role(dbsession, user, role):
    if role not in ROLES:
        raise ValidationFailed(
            "Unknown role.", errors=[field_error("role", f"must be one of {', '.join(ROLES)}")]
        )
    if user.role != role:
        user.role = role
        # Every admin session opened under the old role ends, even if the role comes back.
        user.session_generation = User.session_generation + 1
    dbsession.flush()
    return user


def set_active(dbsession, user, active):
    """Disable or enable an account. Returns True when it changed.

    Disabling ends everything the account holds, at once: the identity check reads
    ``is_active`` on every request (security.py), every refresh token is revoked, and the
    session generation moves on, so enabling the account again does not bring old access
    tokens or admin sessions back to life: the person logs in afresh."""
    if user.is_active == bool(active):
        return False
    user.is_active = bool(active)
    user.session_generation = User.session_generation + 1
    dbsession.execute(
        update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    dbsession.flush()
    dbsession.refresh(user)
    return True


def create_staff(dbsession, email, full_name, password, role, bcrypt_rounds=12):
    """An administrator opens a staff or admin account (the sign-up form only makes fans)."""
    if role not in STAFF_ROLES:
        raise ValidationFailed("Some fields are not valid.",
                               errors=[field_error("role", "must be staff or admin", "invalid_choice")])
    return signup(dbsession, email, password, full_name, bcrypt_rounds=bcrypt_rounds, role=role)


#: The shortest "contains" search: a trigram index needs three characters to narrow anything.
MIN_CONTAINS = 3


def _user_search(q, role):
    query = select(User)
    if q and q.strip():
        # ILIKE '%...%' on each column: answered by its trigram index (migration 0009).
        pattern = f"%{escape_like(q.strip())}%"
        query = query.where(User.email.ilike(pattern, escape="\\") | User.full_name.ilike(pattern, escape="\\"))
    if role:
        query = query.where(User.role == role)
    return query


def search_users(dbsession, *, size, q=None, role=None, after=None, before=None, newest_first=True):
    """The staff's user search as one keyset page: one query per page, no count of all
    matching users (services/keyset.py)."""
    return keyset.fetch(dbsession, _user_search(q, role), User.id, size=size, after=after, before=before,
                        descending=newest_first)


def users_by_id(dbsession, user_ids):
    """{id: user} for a page of rows that name users (orders, audit entries), in one query."""
    if not user_ids:
        return {}
    return {user.id: user for user in dbsession.execute(select(User).where(User.id.in_(set(user_ids)))).scalars()}
