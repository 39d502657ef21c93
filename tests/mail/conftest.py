"""A real SMTP server (aiosmtpd) in the test run, and the sender that delivers to it.

Mail is asserted as it arrives at the server: ``inbox.messages`` are the parsed messages the
server accepted, in order. ``deliver()`` runs one round of the production sender
(ticketing/services/mail.py) against it.
"""
import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller

from ticketing.models import get_session_factory
from ticketing.scripts.mail_sender import composers
from ticketing.services import mail

SENDER = "Box office <box-office@example.com>"


class Inbox:
    """The aiosmtpd handler: keeps every message the server accepted."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def clear(self):
        with self.lock:
            self.messages.clear()

    def to(self, address):
        return [m for m in self.messages if m["To"] == address]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def inbox(smtp_server):
    smtp_server.handler.clear()
    return smtp_server.handler


@pytest.fixture
def smtp_transport(smtp_server):
    return mail.transport_from_settings({"mail.host": "127.0.0.1", "mail.port": str(smtp_server.port)})


@pytest.fixture
def session_factory(engine):
    return get_session_factory(engine)


@pytest.fixture
def deliver(session_factory, smtp_transport, inbox, settings):
    """One round of the sender; returns the messages that arrived in it."""
    composed = composers(settings)

    def run(now=None, transport=None):
        before = len(inbox.messages)
        mail.drain(session_factory, transport or smtp_transport, SENDER, now=now, composers=composed)
        return inbox.messages[before:]

    return run


def text_part(message):
    return message.get_body(("plain",)).get_content()


def html_part(message):
    return message.get_body(("html",)).get_content()
