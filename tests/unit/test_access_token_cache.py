"""Verified access tokens are remembered per process (tokens.VerifiedAccessTokens): the
signature is checked once per token, the time claims on every use."""
import uuid
from datetime import timedelta
from types import SimpleNamespace

from ticketing.services import tokens

SETTINGS = {
    "auth.jwt_secret": "s" * 64,
    "auth.jwt_audience": "ticketing-api",
    "auth.jwt_issuer": "ticketing",
    "auth.access_token_ttl_seconds": 900,
    "auth.refresh_token_ttl_seconds": 86400,
}
FAN = SimpleNamespace(id=42, role="customer")


def counting_decode(monkeypatch):
    calls = []
    real = tokens.jwt.decode

    def decode(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", decode)
    return calls


def test_a_token_is_verified_once_then_answered_from_memory(monkeypatch):
    config = tokens.TokenSettings(SETTINGS)
    calls = counting_decode(monkeypatch)
    token = tokens.issue_access_token(config, FAN, uuid.uuid4())
    first = tokens.decode_access_token(config, token)
    again = tokens.decode_access_token(config, token)
    assert first["sub"] == "42" and again == first
    assert len(calls) == 1


def test_a_remembered_token_still_expires_and_is_not_valid_before_its_time():
    config = tokens.TokenSettings(SETTINGS)
    issued = tokens.utcnow()
    token = tokens.issue_access_token(config, FAN, uuid.uuid4(), now=issued)
    assert tokens.decode_access_token(config, token) is not None
    expires = int(issued.timestamp()) + 900  # JWT times are whole seconds
    assert tokens.decode_access_token(config, token, now=expires + tokens.LEEWAY_SECONDS - 1) is not None
    assert tokens.decode_access_token(config, token, now=expires + tokens.LEEWAY_SECONDS) is None
    assert len(config.verified) == 0  # forgotten once expired
    # Not yet valid (a clock far behind the issuer's), though verified a moment ago.
    assert tokens.decode_access_token(config, token) is not None
    assert tokens.decode_access_token(config, token, now=issued.timestamp() - tokens.LEEWAY_SECONDS - 1) is None


def test_only_valid_tokens_are_remembered_and_a_changed_byte_is_verified_afresh(monkeypatch):
    config = tokens.TokenSettings(SETTINGS)
    expired = tokens.issue_access_token(config, FAN, uuid.uuid4(), now=tokens.utcnow() - timedelta(hours=1))
    assert tokens.decode_access_token(config, expired) is None
    assert len(config.verified) == 0
    token = tokens.issue_access_token(config, FAN, uuid.uuid4())
    assert tokens.decode_access_token(config, token) is not None
    header, payload, signature = token.split(".")
    tampered = ".".join((header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))
    assert tokens.decode_access_token(config, tampered) is None
    other_secret = tokens.TokenSettings({**SETTINGS, "auth.jwt_secret": "t" * 64})
    assert tokens.decode_access_token(other_secret, token) is None  # each app its own memory


def test_memory_is_bounded_oldest_first():
    verified = tokens.VerifiedAccessTokens(max_entries=3)
    claims = {"nbf": 0, "iat": 0, "exp": 10**10}
    for name in "abcd":
        verified.add(name, claims)
    assert len(verified) == 3
    assert verified.get("a", 1) is None and verified.get("d", 1) is claims
