"""``ticketing-mail-sender``: sends the mail outbox; ops run it as a service.

    ticketing-mail-sender production.ini            # runs until stopped (SIGTERM, Ctrl-C)
    ticketing-mail-sender development.ini --once    # one round, then exit

Each round expands the bulk notices (a batch of ticket holders at a time) and sends every
message that is due (ticketing/services/mail.py). A message the SMTP server refused is
retried later with exponential backoff; while the server is down the sender waits
``--interval`` seconds and tries again. Several senders may run at once: rows are taken
with FOR UPDATE SKIP LOCKED, so none is sent twice by two of them.
"""
import argparse
import functools
import logging
import signal
import sys
import threading

from pyramid.paster import get_appsettings, setup_logging

from ticketing.models import get_engine, get_session_factory
from ticketing.services import mail, notices
from ticketing.services.ticket_codes import load_signer
from ticketing.settings import normalize_settings

log = logging.getLogger("ticketing.mail_sender")


def composers(settings):
    """The messages queued unrendered, and what composes each (services/notices.py)."""
    signer = load_signer(settings)
    return {"order_receipt": functools.partial(notices.compose_receipt, signer=signer)}


def build(config_uri):
    """The session factory, transport, sender address and composers of a deployment."""
    settings = normalize_settings(get_appsettings(config_uri))
    mail.configure(settings)
    engine = get_engine(settings)
    return (get_session_factory(engine), mail.transport_from_settings(settings), settings["mail.default_sender"],
            composers(settings))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ticketing-mail-sender", description=__doc__.splitlines()[0])
    parser.add_argument("config_uri", help="the deployment's ini file")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds (default 5)")
    args = parser.parse_args(argv)
    setup_logging(args.config_uri)
    session_factory, transport, sender, composed = build(args.config_uri)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        try:
            report = mail.drain(session_factory, transport, sender, composers=composed)
        except Exception:  # the database away for a moment: try again next round
            log.exception("mail round failed")
        else:
            if report.sent or report.deferred or report.failed:
                log.info("mail: %d sent, %d deferred, %d given up%s", report.sent, report.deferred,
                         report.failed, " (SMTP server down)" if report.server_down else "")
        if args.once:
            break
        stop.wait(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
