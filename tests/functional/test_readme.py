"""Every shell block of the README runs as pasted, on a fresh ``make run``, twice.

The test does what ``make run`` does, in a directory of its own standing for the checkout:
development.ini (its ``var/`` there), a fresh database migrated with alembic, the demo data
and the demo admin, then the mail sender (writing ``var/mail/``, where the README's fan finds
the link that confirms their address) beside ``pserve development.ini http_port=<port>``. It
then runs every ``sh`` block of README.md, in order, in one bash session with ``set -euo
pipefail``, twice over: the documentation cannot drift from the product, and a reader can
paste it again.

The blocks of nothing but ``make`` commands (``make run``, ``make test``, ``make bench``) are
the set-up this test stands in for, CI's own command and the benchmark: they are checked to
be exactly those, not run.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .. import database
from ..hardening.throwaway_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SET_UP_BLOCKS = {"make run", "make test", "make bench"}


def readme_blocks():
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def is_set_up(block):
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    return all(not line or line.startswith("make ") for line in commands)


def test_the_set_up_blocks_are_only_make_commands():
    set_up = [block for block in readme_blocks() if is_set_up(block)]
    found = {line.split("#")[0].strip() for block in set_up for line in block.splitlines()} - {""}
    assert found == SET_UP_BLOCKS
    assert len(readme_blocks()) - len(set_up) >= 2  # the fan's journey and the staff's


@pytest.fixture
def fresh_make_run(tmp_path):
    """A checkout after ``make run``: var/, a migrated database with the demo data, the demo
    admin's password in var/demo-admin-password, and pserve serving development.ini."""
    base = database.server_url()
    url, name = database.create_test_database(base)
    ini = tmp_path / "development.ini"
    text = (ROOT / "development.ini").read_text()
    ini.write_text(text.replace("%(here)s/var", str(tmp_path / "var")).replace("%(here)s", str(ROOT)))
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("TICKETING_DISABLE_REQUEST_LIMITS", None)  # as a fresh make run: every limit on
    log = open(tmp_path / "make-run.log", "wb")
    for step in ([str(BIN / "alembic"), "-c", str(ini), "upgrade", "head"],
                 [str(BIN / "ticketing"), str(ini), "demo-data"],
                 [str(BIN / "ticketing"), str(ini), "demo-admin"]):
        subprocess.run(step, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300)
    port = free_port()
    sender = subprocess.Popen([str(BIN / "ticketing-mail-sender"), str(ini)], cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    server = subprocess.Popen([str(BIN / "pserve"), str(ini), f"http_port={port}"], cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.2)
        yield tmp_path, port
    finally:
        for process in (server, sender):
            process.terminate()
            process.wait(timeout=15)
        log.close()
        database.drop_test_database(base, name)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install -y curl)")
def test_every_readme_block_runs_as_pasted_twice(fresh_make_run):
    checkout, port = fresh_make_run
    script = "\n".join(block for block in readme_blocks() if not is_set_up(block))
    script = script.replace("http://127.0.0.1:6543", f"http://127.0.0.1:{port}")
    for run in (1, 2):
        result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=checkout, capture_output=True,
                                text=True, timeout=180)
        output = result.stdout
        assert result.returncode == 0, f"run {run}:\n{result.stderr}\n{output}"
        # (curl prints bodies without a newline; the status codes it prints end their line.)
        assert re.search(r"304\n", output)  # the seat map's If-None-Match
        assert re.search(r'"status":\s*"cancelled"', output) and re.search(r'"kind":\s*"refund"', output)
        admitted = re.search(r'"result":\s*"admitted"', output)
        assert admitted and "already-admitted" in output[admitted.end():]
        assert re.search(r"204\n401\n", output)  # logged out, and the access token ended with it
        report = re.search(r'"totals":\s*\{[^}]*\}', output).group(0)
        assert re.search(r'"blocked":\s*4', report) and re.search(r'"total":\s*42', report)
        # The waiting room: refused without an admission, then joined, admitted and paid.
        assert "urn:ticketing:problem:waiting-room" in output
        assert re.search(r'"state":\s*"open"', output) and re.search(r'"bought":\s*1', output)
        # After buying: one ticket cancelled alone, the other given to a friend, money out,
        # and the PDF ticket saved.
        assert re.search(r'"refunded":\s*2500', output) and re.search(r'"order_cancelled":\s*false', output)
        # Money out and a ticket given away wait for the confirmed address, then go through.
        assert "urn:ticketing:problem:email-not-verified" in output
        assert re.search(r'"email_verified":\s*true', output)
        assert re.search(r'"full_name":\s*"Maja Kova', output)
        assert re.search(r'"kind":\s*"withdrawal"', output) and re.search(r'"reference":\s*"PO-\d+"', output)
        assert (checkout / "ticket.pdf").read_bytes().startswith(b"%PDF-")
