"""The Grafana dashboard queries only series that ``/metrics`` really exports (docs/contract.md §12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "erp-api.json"

# PromQL words that are neither metric names nor followed by "(".
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = LABEL_LISTS.sub("", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def dashboard_queries() -> dict[str, str]:
    """Every query of the dashboard, by where it is: each panel target and each templating query."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            # label_values(metric, label): only the first argument is a metric.
            metric = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query["query"])
            assert metric, f"unexpected templating query {query['query']!r}"
            queries[f"variable {variable['name']!r}"] = metric.group(1)
    return queries


def test_the_parser_finds_metric_names_and_nothing_else():
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job=~"$job"}'
        "[$__rate_interval]))) / sum(db_pool_connections_limit) > bool 0"
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "db_pool_connections_limit"}


async def test_every_metric_the_dashboard_queries_is_exported(client):
    for path in ("/healthz/live", "/healthz/ready", "/no-such-page"):
        await client.get(path)
    exported = {
        sample.name
        for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        for sample in family.samples
    }

    queries = dashboard_queries()
    assert len(queries) >= 10
    for where, expr in queries.items():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= exported, f"{where}: {sorted(names - exported)} not exported"


def test_the_dashboard_has_the_panels_the_contract_names():
    titles = " / ".join(panel["title"].lower() for panel in json.loads(DASHBOARD.read_text())["panels"])
    for topic in ("request rate", "error ratio", "p50", "p95", "p99", "pool", "readiness"):
        assert topic in titles
