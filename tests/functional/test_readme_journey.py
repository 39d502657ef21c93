"""The README's curl journey, run verbatim against a live server.

The block under "A fan's journey with curl" is extracted from README.md and executed with
bash and curl, so the documentation cannot drift from the product: it must end with a staff
check-in (200) and a refused second scan (409).
"""
import base64
import re
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ..conftest import make_user
from ..live_server import INI, ROOT, App
from .catalogue_helpers import published_match


def _journey_script():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A fan's journey with curl", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return block


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_fan_journey_runs_verbatim(tmp_path, database_url, testapp, engine):
    from ..hardening.throwaway_cluster import free_port

    # The demo admin the README logs in as, and a match on sale.
    admin = make_user(testapp, engine, "admin", email="admin@example.com")
    published_match(admin, prices=(6000,))
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo-admin-password").write_text(admin.user["password"] + "\n")

    port = free_port()
    key = base64.b64encode(Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()
    ini = tmp_path / "readme.ini"
    ini.write_text(INI.format(url=database_url, root=ROOT, jwt="j" * 48, session="s" * 48, ticket_key=key, port=port))
    app = App(ini, port, tmp_path / "app.log")
    app.start()
    try:
        script = _journey_script().replace("http://127.0.0.1:6543", f"http://127.0.0.1:{port}")
        result = subprocess.run(["bash", "-c", "set -eu\n" + script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        app.stop()
    output = result.stdout
    assert result.returncode == 0, result.stderr + output
    # (JSON's whitespace is not part of the contract: the bodies are compact.)
    assert re.search(r'"status":\s*"cancelled"', output) and re.search(r'"kind":\s*"refund"', output)
    admitted = re.search(r'"result":\s*"admitted"', output)
    assert admitted
    assert "already-admitted" in output[admitted.end():]
