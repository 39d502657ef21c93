"""Sign-up, log-in and role changes.

E-mail addresses are normalised (trimmed, lower-cased) before they are stored or looked up,
and the database's unique index on ``lower(email)`` is the final word on duplicates, so two
concurrent sign-ups with the same address in different cases cannot both succeed.
"""
import re

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ticketing.models import User
from ticketing.models.user import ROLES
from ticketing.problems import Conflict, Unauthorized, ValidationFailed, field_error
from ticketing.services import keyset, passwords
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


def signup(dbsession, email, password, full_name, bcrypt_rounds=12, role="customer"):
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
                .values(email=email, full_name=full_name, password_hash=password_hash, role=role)
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
