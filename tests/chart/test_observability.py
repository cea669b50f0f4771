"""observability/ is the single source of dashboards, alert rules and the collector config:
promtool checks the rules and every dashboard query, every metric they name is one the
services export, and the chart ships exactly these files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.charts import (
    CHART,
    MONITORING_APIS,
    ROOT,
    by_name,
    helm_template,
    load_docs,
    run,
    tool,
)

pytestmark = pytest.mark.chart
OBS = ROOT / "observability"
DASHBOARDS = sorted((OBS / "grafana").glob("*.json"))
RULES = OBS / "prometheus" / "alerts.yaml"
COLLECTOR = OBS / "otel" / "collector.yaml"


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def test_alert_rules_pass_promtool() -> None:
    proc = run([tool("promtool"), "check", "rules", str(RULES)])
    assert "SUCCESS" in proc.stdout


def test_dashboard_queries_pass_promtool(tmp_path: Path) -> None:
    """Each panel query becomes a recording rule (Grafana's $variables substituted)."""
    rules = []
    for path in DASHBOARDS:
        for i, (title, expr) in enumerate(dashboard_exprs(path)):
            promql = expr.replace("$__rate_interval", "5m").replace("$job", ".*")
            rules.append(
                {
                    "record": f"dashboard:{path.stem.replace('-', '_')}:{i}",
                    "expr": promql,
                    "labels": {"panel": title},
                }
            )
    assert len(rules) >= 10
    file = tmp_path / "dashboard-queries.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = run([tool("promtool"), "check", "rules", str(file)])
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout


def _exported_metrics() -> set[str]:
    """Every metric family the kit and the services register (imported the way they run)."""
    import prometheus_client

    import deepiri_kit.events.bus
    import deepiri_kit.events.consumer
    import deepiri_kit.events.outbox
    import deepiri_kit.metrics
    import deepiri_kit.upstream  # noqa: F401
    import gamification_service.service.erasure
    import gamification_service.service.friends
    import gamification_service.service.wallets  # noqa: F401
    import notification_service.service  # noqa: F401
    import task_service.service
    import task_service.store.tasks  # noqa: F401
    import user_service.service.passwords
    import user_service.service.skills
    import user_service.service.social  # noqa: F401
    import websocket_service.api.sockets
    import websocket_service.service  # noqa: F401

    names = set()
    for collector in list(prometheus_client.REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else []:
            names.add(family.name)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
    return names | {"up"}


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?:\{|\[)", expr))
    return {n for n in names if "_" in n and not n.startswith("dashboard")}


def test_every_queried_metric_is_exported() -> None:
    exported = _exported_metrics()
    rules = yaml.safe_load(RULES.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    exprs += [e for p in DASHBOARDS for _, e in dashboard_exprs(p)]
    wanted = set().union(*(_metric_names(e) for e in exprs))
    assert wanted, "no metric names found"
    assert not wanted - exported, f"queried but not exported: {sorted(wanted - exported)}"
    required = {
        "http_server_requests_total",
        "http_server_request_duration_seconds_bucket",
        "http_server_requests_in_flight",
        "deepiri_events_published_total",
        "deepiri_events_consumed_total",
        "deepiri_events_lag",
        "deepiri_events_pending",
        "deepiri_outbox_relayed_total",
        "deepiri_upstream_calls_total",
        "deepiri_websocket_sockets",
        "deepiri_websocket_connects_total",
        "deepiri_websocket_disconnects_total",
        "deepiri_websocket_emits_total",
        "deepiri_websocket_delivery_lag_seconds_bucket",
        # Each service's own key metrics.
        "deepiri_tasks_created_total",
        "deepiri_tasks_completed_total",
        "deepiri_currency_credited_total",
        "deepiri_badges_awarded_total",
        "deepiri_gamification_friendship_changes_total",
        "deepiri_password_hashes_total",
        "deepiri_social_changes_total",
        "deepiri_skill_xp_total",
        "deepiri_notifications_created_total",
        "deepiri_notification_delivery_attempts_total",
        "deepiri_push_sends_total",
    }
    dashboard_metrics = set().union(
        *(_metric_names(e) for p in DASHBOARDS for _, e in dashboard_exprs(p))
    )
    assert required <= dashboard_metrics, f"dashboard lacks {sorted(required - dashboard_metrics)}"


def test_chart_ships_exactly_the_observability_files() -> None:
    link = CHART / "files"
    assert link.is_symlink()
    assert link.resolve() == OBS.resolve()
    docs = load_docs(helm_template(["values-kind.yaml"], api_versions=MONITORING_APIS).stdout)
    configmaps = by_name(docs, "ConfigMap")
    for path in DASHBOARDS:
        cm = configmaps[f"deepiri-dashboard-{path.stem}"]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["data"][path.name] == path.read_text().rstrip("\n")
    rule = by_name(docs, "PrometheusRule")["deepiri"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    prometheus = configmaps["deepiri-prometheus"]["data"]
    assert prometheus["alerts.yaml"] == RULES.read_text().rstrip("\n")
    assert configmaps["deepiri-otel-collector"]["data"][
        "collector.yaml"
    ] == COLLECTOR.read_text().rstrip("\n")
    assert "/etc/prometheus/alerts.yaml" in prometheus["prometheus.yaml"]


def test_collector_config_is_complete() -> None:
    config: dict[str, Any] = yaml.safe_load(COLLECTOR.read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in pipeline[kind]:
            assert name in config[kind], f"{kind}.{name} is used but not defined"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert "health_check" in config["service"]["extensions"]


def test_bundled_prometheus_scrapes_what_the_dashboards_filter_on() -> None:
    docs = load_docs(helm_template(["values-kind.yaml"]).stdout)
    config = yaml.safe_load(
        by_name(docs, "ConfigMap")["deepiri-prometheus"]["data"]["prometheus.yaml"]
    )
    relabel = config["scrape_configs"][0]["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "target_label": "job",
    } in relabel
