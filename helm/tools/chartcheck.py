"""Helpers of .ci/helm_checks.sh for rendered chart output (needs PyYAML).

  chartcheck.py split RENDERED... --core OUT.yaml --crds OUT.json
      Standard Kubernetes objects into one multi-document YAML (for kubernetes-validate),
      custom resources into a JSON list (for validate_crds.mjs).
  chartcheck.py rules RENDERED OUT.yaml
      The spec of the rendered PrometheusRule: a Prometheus rules file for promtool.
  chartcheck.py promql CHART_DIR RENDERED... OUT.yaml
      Every PromQL expression of the Grafana dashboard and of KEDA prometheus triggers as
      a recording rule, so that `promtool check rules` parses them all.
  chartcheck.py wiring CHART_DIR VALUES RENDERED [--fullname NAME]
      The environment the values ask for, in the rendered workers and migration Job:
      DBOS_QUEUE_ADMIN_TOKEN (and the chart's token Secret), DBOS_QUEUE_LISTEN_DATABASE_URL,
      DBOS_QUEUE_PREPARE_THRESHOLD and DBOS_QUEUE_USE_LISTEN_NOTIFY; secrets only ever
      through secretKeyRef, the listen URL only in the chart's Secret.
"""

from __future__ import annotations

import argparse
import base64
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


def merged(base: Any, over: Any) -> Any:
    """Helm's coalescing of a values file over the chart's values.yaml (null deletes)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merged(base.get(k), v)
        return out
    return over


SECRET_ENV = ("DBOS_SYSTEM_DATABASE_URL", "DBOS_QUEUE_LISTEN_DATABASE_URL", "DBOS_QUEUE_ADMIN_TOKEN")


def cmd_wiring(args: argparse.Namespace) -> int:
    values = merged(yaml.safe_load(Path(args.chart, "values.yaml").read_text()),
                    yaml.safe_load(Path(args.values).read_text()) or {})
    docs = [d for _, d in documents([args.rendered])]
    full = args.fullname
    db, tok = values["database"], values["admin"]["token"]
    errors: List[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            errors.append(what)

    db_secret = db["existingSecret"]["name"] or f"{full}-db"
    if db["existingSecret"]["name"]:
        listen_key = db["existingSecret"].get("listenKey") or None
    else:
        listen_key = "listenUrl" if db.get("listenUrl") else None
    if tok["create"]:
        token_ref = {"name": f"{full}-admin-token", "key": "token"}
    else:
        token_ref = {"name": tok["existingSecret"]["name"],
                     "key": tok["existingSecret"].get("key") or "token"}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}

    # The admin token Secret: the chart's own (random, 32 characters), or none.
    own = secrets.get(f"{full}-admin-token")
    if tok["create"]:
        check(own is not None, f"no Secret {full}-admin-token")
        if own is not None:
            raw = base64.b64decode((own.get("data") or {}).get("token", "")).decode()
            check(re.fullmatch(r"[A-Za-z0-9]{32}", raw) is not None,
                  f"Secret {full}-admin-token: data.token is not 32 random alphanumerics")
    else:
        check(own is None, f"Secret {full}-admin-token rendered with admin.token.create false")

    # The listen URL from values: only in the chart's database Secret.
    if db.get("listenUrl"):
        chart_db = secrets.get(f"{full}-db") or {}
        check((chart_db.get("stringData") or {}).get("listenUrl") == db["listenUrl"],
              f"Secret {full}-db lacks stringData.listenUrl = database.listenUrl")
        for d in docs:
            if d["kind"] != "Secret" and db["listenUrl"] in json.dumps(d):
                errors.append(f"{d['kind']}/{d['metadata']['name']} contains database.listenUrl")

    for d in docs:
        if d["kind"] == "ConfigMap":
            for name in SECRET_ENV:
                check(name not in (d.get("data") or {}), f"ConfigMap/{d['metadata']['name']}: {name}")

    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    check(bool([d for d in workloads if d["kind"] == "Deployment"]), "no worker Deployment rendered")
    for d in workloads:
        for c in d["spec"]["template"]["spec"]["containers"]:
            where = f"{d['kind']}/{d['metadata']['name']} container {c['name']}"
            env = {e["name"]: e for e in c.get("env", [])}
            worker = d["kind"] == "Deployment"

            def ref(name: str) -> Any:
                e = env.get(name)
                return e and (e.get("valueFrom") or {}).get("secretKeyRef")

            def value(name: str) -> Any:
                e = env.get(name)
                return e and e.get("value")

            for name in SECRET_ENV:
                check(name not in env or "value" not in env[name], f"{where}: {name} has a literal value")
            if worker:
                check(ref("DBOS_QUEUE_ADMIN_TOKEN") == token_ref,
                      f"{where}: DBOS_QUEUE_ADMIN_TOKEN is {env.get('DBOS_QUEUE_ADMIN_TOKEN')}, want secretKeyRef {token_ref}")
                if listen_key and db["useListenNotify"]:
                    want = {"name": db_secret, "key": listen_key}
                    check(ref("DBOS_QUEUE_LISTEN_DATABASE_URL") == want,
                          f"{where}: DBOS_QUEUE_LISTEN_DATABASE_URL is {env.get('DBOS_QUEUE_LISTEN_DATABASE_URL')}, want secretKeyRef {want}")
                else:
                    check("DBOS_QUEUE_LISTEN_DATABASE_URL" not in env, f"{where}: unexpected DBOS_QUEUE_LISTEN_DATABASE_URL")
                if db["useListenNotify"]:
                    check("DBOS_QUEUE_USE_LISTEN_NOTIFY" not in env, f"{where}: unexpected DBOS_QUEUE_USE_LISTEN_NOTIFY")
                else:
                    check(value("DBOS_QUEUE_USE_LISTEN_NOTIFY") == "false",
                          f"{where}: DBOS_QUEUE_USE_LISTEN_NOTIFY is not \"false\"")
            else:
                for name in ("DBOS_QUEUE_ADMIN_TOKEN", "DBOS_QUEUE_LISTEN_DATABASE_URL", "DBOS_QUEUE_USE_LISTEN_NOTIFY"):
                    check(name not in env, f"{where}: {name} is for workers only")
            if db["pgbouncer"]:
                check(value("DBOS_QUEUE_PREPARE_THRESHOLD") == "off",
                      f"{where}: database.pgbouncer but DBOS_QUEUE_PREPARE_THRESHOLD is not \"off\"")
            else:
                check("DBOS_QUEUE_PREPARE_THRESHOLD" not in env, f"{where}: unexpected DBOS_QUEUE_PREPARE_THRESHOLD")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(f"{len(workloads)} workloads: admin token {token_ref}, listen key {listen_key}, "
          f"pgbouncer {db['pgbouncer']}, useListenNotify {db['useListenNotify']}")
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
    w = sub.add_parser("wiring")
    w.add_argument("chart")
    w.add_argument("values")
    w.add_argument("rendered")
    w.add_argument("--fullname", default="rel-dbos-queue")
    w.set_defaults(func=cmd_wiring)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
