"""Debian packages the tests start for real (nginx, Chromium, PostgreSQL tools).

Without one, its tests skip with the reason and the command that installs it; with ``CI`` set
a missing package fails them instead: CI must never pass by not testing (.ci/run installs
them with apt-get).
"""
import os

import pytest


def on_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(found, package, what):
    """Skip (or on CI, fail) the calling test or fixture when ``found`` is falsy."""
    if found:
        return
    reason = f"{what} needs Debian's {package}, which is not installed (apt-get install -y {package})"
    if on_ci():
        pytest.fail(f"CI is set but {reason}; .ci/run installs it", pytrace=False)
    pytest.skip(reason)
