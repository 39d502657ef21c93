"""A password reset link works once, even when it is used many times at the same instant.

Twenty threads present the same reset token, each with its own new password. The service
locks the token's row and spends it in the same transaction, so exactly one of them sets a
password and the rest are told the link is not valid. The control does what a naive reset
would (check the token, then spend it) and lets several of them through.
"""
import time

import transaction
from sqlalchemy import text

from ticketing.models import User, get_session_factory, get_tm_session
from ticketing.problems import ValidationFailed
from ticketing.services import passwords, recovery

from .conftest import race

THREADS = 20


def _fan_with_reset_token(engine):
    session_factory = get_session_factory(engine)
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(session_factory, manager)
        user = User(email="racer@example.com", full_name="Racer", password_hash=passwords.hash_password("x" * 12, 4))
        session.add(user)
        session.flush()
        token = recovery.issue_token(session, user, recovery.RESET_PASSWORD, 3600)
        user_id = user.id
    return session_factory, user_id, token


def _guarded_reset(session_factory, token, password):
    manager = transaction.TransactionManager(explicit=True)
    try:
        with manager:
            recovery.reset_password(get_tm_session(session_factory, manager), token, password, bcrypt_rounds=4)
        return password
    except ValidationFailed:
        return None


def _naive_reset(engine, token, password):
    """Validate, then book: the bug this test guards against."""
    with engine.begin() as conn:
        row = conn.execute(text("SELECT user_id FROM account_tokens WHERE token_hash = :h AND used_at IS NULL "
                                "AND expires_at > now()"), {"h": recovery.token_hash(token)}).first()
        if row is None:
            return None
        time.sleep(0.02)  # the window between the check and the write
        conn.execute(text("UPDATE account_tokens SET used_at = now() WHERE token_hash = :h"),
                     {"h": recovery.token_hash(token)})
        conn.execute(text("UPDATE users SET password_hash = :p WHERE id = :u"),
                     {"p": passwords.hash_password(password, 4), "u": row.user_id})
        return password


def _stored_hash(engine, user_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT password_hash FROM users WHERE id = :u"), {"u": user_id}).scalar_one()


def test_one_reset_token_sets_one_password_under_a_race(clean_db):
    session_factory, user_id, token = _fan_with_reset_token(clean_db)
    results = race([lambda n=n: _guarded_reset(session_factory, token, f"new-password-{n:02d}")
                    for n in range(THREADS)])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert passwords.verify_password(winners[0], _stored_hash(clean_db, user_id))


def test_control_a_naive_reset_lets_several_through(clean_db):
    _, _, token = _fan_with_reset_token(clean_db)
    results = race([lambda n=n: _naive_reset(clean_db, token, f"new-password-{n:02d}") for n in range(THREADS)])
    assert len([r for r in results if r is not None]) > 1
