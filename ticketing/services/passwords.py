"""Password policy and hashing.

bcrypt only reads the first 72 bytes of its input (and bcrypt>=5 refuses longer input), yet the
policy allows 128 characters of any script. So the password is first reduced with SHA-256 and
base64-encoded (44 ASCII bytes) and that is what bcrypt hashes: every character counts, and no
NUL byte can truncate the input. The cost is a setting (tests use the minimum, 4).
"""
import base64
import hashlib
import hmac

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 128

# The most common leaked passwords that still pass a length check; a short list by design
# (NIST SP 800-63B asks for a blocklist, not composition rules).
COMMON_PASSWORDS = frozenset(
    """
    12345678 123456789 1234567890 password password1 password123 passw0rd qwerty123 qwertyuiop
    11111111 00000000 abcd1234 iloveyou sunshine princess football baseball welcome1 welcome123
    admin123 administrator letmein1 trustno1 superman starwars whatever dragon123 monkey123
    1q2w3e4r 1qaz2wsx zaq12wsx qazwsxedc asdfghjkl 987654321 87654321 12341234 11223344
    volleyball volleyball1 changeme changeme123 secret123 computer internet michael1 jennifer
    shadow123 master123 football1 liverpool chelsea1 arsenal1 pokemon123 password12 qwerty12
    """.split()
)


def _prehash(password):
    digest = hashlib.sha256(password.encode("utf-8")).digest()
    return base64.b64encode(digest)


def hash_password(password, rounds=12):
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password, password_hash):
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


_dummy_hashes = {}


def burn_verification_time(password, rounds=12):
    """Spend as long as a real check, so "no such e-mail" cannot be told apart by timing."""
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("not-a-real-password", rounds)
    verify_password(password, _dummy_hashes[rounds])


def password_problems(password, email=""):
    """Return the reasons ``password`` is not acceptable (empty when it is fine)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    lowered = password.strip().lower()
    email = (email or "").strip().lower()
    if email and (lowered == email or lowered == email.split("@")[0]):
        problems.append("must not be your e-mail address")
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        problems.append("is too common; choose a less guessable password")
    return problems


def constant_time_equal(a, b):
    return hmac.compare_digest(a, b)
