"""Helpers of .ci/helm_checks.sh for rendered chart output (needs PyYAML).

  chartcheck.py split RENDERED... --core OUT.yaml --crds OUT.json
      Standard Kubernetes objects into one multi-document YAML (for kubernetes-validate),
      custom resources into a JSON list (for validate_crds.mjs).
  chartcheck.py rules RENDERED OUT.yaml
      The spec of the rendered PrometheusRule: a Prometheus rules file for promtool.
  chartcheck.py promql CHART_DIR RENDERED... OUT.yaml
      Every PromQL expression of the Grafana dashboard and of KEDA prometheus triggers as
      a recording rule, so that `promtool check rules` parses them all.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import yaml

CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
# Grafana variables, replaced by values that keep the query valid PromQL.
GRAFANA_VARS = [
    (re.compile(r"\$__rate_interval|\$__interval|\$__range"), "5m"),
    (re.compile(r"\$\{?queue\}?"), ".*"),
    (re.compile(r"\$\{?(\w+)\}?"), "x"),
]


def documents(paths: List[str]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if doc:
                yield path, doc


def cmd_split(args: argparse.Namespace) -> int:
    core: List[Dict[str, Any]] = []
    crds: List[Dict[str, Any]] = []
    for path, doc in documents(args.rendered):
        if str(doc.get("apiVersion", "")).startswith(CRD_GROUPS):
            crds.append({"source": path, "object": doc})
        else:
            core.append(doc)
    Path(args.core).write_text(yaml.safe_dump_all(core, sort_keys=False))
    Path(args.crds).write_text(json.dumps(crds))
    print(f"{len(core)} standard objects, {len(crds)} custom resources")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    rules = [d for _, d in documents([args.rendered]) if d.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        print(f"expected one PrometheusRule in {args.rendered}, found {len(rules)}",
              file=sys.stderr)
        return 1
    Path(args.out).write_text(yaml.safe_dump(rules[0]["spec"], sort_keys=False))
    return 0


def grafana_to_promql(expr: str) -> str:
    for pattern, value in GRAFANA_VARS:
        expr = pattern.sub(value, expr)
    return expr


def dashboard_exprs(dashboard: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
    def panels(items: List[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield f"panel {p.get('title')!r} {t.get('refId')}", t["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if var.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            yield f"variable {var['name']}", m.group(1) if m else q


def cmd_promql(args: argparse.Namespace) -> int:
    exprs: List[Tuple[str, str]] = []
    for dash in sorted(Path(args.chart, "dashboards").glob("*.json")):
        for where, expr in dashboard_exprs(json.loads(dash.read_text())):
            exprs.append((f"{dash.name} {where}", grafana_to_promql(expr)))
    for path, doc in documents(args.rendered):
        if doc.get("kind") == "ScaledObject":
            for trig in doc["spec"].get("triggers", []):
                if trig.get("type") == "prometheus":
                    exprs.append((f"{path} ScaledObject/{doc['metadata']['name']}",
                                  trig["metadata"]["query"]))
    rules = [{"record": f"dbos_queue_check:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]
    groups = {"groups": [{"name": "promql-syntax", "rules": rules}]}
    Path(args.out).write_text(yaml.safe_dump(groups, sort_keys=False))
    index = "".join(f"expr_{i}: {where}\n" for i, (where, _) in enumerate(exprs))
    Path(args.out + ".index").write_text(index)
    print(f"{len(exprs)} PromQL expressions (dashboard, KEDA queries)")
    return 0


def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("rendered", nargs="+")
    s.add_argument("--core", required=True)
    s.add_argument("--crds", required=True)
    s.set_defaults(func=cmd_split)
    r = sub.add_parser("rules")
    r.add_argument("rendered")
    r.add_argument("out")
    r.set_defaults(func=cmd_rules)
    q = sub.add_parser("promql")
    q.add_argument("chart")
    q.add_argument("rendered", nargs="+")
    q.add_argument("out")
    q.set_defaults(func=cmd_promql)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
