"""The Grafana dashboard and the alert rules in deploy/ query only metrics the app exports
(a renamed metric would leave a panel empty on the day it is needed), and the dashboard has a
panel for each of the issue's questions."""
import json
import re

import yaml
from prometheus_client.metrics import MetricWrapperBase

from ticketing import metrics

from ..database import ROOT

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported_names(engine):
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    names.update(family.name for family in metrics.SaleCollector(engine).collect())
    return names


def _expressions():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "ticketing.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "ticketing-rules.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return dashboard, exprs


def test_every_query_names_an_exported_metric(engine):
    exported = _exported_names(engine)
    _, exprs = _expressions()
    used = {name for expr in exprs for name in re.findall(r"\bticketing_[a-z_]+", expr)}
    assert used and used <= exported, f"queried but never exported: {used - exported}"


def test_the_dashboard_answers_the_sale_day_questions():
    dashboard, _ = _expressions()
    queries = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    for question, metric in (("purchases a second", "ticketing_purchases_total"),
                             ("p99 of a hold", 'route="api.match.holds"'),
                             ("waiting or shed", "ticketing_http_requests_shed_total"),
                             ("waiting", "ticketing_http_queue_wait_seconds_bucket"),
                             ("pool", "ticketing_db_pool_checked_out"),
                             ("seats left", "ticketing_match_seats"),
                             ("waiting room", "ticketing_waiting_room_waiting"),
                             ("gate", "ticketing_gate_scans_total")):
        assert metric in queries, question
