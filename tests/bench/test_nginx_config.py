"""The nginx config the benchmark and the tests run is deploy/nginx.conf with only its
upstreams, listen address, log and cache paths and per-address limit swapped: never
/etc/nginx's logs, /var/cache, port 80 or a public address."""
import re
from pathlib import Path
import subprocess

import pytest

from bench import nginx

from ..system_packages import require


def test_site_config_swaps_only_upstreams_listen_logs_cache_and_limit(tmp_path):
    site = nginx.site_config([41001, 41002, 41003], 42000, tmp_path)
    # Both upstreams, each with its own max_conns: the app's and the waiting room's joins'.
    servers = re.findall(r"^\s*server 127\.0\.0\.1:(\d+).*max_conns=(\d+);", site, re.M)
    assert servers == [("41001", "900"), ("41002", "900"), ("41003", "900"),
                       ("41001", "300"), ("41002", "300"), ("41003", "300")]
    assert re.findall(r"^\s*listen\s+([^;]+);", site, re.M) == ["127.0.0.1:42000 backlog=4096"]
    assert "/var/log/nginx" not in site and f"{tmp_path}/ticketing.access.log" in site
    assert "/var/cache" not in site and f"proxy_cache_path {tmp_path}/cache/ticketing " in site
    assert "limit_conn ticketing_per_address 65535;" in site
    assert 'proxy_set_header X-Request-Start "t=${msec}";' in site
    unstamped = nginx.site_config([41001], 42000, tmp_path, stamp=False)
    assert "X-Request-Start" not in unstamped and unstamped.count("proxy_set_header") == site.count("proxy_set_header") - 1
    for kept in ("keepalive 32;", "proxy_cache $ticketing_api_cache;", "proxy_cache_lock on;",
                 "proxy_cache_use_stale updating", "proxy_cache_revalidate on;",
                 'map "$http_authorization$cookie_ticketing_session" $ticketing_api_cache', "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                 "X-Forwarded-For $proxy_add_x_forwarded_for;", "X-Forwarded-Proto $scheme;",
                 "client_max_body_size 1m;", "gzip_types application/json image/svg+xml;", "proxy_read_timeout"):
        assert kept in site, kept
    deployed = nginx.DEPLOYED.read_text()
    assert "listen 80 backlog=4096;" in deployed and "server 127.0.0.1:6543" in deployed
    assert "limit_conn ticketing_per_address 100;" in deployed


def test_main_config_keeps_everything_under_its_prefix(tmp_path):
    text = nginx.main_config(tmp_path, tmp_path / "site.conf")
    assert f"pid {tmp_path}/nginx.pid;" in text and f"error_log {tmp_path}/error.log" in text
    assert f"include {tmp_path}/site.conf;" in text
    assert [line for line in text.splitlines() if "/etc/nginx" in line] == ["    include /etc/nginx/mime.types;"]
    for name in nginx.TEMP_DIRS:
        assert f"{name}_temp_path {tmp_path}/{name};" in text


def test_nginx_accepts_the_generated_config(tmp_path):
    require(nginx.executable(), "nginx", "checking the deployed site with nginx -t")
    for name in (*nginx.TEMP_DIRS, "cache"):
        (tmp_path / name).mkdir()
    (tmp_path / "site.conf").write_text(nginx.site_config([41001, 41002], 42000, tmp_path))
    (tmp_path / "nginx.conf").write_text(nginx.main_config(tmp_path, tmp_path / "site.conf"))
    check = subprocess.run([nginx.executable(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                            "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_the_benchmark_starts_its_processes_as_the_unit_does():
    """``pserve production.ini http_port=<port>``: the unit's command, with the port its own."""
    from bench import environment

    unit = (nginx.DEPLOYED.parent / "ticketing@.service").read_text()
    assert "ExecStart=/srv/ticketing/.venv/bin/pserve production.ini http_port=%i" in unit
    source = (nginx.DEPLOYED.parent.parent / "bench" / "environment.py").read_text()
    assert '[pserve, str(ini), "http_port={port}"]' in source
    assert environment.INI.name == "production.ini"


def test_deploy_readme_makes_debians_nginx_conf_what_the_benchmark_runs(tmp_path):
    """The sed of deploy/README.md, run on Debian's own nginx.conf, sets every main-context
    and events directive the benchmark's main config has."""
    import shutil

    debian = Path("/etc/nginx/nginx.conf")
    if not debian.exists() or shutil.which("sed") is None:
        require(None, "nginx", "Debian's /etc/nginx/nginx.conf")
    readme = (nginx.DEPLOYED.parent / "README.md").read_text()
    sed = next(block for block in re.findall(r"```sh\n(.*?)```", readme, re.S) if "sed -i" in block)
    command = re.search(r"sed -i .*?/etc/nginx/nginx\.conf", sed, re.S).group(0).replace("\\\n", " ")
    copy = tmp_path / "nginx.conf"
    copy.write_text(debian.read_text())
    subprocess.run(["bash", "-c", command.replace("/etc/nginx/nginx.conf", str(copy))], check=True, timeout=30)
    edited = {line.strip() for line in copy.read_text().splitlines()}
    wanted = {line.strip() for line in nginx.main_config(tmp_path, tmp_path / "site.conf").splitlines()
              if line.strip().startswith(("worker_", "multi_accept"))}
    assert wanted == {"worker_processes auto;", "worker_rlimit_nofile 65536;", "worker_priority -5;",
                      "worker_connections 16384;", "multi_accept on;"}
    assert wanted <= edited, wanted - edited
