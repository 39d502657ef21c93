"""The port is chosen at start (``make run PORT=…``, ``pserve <ini> http_port=…``), and a port
that is already taken is one clear line, not a traceback."""
import os
import socket
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_make_run_passes_its_port_to_pserve():
    dry = subprocess.run(["make", "-n", "run", "PORT=6601"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pserve development.ini http_port=6601" in dry.stdout
    default = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pserve development.ini http_port=6543" in default.stdout


def test_a_taken_port_is_one_clear_line(tmp_path, database_url):
    ini = tmp_path / "development.ini"
    text = (ROOT / "development.ini").read_text()
    ini.write_text(text.replace("%(here)s/var", str(tmp_path / "var")).replace("%(here)s", str(ROOT)))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        started = subprocess.run([str(BIN / "pserve"), str(ini), f"http_port={port}"], cwd=tmp_path,
                                 env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True,
                                 timeout=120)
    assert started.returncode != 0
    assert "Traceback" not in started.stderr, started.stderr
    assert f"ticketing: port {port} is already in use" in started.stderr
    assert [line for line in started.stderr.splitlines() if "already in use" in line] == [
        f"ticketing: port {port} is already in use; stop what serves it, or choose another: "
        "pserve <ini> http_port=NNNN (make run PORT=NNNN)"]
