"""DATABASE_URL as ops write it: one host, or libpq's list of hosts for a primary and its standby.

SQLAlchemy's URL parser takes one port per URL, so the app moves a libpq multi-host list into
the query form that psycopg2's dialect hands back to libpq as ``host=h1,h2 port=p1,p2``
(decision 0036). The failover test connects through such a URL for real.
"""
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from ticketing.models import resolve_database_url, sqlalchemy_url


@pytest.mark.parametrize("url, expected", [
    ("postgresql://app@db.example:5432/ticketing", "postgresql+psycopg2://app@db.example:5432/ticketing"),
    ("postgres://app:s3cret@10.0.0.1:6001,10.0.0.2:6002/ticketing?target_session_attrs=read-write",
     "postgresql+psycopg2://app:s3cret@/ticketing?host=10.0.0.1:6001&host=10.0.0.2:6002"
     "&target_session_attrs=read-write"),
    ("postgresql://app@a,b/ticketing", "postgresql+psycopg2://app@/ticketing?host=a&host=b"),
    ("postgresql://a:1,b:2/ticketing?connect_timeout=2",
     "postgresql+psycopg2:///ticketing?host=a:1&host=b:2&connect_timeout=2"),
    ("postgresql+psycopg2://app@/ticketing?host=a:1&host=b:2", "postgresql+psycopg2://app@/ticketing?host=a:1&host=b:2"),
])
def test_libpq_urls_become_sqlalchemy_urls(url, expected):
    assert sqlalchemy_url(url) == expected


def test_psycopg2_gets_every_host_and_the_read_write_requirement():
    url = resolve_database_url({"sqlalchemy.url": "postgresql://pgautofailover@127.0.0.1:25431,127.0.0.1:25432"
                                                  "/ticketing?target_session_attrs=read-write&connect_timeout=2"})
    engine = create_engine(url)
    _, params = engine.dialect.create_connect_args(make_url(url))
    assert params == {"dbname": "ticketing", "user": "pgautofailover", "host": "127.0.0.1,127.0.0.1",
                      "port": "25431,25432", "target_session_attrs": "read-write", "connect_timeout": "2"}
