"""The embedded cluster (no DATABASE_URL, no server on 5432) starts quietly and privately.

It trusts every local connection, so its socket directory is its user's alone (0700), and
its runtime directory is one pgserver's platformdirs accepts without a warning (0700): a
first ``make run`` used to print an XDG_RUNTIME_DIR warning four times.
"""
import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, stat, sys, warnings
warnings.simplefilter("always")
from ticketing import embedded_postgres
server = embedded_postgres.start(sys.argv[1])
socket_dir = embedded_postgres.socket_dir(server)
runtime = embedded_postgres.Path(sys.argv[1]).parent / "run"
print(json.dumps({"socket_dir": str(socket_dir), "socket_mode": stat.S_IMODE(socket_dir.stat().st_mode),
                  "runtime_mode": stat.S_IMODE(runtime.stat().st_mode),
                  "answers": "(1 row)" in server.psql("SELECT 1;")}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("depth", [0, 6], ids=["socket in pgdata", "path too long: socket in the runtime dir"])
def test_the_embedded_cluster_is_private_and_quiet(tmp_path, depth):
    # A unix socket's path has ~107 bytes: a checkout deep enough moves it out of pgdata.
    checkout = tmp_path.joinpath(*["a-rather-long-directory-name"] * depth)
    env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    started = subprocess.run([sys.executable, "-c", PROBE, str(checkout / "var" / "pgdata")], env=env,
                             capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    facts = json.loads(started.stdout.strip().splitlines()[-1])
    assert facts["answers"]
    assert (facts["socket_dir"].endswith("pgdata")) == (depth == 0), facts
    assert facts["socket_mode"] == 0o700 and facts["runtime_mode"] == 0o700, facts
    assert "XDG_RUNTIME_DIR" not in started.stderr and "RuntimeDirWarning" not in started.stderr, started.stderr
