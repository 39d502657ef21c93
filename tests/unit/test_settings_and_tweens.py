"""Start-up checks: production secrets, environment overrides, and the tween order."""
import pytest
from pyramid.interfaces import ITweens

import ticketing
from ticketing.settings import UnsafeConfiguration, normalize_settings


def test_database_url_environment_overrides_ini():
    settings = normalize_settings({"sqlalchemy.url": "postgresql://ini/db"}, environ={"DATABASE_URL": "postgresql://env/db"})
    assert settings["sqlalchemy.url"] == "postgresql://env/db"


@pytest.mark.parametrize("secret", ["", "short", "dev-only-jwt-secret-change-me-0123456789abcdef"])
def test_production_refuses_default_or_weak_secrets(secret):
    with pytest.raises(UnsafeConfiguration):
        normalize_settings(
            {"ticketing.environment": "production", "auth.jwt_secret": secret, "auth.session_secret": "s" * 40},
            environ={},
        )


def test_production_accepts_real_secrets_and_secures_cookies():
    settings = normalize_settings(
        {"ticketing.environment": "production"},
        environ={"TICKETING_JWT_SECRET": "j" * 40, "TICKETING_SESSION_SECRET": "s" * 40},
    )
    assert settings["auth.cookie_secure"] is True


def test_transaction_tween_wraps_response_validation(wsgi_app):
    """pyramid_tm must be outside pyramid_openapi3's response tween (closer to ingress),
    so a response that breaks the contract aborts the transaction instead of committing."""
    names = [name for name, _ in wsgi_app.registry.queryUtility(ITweens).explicit]
    assert names.index("pyramid_tm.tm_tween_factory") < names.index("pyramid_openapi3.tween.response_tween_factory")
    assert names[0] == "ticketing.request_log.request_id_tween_factory"
    assert names.index("ticketing.input_guard.input_guard_tween_factory") < names.index("pyramid_tm.tm_tween_factory")


def test_contract_violation_aborts_the_transaction(testapp, engine, monkeypatch):
    """A view that writes and then returns a body the spec forbids: 500, and nothing stored."""
    from sqlalchemy import text

    from ticketing.views.api import auth

    real_user_json = auth.user_json
    monkeypatch.setattr(auth, "user_json", lambda user: {**real_user_json(user), "role": "superuser"})
    response = testapp.post_json(
        "/api/v1/auth/signup", {"email": "contract@example.com", "password": "pitch-side-42", "full_name": "C"}, status=500
    )
    assert response.content_type == "application/problem+json"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_views_without_permission_are_denied_by_default():
    assert ticketing.DENY_BY_DEFAULT.startswith("__")


def test_request_limits_can_be_switched_off_for_load_tests():
    settings = normalize_settings({"ratelimit.holds_per_user": "5"}, environ={"TICKETING_DISABLE_REQUEST_LIMITS": "1"})
    assert settings["ratelimit.holds_per_user"] == 0 and settings["ratelimit.checkouts_per_ip"] == 0
    assert normalize_settings({}, environ={})["ratelimit.holds_per_user"] == 30


def _production_ini_settings(environ):
    import plaster

    from tests.database import ROOT

    loader = plaster.get_loader(str(ROOT / "production.ini"), protocols=["wsgi"])
    secrets = {"TICKETING_JWT_SECRET": "j" * 40, "TICKETING_SESSION_SECRET": "s" * 40}
    return normalize_settings(loader.get_settings("app:main"), environ={**secrets, **environ})


def test_production_never_picks_up_the_development_key(tmp_path):
    """production.ini started in a checkout where development created var/ticket-signing.key
    used to sign tickets with it; now only a key given explicitly is used."""
    from ticketing.services.ticket_codes import MissingSigningKey, generate_key_file, load_signer
    from tests.database import ROOT

    development_key = ROOT / "var" / "ticket-signing.key"
    created = not development_key.exists()
    if created:  # as `make run` leaves it
        development_key.parent.mkdir(exist_ok=True)
        generate_key_file(str(development_key))
    try:
        with pytest.raises(MissingSigningKey, match="TICKETING_TICKET_SIGNING_KEY"):
            load_signer(_production_ini_settings({}))
        given = tmp_path / "production-ticket.key"
        generate_key_file(str(given))
        signer = load_signer(_production_ini_settings({"TICKETING_TICKET_SIGNING_KEY_FILE": str(given)}))
        development = load_signer({"tickets.signing_key_file": str(development_key)})
        assert signer.public_key_raw() != development.public_key_raw()
    finally:
        if created:
            development_key.unlink()
