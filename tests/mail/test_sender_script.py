"""``ticketing-mail-sender``, the console script ops run, as ops run it: production.ini with
the SMTP relay from the environment, against the real SMTP server of the test run."""
import os
import subprocess
import sys
from pathlib import Path

import transaction

from ticketing.models import get_tm_session
from ticketing.services import mail

from ..conftest import TICKET_KEY

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "ticketing-mail-sender"


def test_the_console_script_sends_through_the_relay_in_the_environment(clean_db, session_factory, smtp_server,
                                                                       inbox, database_url):
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        mail.enqueue(get_tm_session(session_factory, manager), "account_exists", "ops@example.com", "sl",
                     {"full_name": "Ops"})
    env = {**os.environ, "DATABASE_URL": database_url, "TICKETING_JWT_SECRET": "j" * 40,
           "TICKETING_SESSION_SECRET": "s" * 40, "TICKETING_TICKET_SIGNING_KEY": TICKET_KEY,
           "TICKETING_SMTP_HOST": "127.0.0.1", "TICKETING_SMTP_PORT": str(smtp_server.port),
           "TICKETING_MAIL_FROM": "Blagajna <blagajna@example.org>"}
    done = subprocess.run([str(SCRIPT), str(ROOT / "production.ini"), "--once"], env=env, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    [message] = inbox.messages
    assert message["To"] == "ops@example.com" and message["From"] == "Blagajna <blagajna@example.org>"
    assert message["Subject"] == "Račun že imate"
