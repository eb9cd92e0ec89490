"""The Helm chart (helm/dbos-queue), rendered with ``helm template``, and its dashboard.

helm is the one .ci/helm_checks.sh installs (``--which helm`` installs it when missing),
so these tests never skip. The dashboard test starts a real worker and checks that every
metric name the dashboard, the alert rules and the KEDA query use is really exported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugins.checks import must
from tests.plugins.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "dbos-queue"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
BAD_VALUES = sorted((ROOT / "helm" / "ci-values" / "bad").glob("*.yaml"))
DASHBOARD = CHART / "dashboards" / "dbos-queue.json"
RELEASE, NAMESPACE, KUBE_VERSION = "rel", "jobs", "1.30.0"
FULLNAME = f"{RELEASE}-dbos-queue"
HELPER = "database.existingSecret.name=dbos-db"


@lru_cache(maxsize=1)
def helm_binary() -> str:
    """The helm of .ci/helm_checks.sh, installed by it when missing."""
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "helm_checks.sh"), "--which", "helm"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, f"installing helm failed:\n{proc.stderr[-3000:]}"
    path = proc.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), path
    return path


def helm_env() -> dict[str, str]:
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"dbos-queue-helm-test-{os.getuid()}"
    env = dict(os.environ)
    for var, sub in (
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ):
        env[var] = str(base / sub)
    return env


def helm_template(*values_files: Path, sets: Iterable[str] = ()) -> subprocess.CompletedProcess:
    cmd = [
        helm_binary(),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    for f in values_files:
        cmd += ["-f", str(f)]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=helm_env())


@cache
def _render(values_files: tuple[Path, ...], sets: tuple[str, ...]) -> str:
    proc = helm_template(*values_files, sets=sets)
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    return proc.stdout


def render(*values_files: Path, sets: Iterable[str] = ()) -> list[dict[str, Any]]:
    text = _render(tuple(values_files), tuple(sets))
    return [d for d in yaml.safe_load_all(text) if d]


def ci(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def worker_container(deploy: dict[str, Any]) -> dict[str, Any]:
    (container,) = [
        c for c in deploy["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"
    ]
    return container


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --- rendering ---------------------------------------------------------------------------


def test_there_are_enough_values_combinations():
    assert len(CI_VALUES) >= 4
    assert len(BAD_VALUES) >= 3


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_ci_values_render_workers_service_and_config(values):
    docs = render(values)
    deployments = of_kind(docs, "Deployment")
    assert deployments
    assert [s["metadata"]["name"] for s in of_kind(docs, "Service")] == [FULLNAME]
    assert len(of_kind(docs, "ConfigMap")) >= 1
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "worker"
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_probes_hit_the_admin_port_healthz(values):
    docs = render(values)
    (service,) = of_kind(docs, "Service")
    (svc_port,) = service["spec"]["ports"]
    for d in of_kind(docs, "Deployment"):
        c = worker_container(d)
        admin_port = int(flag_values(c["args"], "--admin-port")[0])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["admin"] == admin_port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] == "/dbos-healthz", (d["metadata"]["name"], probe)
            assert get["port"] in ("admin", admin_port), (d["metadata"]["name"], probe)
        # The Service (and so the ServiceMonitor) reaches the same port.
        assert svc_port["targetPort"] in ("admin", admin_port)
        assert svc_port["port"] == admin_port
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_grace_period_exceeds_drain_timeout(values):
    for d in of_kind(render(values), "Deployment"):
        c = worker_container(d)
        (drain,) = flag_values(c["args"], "--drain-timeout")
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["DBOS_QUEUE_DRAIN_TIMEOUT_S"] == drain
        grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert isinstance(grace, int)
        assert grace >= float(drain) + 5, (d["metadata"]["name"], grace, drain)


def test_grace_period_is_derived_from_the_drain_timeout_or_given():
    deploys = by_name(render(ci("multi-group")), "Deployment")
    spec = {n: d["spec"]["template"]["spec"] for n, d in deploys.items()}
    assert spec[f"{FULLNAME}-emails"]["terminationGracePeriodSeconds"] == 60 + 15
    assert spec[f"{FULLNAME}-payments"]["terminationGracePeriodSeconds"] == 150  # given
    assert spec[f"{FULLNAME}-reports"]["terminationGracePeriodSeconds"] == 3 + 15  # ceil(2.5)


def test_each_worker_group_gets_its_queues_concurrency_and_replicas():
    values = yaml.safe_load(ci("multi-group").read_text())
    deploys = by_name(render(ci("multi-group")), "Deployment")
    groups = {n: g for n, g in values["workerGroups"].items() if g is not None}
    assert set(deploys) == {f"{FULLNAME}-{n}" for n in groups}
    for name, group in groups.items():
        d = deploys[f"{FULLNAME}-{name}"]
        args = worker_container(d)["args"]
        assert flag_values(args, "--queue") == group["queues"], name
        assert flag_values(args, "--concurrency") == (
            [str(group["concurrency"])] if group.get("concurrency") else []
        )
        assert d["spec"]["replicas"] == group["replicas"]
        assert d["spec"]["template"]["metadata"]["labels"]["dbos-queue/group"] == name
        if "resources" in group:
            assert worker_container(d)["resources"] == group["resources"]


def test_a_group_without_queues_listens_to_every_queue():
    (d,) = of_kind(render(ci("minimal")), "Deployment")
    assert d["metadata"]["name"] == f"{FULLNAME}-default"
    assert flag_values(worker_container(d)["args"], "--queue") == []


def test_the_executor_id_is_the_pod_name_and_the_url_comes_from_the_secret():
    for values in CI_VALUES:
        for d in of_kind(render(values), "Deployment"):
            env = {e["name"]: e for e in worker_container(d)["env"]}
            assert env["DBOS__VMID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            ref = env["DBOS_SYSTEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] in ("dbos-db", f"{FULLNAME}-db")
            assert "value" not in env["DBOS_SYSTEM_DATABASE_URL"]


def test_existing_secret_name_and_key_are_used():
    docs = render(ci("autoscaling"))
    for d in of_kind(docs, "Deployment"):
        env = {e["name"]: e for e in worker_container(d)["env"]}
        ref = env["DBOS_SYSTEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "dbos-db", "key": "DBOS_SYSTEM_DATABASE_URL"}
    # No database Secret of the chart's own; the only Secret is the admin token's.
    assert [s["metadata"]["name"] for s in of_kind(docs, "Secret")] == [f"{FULLNAME}-admin-token"]


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_secret_values_are_never_rendered_into_configmaps(values):
    raw = yaml.safe_load(values.read_text())
    url = (raw.get("database") or {}).get("url")
    docs = render(values)
    secrets = of_kind(docs, "Secret")
    for cm in of_kind(docs, "ConfigMap"):
        text = json.dumps(cm)
        assert not re.search(r"://[^/@\s\"]*:[^/@\s\"]*@", text), cm["metadata"]["name"]
        assert "DBOS_SYSTEM_DATABASE_URL" not in (cm.get("data") or {})
        if url:
            assert url not in text
            password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert password not in text
    if url:
        # The URL from values lives in the chart's Secret and nowhere else.
        (secret,) = [s for s in secrets if s["metadata"]["name"] != f"{FULLNAME}-admin-token"]
        assert secret["stringData"]["url"] == url
        for d in docs:
            if d["kind"] != "Secret":
                assert url not in json.dumps(d), d["kind"]
        # A hook created before the migration Job that needs it.
        weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
        (job,) = of_kind(docs, "Job")
        assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_plain_env_goes_to_the_configmap_which_pods_use():
    docs = render(ci("multi-group"))
    (cm,) = of_kind(docs, "ConfigMap")
    assert cm["data"]["LOG_LEVEL"] == "info"
    assert cm["data"]["DBOS_QUEUE_APP_MODULE"] == "shop.workflows"
    for d in of_kind(docs, "Deployment"):
        c = worker_container(d)
        assert {"configMapRef": {"name": cm["metadata"]["name"]}} in c["envFrom"]
        assert "checksum/env" in d["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_pods_run_non_root_with_a_read_only_root_filesystem(values):
    docs = render(values)
    workloads = of_kind(docs, "Deployment") + of_kind(docs, "Job")
    pods = [d["spec"]["template"]["spec"] for d in workloads]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts["/tmp"] in tmp_volumes
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["HOME"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook():
    docs = render(ci("minimal"))
    (job,) = of_kind(docs, "Job")
    ann = job["metadata"]["annotations"]
    assert set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["dbos-queue", "migrate"]
    env = {e["name"]: e for e in c["env"]}
    assert env["DBOS_SYSTEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "dbos-db"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert of_kind(render(ci("keda-postgresql")), "Job") == []  # migration.enabled: false


def test_optional_parts_are_off_by_default():
    kinds = {d["kind"] for d in render(ci("minimal"))}
    # Secret: the admin token (admin.token.create is on by default).
    assert kinds == {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "Job", "Secret"}


@pytest.mark.parametrize(
    "flag,kinds",
    [
        ("autoscaling.enabled", {"HorizontalPodAutoscaler"}),
        ("keda.enabled", {"ScaledObject"}),
        ("serviceMonitor.enabled", {"ServiceMonitor"}),
        ("prometheusRule.enabled", {"PrometheusRule"}),
        ("grafanaDashboard.enabled", {"ConfigMap"}),
    ],
)
def test_each_optional_part_switches_on_with_its_flag(flag, kinds):
    before = [d["kind"] for d in render(ci("minimal"))]
    after = [d["kind"] for d in render(ci("minimal"), sets=(f"{flag}=true",))]
    added = set(after) - set(before) or {k for k in after if after.count(k) > before.count(k)}
    assert added == kinds


def test_autoscaling_owns_replicas_and_targets_each_group():
    docs = render(ci("autoscaling"))
    hpas = by_name(docs, "HorizontalPodAutoscaler")
    deploys = by_name(docs, "Deployment")
    assert set(hpas) == {f"{FULLNAME}-default"}  # the batch group opted out
    hpa = hpas[f"{FULLNAME}-default"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{FULLNAME}-default",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 12)
    assert "replicas" not in deploys[f"{FULLNAME}-default"]["spec"]
    assert deploys[f"{FULLNAME}-batch"]["spec"]["replicas"] == 1


def test_pod_disruption_budgets_per_group():
    pdbs = by_name(render(ci("multi-group")), "PodDisruptionBudget")
    assert set(pdbs) == {f"{FULLNAME}-emails", f"{FULLNAME}-payments"}  # reports: disabled
    assert pdbs[f"{FULLNAME}-emails"]["spec"]["maxUnavailable"] == 1
    assert pdbs[f"{FULLNAME}-payments"]["spec"] == {
        "minAvailable": 1,
        "selector": pdbs[f"{FULLNAME}-payments"]["spec"]["selector"],
    }


def test_keda_prometheus_scales_each_group_on_its_queues_depth():
    docs = render(ci("keda-prometheus"))
    scaled = by_name(docs, "ScaledObject")
    assert set(scaled) == {f"{FULLNAME}-default", f"{FULLNAME}-bulk"}
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    default = scaled[f"{FULLNAME}-default"]["spec"]
    assert default["scaleTargetRef"]["name"] == f"{FULLNAME}-default"
    (trigger,) = default["triggers"]
    assert trigger["type"] == "prometheus"
    query = trigger["metadata"]["query"]
    assert 'queue=~"orders|orders\\\\.v2"' in query  # regex-quoted, PromQL-escaped
    assert "dbos_queue_depth{" in query and "dbos_queue_running{" in query
    assert f'job="{FULLNAME}"' in query and f'namespace="{NAMESPACE}"' in query
    assert trigger["metadata"]["threshold"] == "25"
    (bulk,) = scaled[f"{FULLNAME}-bulk"]["spec"]["triggers"]
    assert 'queue=~"bulk"' in bulk["metadata"]["query"]
    assert "dbos_queue_running" not in bulk["metadata"]["query"]  # includeRunning: false
    assert scaled[f"{FULLNAME}-bulk"]["spec"]["maxReplicaCount"] == 5


def test_keda_postgresql_counts_the_groups_enqueued_rows():
    docs = render(ci("keda-postgresql"))
    (so,) = of_kind(docs, "ScaledObject")
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["query"] == (
        "SELECT count(*) FROM dbos.workflow_status WHERE status IN ('ENQUEUED', 'PENDING') "
        "AND queue_name IN ('jobs', 'jobs.retry')"
    )
    assert so["spec"]["minReplicaCount"] == 0
    (auth,) = of_kind(docs, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "connection", "name": "dbos-db", "key": "url"}
    ]


def test_servicemonitor_scrapes_metrics_on_the_admin_port():
    docs = render(ci("keda-prometheus"))
    (sm,) = of_kind(docs, "ServiceMonitor")
    (service,) = of_kind(docs, "Service")
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "admin"
    assert endpoint["path"] == "/metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_prometheus_rule_has_the_four_alerts():
    (rule,) = of_kind(render(ci("keda-prometheus")), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "DBOSQueueOldestEnqueuedTooOld",
        "DBOSQueueTakeovers",
        "DBOSQueueDeadLetteredWorkflows",
        "DBOSQueueNoLiveExecutors",
    }
    expr = {name: a["expr"] for name, a in alerts.items()}
    assert "dbos_queue_oldest_enqueued_age_seconds" in expr["DBOSQueueOldestEnqueuedTooOld"]
    assert 'status="MAX_RECOVERY_ATTEMPTS_EXCEEDED"' in expr["DBOSQueueDeadLetteredWorkflows"]
    assert "dbos_queue_executor_up" in alerts["DBOSQueueNoLiveExecutors"]["expr"]
    for a in alerts.values():
        assert f'job="{FULLNAME}"' in a["expr"]
        assert a["labels"]["severity"]
        assert "{{ $labels." in a["annotations"]["summary"]  # escaped through tpl


def test_grafana_dashboard_configmap_ships_the_dashboard_json():
    docs = render(ci("keda-prometheus"))
    (cm,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["dbos-queue.json"]) == json.loads(DASHBOARD.read_text())


@pytest.mark.parametrize("values", BAD_VALUES, ids=ids(BAD_VALUES))
def test_bad_values_fail_with_a_message_saying_what_to_fix(values):
    first = values.read_text().splitlines()[0]
    assert first.startswith("# expect: "), values
    proc = helm_template(values)
    assert proc.returncode != 0, f"{values.name} rendered"
    assert first[len("# expect: ") :] in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "sets,expect",
    [
        ((), "database: no database configured"),
        (
            (HELPER, "autoscaling.enabled=true", "workerGroups.default.replicas=0"),
            "replicas is 0 while autoscaling.enabled is true",
        ),
        (
            (
                HELPER,
                "workerDefaults.drainTimeoutSeconds=90",
                "workerDefaults.terminationGracePeriodSeconds=60",
            ),
            "drainTimeoutSeconds (90) is longer than terminationGracePeriodSeconds (60)",
        ),
    ],
)
def test_the_three_named_mistakes_fail_from_the_command_line(sets, expect):
    proc = helm_template(sets=sets)
    assert proc.returncode != 0
    assert expect in proc.stderr, proc.stderr


# --- the dashboard, the alerts and the KEDA query against a real worker ------------------

METRIC = re.compile(r"\bdbos_queue_[A-Za-z0-9_:]*")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


def exported_series_names(exposition: str) -> tuple[set[str], dict[str, str]]:
    """Names a Prometheus server would store from this exposition, and each family's type.

    A counter family ``x`` is stored as ``x_total``, a histogram ``h`` as ``h_bucket``,
    ``h_sum`` and ``h_count``: a query must use those, never the bare family name.
    """
    names: set[str] = set()
    types: dict[str, str] = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(None, 3)
            types[family] = kind
            names.update(family + s for s in SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names, types


def dashboard_expressions() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"dashboard panel {p['title']!r}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for var in dash["templating"]["list"]:
        q: Any | None = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if var.get("type") == "query" and q:
            out.append((f"dashboard variable {var['name']}", q))
    return out


def chart_expressions() -> list[tuple[str, str]]:
    docs = render(ci("keda-prometheus"))
    out: list[tuple[str, str]] = []
    for rule in of_kind(docs, "PrometheusRule"):
        for g in rule["spec"]["groups"]:
            for r in g["rules"]:
                out.append((f"alert {r.get('alert') or r.get('record')}", r["expr"]))
    for so in of_kind(docs, "ScaledObject"):
        for t in so["spec"]["triggers"]:
            if t["type"] == "prometheus":
                out.append((f"KEDA query of {so['metadata']['name']}", t["metadata"]["query"]))
    return out


def test_every_expression_uses_dbos_queue_metrics():
    exprs = dashboard_expressions() + chart_expressions()
    assert len(exprs) >= 20
    for where, expr in exprs:
        assert METRIC.search(expr), where
    used = {m for _, e in dashboard_expressions() for m in METRIC.findall(e)}
    # The issue's panels: depth, oldest age, throughput, enqueue-to-start latency, running,
    # takeovers, errors (the completed counter by status).
    for name in (
        "dbos_queue_depth",
        "dbos_queue_oldest_enqueued_age_seconds",
        "dbos_queue_workflows_completed_total",
        "dbos_queue_enqueue_to_start_seconds_bucket",
        "dbos_queue_running",
        "dbos_queue_takeovers_total",
    ):
        assert name in used, name


def test_exported_series_names_handles_suffixes():
    text = (
        "# HELP a_total x\n# TYPE a counter\na_total 1.0\n"
        '# TYPE h histogram\nh_bucket{le="1"} 1.0\nh_count 1.0\nh_sum 0.5\n'
        "# TYPE g gauge\n"
    )
    names, _ = exported_series_names(text)
    assert {"a_total", "h_bucket", "h_sum", "h_count", "g"} <= names
    assert "a" not in names and "h" not in names


@pytest.mark.slow
def test_dashboard_alert_and_keda_metrics_exist_in_a_workers_metrics(app_db, start_worker):
    from dbos_queue import DBOSClient

    w = start_worker("free")
    with DBOSClient(app_db) as client:
        for i in range(3):  # histograms and the completed counter get samples
            client.enqueue(
                {"queue_name": "free", "workflow_name": "timed"}, "free", f"d{i}", 0.01
            ).get_result(timeout=30)
        # Waits on a queue nobody listens to: depth and oldest age get samples too.
        client.enqueue({"queue_name": "glob", "workflow_name": "timed"}, "glob", "waiting", 0.01)
    url = f"http://127.0.0.1:{w.admin_port}/metrics"

    def scrape_with_depth() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        return text if 'dbos_queue_depth{queue="glob"}' in text else ""

    # The queue-state gauges are cached for a second.
    text = wait_until(scrape_with_depth, 10, "the glob queue's depth gauge", every=0.25)
    exported, types = exported_series_names(text)
    assert 'dbos_queue_depth{queue="glob"} 1.0' in text
    assert types["dbos_queue_enqueue_to_start_seconds"] == "histogram"

    missing = []
    for where, expr in dashboard_expressions() + chart_expressions():
        for name in METRIC.findall(expr):
            if name not in exported:
                missing.append(f"{where}: {name}")
    assert not missing, (
        "not exported by a worker:\n"
        + "\n".join(missing)
        + f"\nexported: {sorted(n for n in exported if n.startswith('dbos_queue_'))}"
    )


# --- the image and the chart agree -----------------------------------------------------

DOCKERFILE = ROOT / "workers" / "Dockerfile"


def dockerfile_entrypoint() -> list[str]:
    (line,) = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("ENTRYPOINT ")]
    return json.loads(line[len("ENTRYPOINT ") :])


def test_dockerfile_matches_what_the_chart_runs():
    text = DOCKERFILE.read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    user = re.search(r"^USER (\d+):(\d+)$", text, re.M)
    assert user, "the image runs as a numeric non-root user"
    assert int(user.group(1)) == values["podSecurityContext"]["runAsUser"] != 0
    assert int(user.group(2)) == values["podSecurityContext"]["runAsGroup"]
    assert re.search(rf"^EXPOSE {values['admin']['port']}$", text, re.M)
    assert re.search(r"^ENV DBOS_QUEUE_APP_MODULE=\$\{APP_MODULE\}$", text, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "HOME=/tmp" in text
    entry = dockerfile_entrypoint()
    assert entry[:2] == ["/bin/sh", "-c"]
    assert entry[2].startswith('exec dbos-queue worker "${DBOS_QUEUE_APP_MODULE:?')
    assert entry[2].endswith('"$@"')
    # What the wheel build needs (pyproject: readme, packages, force-included migrations).
    for src in ("pyproject.toml README.md", "dbos_queue", "migrations"):
        assert re.search(rf"^COPY {re.escape(src)} ", text, re.M), src


@pytest.mark.parametrize("values", CI_VALUES, ids=ids(CI_VALUES))
def test_rendered_worker_args_parse_with_the_real_cli(values):
    from dbos_queue.cli import parse

    for d in of_kind(render(values), "Deployment"):
        c = worker_container(d)
        assert "command" not in c  # the image's entry point runs `dbos-queue worker`
        path, ns = parse(["worker", "app.module", *c["args"]])  # bad args raise
        assert path == ["worker"] and ns["app_module"] == "app.module"
        assert ns["admin_port"] == c["ports"][0]["containerPort"]
        assert ns["drain_timeout"] < d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert not ns["no_admin"]


@pytest.mark.slow
def test_the_images_entry_point_with_the_charts_args_runs_and_drains(app_db):
    """The container as the chart describes it, minus the container: the Dockerfile's
    ENTRYPOINT with the rendered args, env and ConfigMap; healthy on the probe path; exits
    0 on SIGTERM well within terminationGracePeriodSeconds."""
    import signal
    import socket
    import sys

    from dbos_queue import DBOSClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    docs = render(
        ci("minimal"),
        sets=(
            f"admin.port={port}",
            "app.module=tests.apps.queue_app",
            "workerGroups.default.queues={free}",
            "workerDefaults.drainTimeoutSeconds=5",
        ),
    )
    (d,) = of_kind(docs, "Deployment")
    (cm,) = of_kind(docs, "ConfigMap")
    c = worker_container(d)
    env = dict(os.environ, QUEUE_APP_URL=app_db, **cm["data"])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for e in c["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
    env["DBOS_SYSTEM_DATABASE_URL"] = app_db  # the Secret's value
    env["DBOS__VMID"] = "rel-dbos-queue-default-abc12"  # metadata.name
    proc = subprocess.Popen(
        [*dockerfile_entrypoint(), *c["args"]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "dbos-queue worker ready" in line, line + must(proc.stderr).read()
        probe = c["readinessProbe"]["httpGet"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe['path']}", timeout=5) as r:
            assert r.status == 200
        with DBOSClient(app_db) as client:
            h = client.enqueue(
                {"queue_name": "free", "workflow_name": "timed"}, "free", "k8s", 0.01
            )
            assert h.get_result(timeout=30) == "k8s"
        grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=grace)
        assert proc.returncode == 0, err
        assert "worker stopped" in out
        assert time.monotonic() - started < grace
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
