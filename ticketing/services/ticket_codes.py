"""Ticket codes that cannot be forged: Ed25519 signatures over the ticket's identity.

A code is ``T1.`` + base64url(payload || signature) where the payload packs the code format,
ticket id, match id, seat id and the ticket's code version (27 bytes) and the signature is 64
bytes: about 125 characters, small enough for a dense-free QR code. Gate devices can verify a
code offline with only the public key (served at ``/api/v1/tickets/public-key``); the server
additionally checks the ticket is still valid (a voided ticket's signature stays valid
forever, so the database has the last word).

Ed25519 signatures are deterministic, so codes are computed on read and never stored.
"""
import base64
import binascii
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "T1."
FORMAT = 1
_PAYLOAD = struct.Struct(">BQQQH")
SIGNATURE_LENGTH = 64


class MissingSigningKey(RuntimeError):
    """Production must be given its ticket-signing key; it never invents one."""


@dataclass(frozen=True)
class TicketClaims:
    ticket_id: int
    match_id: int
    seat_id: int
    version: int


class InvalidCode(ValueError):
    """The code is malformed or its signature does not verify (the reason stays internal)."""


def _b64encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TicketSigner:
    def __init__(self, private_key):
        self.private_key = private_key
        self.public_key = private_key.public_key()

    @classmethod
    def from_raw(cls, raw_private):
        return cls(Ed25519PrivateKey.from_private_bytes(raw_private))

    def public_key_raw(self):
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_key_pem(self):
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, ticket_id, match_id, seat_id, version):
        payload = _PAYLOAD.pack(FORMAT, ticket_id, match_id, seat_id, version)
        return PREFIX + _b64encode(payload + self.private_key.sign(payload))


def verify(public_key: Ed25519PublicKey, code):
    """Return the claims of a genuine code; raise :class:`InvalidCode` otherwise."""
    if not isinstance(code, str) or not code.startswith(PREFIX) or len(code) > 200:
        raise InvalidCode("not a ticket code")
    try:
        raw = _b64decode(code[len(PREFIX):])
    except (binascii.Error, ValueError):
        raise InvalidCode("not base64") from None
    if len(raw) != _PAYLOAD.size + SIGNATURE_LENGTH:
        raise InvalidCode("wrong length")
    payload, signature = raw[: _PAYLOAD.size], raw[_PAYLOAD.size:]
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        raise InvalidCode("bad signature") from None
    code_format, ticket_id, match_id, seat_id, version = _PAYLOAD.unpack(payload)
    if code_format != FORMAT:
        raise InvalidCode("unknown format")
    return TicketClaims(ticket_id, match_id, seat_id, version)


def generate_key_file(path):
    """Write a new raw Ed25519 private key (base64) readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as key_file:
        key_file.write(base64.b64encode(raw).decode("ascii") + "\n")
    return path


def load_signer(settings):
    """The signer from ``tickets.signing_key`` (base64) or ``tickets.signing_key_file``.

    Development generates a key file on first start; production refuses to start without one.
    """
    encoded = (settings.get("tickets.signing_key") or "").strip()
    key_file = (settings.get("tickets.signing_key_file") or "").strip()
    if not encoded and key_file:
        if not Path(key_file).exists():
            if settings.get("ticketing.production"):
                raise MissingSigningKey(f"ticket signing key file {key_file} is missing")
            generate_key_file(key_file)
        encoded = Path(key_file).read_text().strip()
    if not encoded:
        if settings.get("ticketing.production"):
            raise MissingSigningKey("set tickets.signing_key_file or TICKETING_TICKET_SIGNING_KEY")
        raise MissingSigningKey("no ticket signing key configured (tickets.signing_key_file)")
    raw = base64.b64decode(encoded)
    if len(raw) != 32:
        raise MissingSigningKey("the ticket signing key must be 32 raw bytes, base64-encoded")
    return TicketSigner.from_raw(raw)
