"""A client generated from the served document drives the fan journey, type-checked strictly.

What a mobile or web team does first with our OpenAPI document: generate a client
(``openapi-python-client``, maintained, used by many API vendors), write a few lines against
it and run them. Here that happens at test time from the document the app serves, so the
contract cannot drift from what generators make of it:

- the generator keeps every operation and every response (it silently drops what it cannot
  type, as it once did the QR image);
- a small consumer (fan_journey.py) passes ``mypy --strict``; a control generates from a
  weakened document (a page whose ``items`` is not required) and shows the same check fails;
- the consumer buys two seats from a live ``pserve``d app that validates every answer against
  the document, as development does.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from ..hardening.throwaway_cluster import free_port
from ..live_server import seed_sale, start_app

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def served_document(wsgi_app):
    import webtest

    return webtest.TestApp(wsgi_app).get("/api/v1/openapi.json").json


def generate(document, directory):
    """Run the generator on ``document``; return its output directory and its warnings."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "openapi.json"
    spec.write_text(json.dumps(document))
    # The generator formats its output with ruff, installed beside it (the testing extra).
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(directory / "ticketing_client"), "--overwrite"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return directory, (result.stdout + result.stderr)


def type_check(client_directory, cache):
    """``mypy --strict`` on the consumer, with the generated package importable."""
    env = {**os.environ, "MYPYPATH": str(client_directory)}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini"), "--cache-dir", str(cache),
         "--no-error-summary", str(HERE / "fan_journey.py")],
        capture_output=True, text=True, env=env, cwd=client_directory, timeout=300,
    )


@pytest.fixture(scope="module")
def document(wsgi_app):
    return served_document(wsgi_app)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory):
    """One cache for both type checks: the control re-checks only what differs."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(scope="module")
def generated(document, tmp_path_factory):
    return generate(document, tmp_path_factory.mktemp("client"))


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_generator_keeps_every_operation_and_response(document, generated):
    directory, output = generated
    assert "Warning" not in output and "WARNING" not in output, output
    modules = {path.stem for path in (directory / "ticketing_client" / "api").glob("*/*.py")}
    operations = {op["operationId"] for item in document["paths"].values() for key, op in item.items()
                  if key != "parameters"}
    assert {snake(op) for op in operations} <= modules
    # The QR image is typed (a File), not dropped.
    qr = (directory / "ticketing_client" / "api" / "tickets" / "get_ticket_qr.py").read_text()
    assert "Response[File | Problem]" in qr


def test_the_fan_journey_type_checks_strictly(generated, mypy_cache):
    directory, _ = generated
    result = type_check(directory, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_control_a_page_whose_items_are_optional_fails_the_type_check(document, tmp_path, mypy_cache):
    """Shows the type check bites: with ``items`` optional in the match page (as it was before
    issue 28), the same consumer no longer type-checks."""
    weakened = json.loads(json.dumps(document))
    page = weakened["components"]["schemas"]["MatchPage"]["allOf"][1]
    page["required"] = []
    directory, _ = generate(weakened, tmp_path / "weakened")
    result = type_check(directory, mypy_cache)
    assert result.returncode != 0
    assert "Unset" in result.stdout, result.stdout


@pytest.fixture
def live_app(database_url, tmp_path, clean_db):
    app, settings = start_app(database_url, tmp_path, free_port(), validate_responses=True)
    try:
        yield app, settings
    finally:
        app.stop()


def test_the_fan_journey_runs_against_the_live_app(generated, live_app, engine, monkeypatch):
    directory, _ = generated
    app, settings = live_app
    seed_sale(engine, settings, app.url, seats=40, buyers=1, name="journey-a")
    match_id, _ = seed_sale(engine, settings, app.url, seats=40, buyers=1, name="journey-b")
    monkeypatch.syspath_prepend(str(directory))
    from . import fan_journey

    journey = fan_journey.run(app.url("/api/v1"), match_id, page_size=1)

    assert journey.pages_followed >= 1  # the absolute `next` URL was followed as it is
    assert {m.id for m in journey.matches_seen} >= {match_id}
    assert journey.not_modified_status == 304
    assert len(journey.tickets) == 2 and all(t.status.value == "valid" for t in journey.tickets)
    assert b"<svg" in journey.qr_svg
    with engine.connect() as conn:
        sold = conn.execute(text("SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id "
                                 "WHERE o.id = :o AND t.status = 'valid'"), {"o": journey.order.id}).scalar_one()
        balance = conn.execute(text("SELECT balance FROM wallets WHERE user_id = :u"),
                               {"u": journey.user.id}).scalar_one()
    assert sold == 2 and balance == 0
    # Every answer was validated against the document: a broken one would be logged here.
    assert "broke the API contract" not in Path(app.log_path).read_text()
