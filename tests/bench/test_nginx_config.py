"""The nginx config the benchmark runs is deploy/nginx.conf with only its upstreams, listen
address and log paths swapped: never /etc/nginx's logs, port 80 or a public address."""
import re
import subprocess

import pytest

from bench import nginx


def test_site_config_swaps_only_upstreams_listen_and_logs(tmp_path):
    site = nginx.site_config([41001, 41002, 41003], 42000, tmp_path)
    assert re.findall(r"^\s*server 127\.0\.0\.1:(\d+)", site, re.M) == ["41001", "41002", "41003"]
    assert re.findall(r"^\s*listen\s+([^;]+);", site, re.M) == ["127.0.0.1:42000"]
    assert "/var/log/nginx" not in site and f"{tmp_path}/ticketing.access.log" in site
    for kept in ("keepalive 32;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                 "X-Forwarded-For $proxy_add_x_forwarded_for;", "X-Forwarded-Proto $scheme;",
                 "client_max_body_size 1m;", "gzip_types application/json image/svg+xml;", "proxy_read_timeout"):
        assert kept in site, kept
    deployed = nginx.DEPLOYED.read_text()
    assert "listen 80;" in deployed and "server 127.0.0.1:6543" in deployed


def test_main_config_keeps_everything_under_its_prefix(tmp_path):
    text = nginx.main_config(tmp_path, tmp_path / "site.conf")
    assert f"pid {tmp_path}/nginx.pid;" in text and f"error_log {tmp_path}/error.log" in text
    assert f"include {tmp_path}/site.conf;" in text
    assert [line for line in text.splitlines() if "/etc/nginx" in line] == ["    include /etc/nginx/mime.types;"]
    for name in nginx.TEMP_DIRS:
        assert f"{name}_temp_path {tmp_path}/{name};" in text


@pytest.mark.skipif(nginx.executable() is None, reason="nginx is not installed")
def test_nginx_accepts_the_generated_config(tmp_path):
    for name in nginx.TEMP_DIRS:
        (tmp_path / name).mkdir()
    (tmp_path / "site.conf").write_text(nginx.site_config([41001, 41002], 42000, tmp_path))
    (tmp_path / "nginx.conf").write_text(nginx.main_config(tmp_path, tmp_path / "site.conf"))
    check = subprocess.run([nginx.executable(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                            "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_scale_out_processes_run_with_the_deploy_guides_threads():
    """The benchmark's several-process runs are configured as deploy/README.md tells an
    operator to run several processes on one host (decision 0028): the same thread count."""
    from bench import environment

    guide = (nginx.DEPLOYED.parent / "README.md").read_text()
    assert re.findall(r"^threads = (\d+)$", guide, re.M) == [str(environment.SCALE_OUT_THREADS)]
    assert f"set `threads = {environment.SCALE_OUT_THREADS}` in\n`[server:main]`" in guide
