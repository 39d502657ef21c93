"""Password policy and hashing."""
from ticketing.services import passwords


def test_hash_and_verify_long_unicode_passwords():
    password = "ñandú-" * 20  # 120 characters, well past bcrypt's 72 bytes
    hashed = passwords.hash_password(password, rounds=4)
    assert passwords.verify_password(password, hashed)
    assert not passwords.verify_password(password[:-1], hashed)
    assert not passwords.verify_password(password[:72], hashed)


def test_policy():
    assert passwords.password_problems("a-good-passphrase", "fan@example.com") == []
    assert passwords.password_problems("fan@example.com", "fan@example.com")
    assert passwords.password_problems("FAN", "fan@example.com")
    assert passwords.password_problems("Password123", "")


def test_garbage_hash_does_not_verify():
    assert not passwords.verify_password("anything-at-all", "not-a-bcrypt-hash")
