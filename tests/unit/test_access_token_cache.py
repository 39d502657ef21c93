"""Verified access tokens are remembered per process (tokens.VerifiedAccessTokens): the
signature is checked once per token, the time claims on every use."""
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
    token = tokens.issue_access_token(config, FAN)
    first = tokens.decode_access_token(config, token)
    again = tokens.decode_access_token(config, token)
    assert first["sub"] == "42" and again == first
    assert len(calls) == 1


def test_a_remembered_token_still_expires_and_is_not_valid_before_its_time():
    config = tokens.TokenSettings(SETTINGS)
    issued = tokens.utcnow()
    token = tokens.issue_access_token(config, FAN, now=issued)
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
    expired = tokens.issue_access_token(config, FAN, now=tokens.utcnow() - timedelta(hours=1))
    assert tokens.decode_access_token(config, expired) is None
    assert len(config.verified) == 0
    token = tokens.issue_access_token(config, FAN)
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


def test_the_checked_key_verifies_only_hs256_tokens_signed_with_the_apps_secret():
    """tokens.verification_key: PyJWT's key checks run once, at start-up; verification is
    unchanged: another secret, another HMAC algorithm or no algorithm are all refused."""
    import jwt
    import pytest

    config = tokens.TokenSettings(SETTINGS)
    good = tokens.issue_access_token(config, FAN)
    claims = jwt.decode(good, options={"verify_signature": False})
    assert tokens.decode_access_token(config, good)["sub"] == "42"
    forged = [
        jwt.encode(claims, "t" * 64, algorithm="HS256"),  # another secret
        jwt.encode(claims, SETTINGS["auth.jwt_secret"], algorithm="HS384"),  # the secret, another algorithm
        jwt.encode(claims, None, algorithm="none"),
    ]
    for token in forged:
        assert tokens.decode_access_token(tokens.TokenSettings(SETTINGS), token) is None
    checked = config.verification_key.Algorithm
    secret = SETTINGS["auth.jwt_secret"].encode()
    assert checked.prepare_key(secret) is checked.prepare_key(secret)  # checked once, then reused
    with pytest.raises(jwt.InvalidKeyError):  # the checks PyJWT makes still refuse a bad secret
        tokens.verification_key("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----")
    with pytest.raises(jwt.InvalidKeyError):
        checked.prepare_key(b"")  # a key other than the app's goes through PyJWT's own checks
