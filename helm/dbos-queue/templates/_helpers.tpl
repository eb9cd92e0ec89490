{{/* Names ------------------------------------------------------------------------- */}}

{{- define "dbos-queue.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dbos-queue.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Deployment (and PDB/HPA/ScaledObject) name of a group: dict "root" $ "name" NAME */}}
{{- define "dbos-queue.groupFullname" -}}
{{- printf "%s-%s" (include "dbos-queue.fullname" .root | trunc 40 | trimSuffix "-") .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dbos-queue.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------ */}}

{{- define "dbos-queue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbos-queue.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dbos-queue.labels" -}}
helm.sh/chart: {{ include "dbos-queue.chart" . }}
{{ include "dbos-queue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one group's pods: dict "root" $ "name" NAME */}}
{{- define "dbos-queue.groupSelectorLabels" -}}
{{ include "dbos-queue.selectorLabels" .root }}
app.kubernetes.io/component: worker
dbos-queue/group: {{ .name }}
{{- end }}

{{- define "dbos-queue.groupLabels" -}}
{{ include "dbos-queue.labels" .root }}
app.kubernetes.io/component: worker
dbos-queue/group: {{ .name }}
{{- end }}

{{/* Resources shared by templates ------------------------------------------------- */}}

{{- define "dbos-queue.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret and key holding the database URL (an existing one, or the chart's own). */}}
{{- define "dbos-queue.dbSecretName" -}}
{{- if .Values.database.existingSecret.name }}
{{- .Values.database.existingSecret.name }}
{{- else }}
{{- printf "%s-db" (include "dbos-queue.fullname" .) }}
{{- end }}
{{- end }}

{{- define "dbos-queue.dbSecretKey" -}}
{{- if .Values.database.existingSecret.name }}
{{- .Values.database.existingSecret.key | default "url" }}
{{- else }}
{{- "url" }}
{{- end }}
{{- end }}

{{/* The Secret key holding the direct LISTEN URL; empty when none is configured. */}}
{{- define "dbos-queue.listenSecretKey" -}}
{{- if .Values.database.existingSecret.name }}
{{- .Values.database.existingSecret.listenKey }}
{{- else if .Values.database.listenUrl }}
{{- "listenUrl" }}
{{- end }}
{{- end }}

{{/* The Secret and key holding the admin token (an existing one, or the chart's own). */}}
{{- define "dbos-queue.adminTokenSecretName" -}}
{{- if .Values.admin.token.create }}
{{- printf "%s-admin-token" (include "dbos-queue.fullname" .) }}
{{- else }}
{{- .Values.admin.token.existingSecret.name }}
{{- end }}
{{- end }}

{{- define "dbos-queue.adminTokenSecretKey" -}}
{{- if .Values.admin.token.create }}
{{- "token" }}
{{- else }}
{{- .Values.admin.token.existingSecret.key | default "token" }}
{{- end }}
{{- end }}

{{- define "dbos-queue.configMapName" -}}
{{- printf "%s-env" (include "dbos-queue.fullname" .) }}
{{- end }}

{{/* PromQL label matchers selecting this release's workers. */}}
{{- define "dbos-queue.metricsSelector" -}}
{{- if .Values.metricsSelector }}
{{- .Values.metricsSelector }}
{{- else }}
{{- printf "namespace=%q, job=%q" .Release.Namespace (include "dbos-queue.fullname" .) }}
{{- end }}
{{- end }}

{{/* Environment that makes a read-only root filesystem work: HOME and XDG dirs on /tmp. */}}
{{- define "dbos-queue.writableEnv" -}}
- name: HOME
  value: /tmp
- name: XDG_CACHE_HOME
  value: /tmp/.cache
- name: XDG_CONFIG_HOME
  value: /tmp/.config
- name: XDG_DATA_HOME
  value: /tmp/.local/share
- name: XDG_RUNTIME_DIR
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
{{- end }}

{{/* Database environment of the workers and the migration Job. */}}
{{- define "dbos-queue.databaseEnv" -}}
- name: DBOS_SYSTEM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dbos-queue.dbSecretName" . }}
      key: {{ include "dbos-queue.dbSecretKey" . }}
{{- if .Values.database.pgbouncer }}
# PgBouncer (transaction pooling): no server-side prepared statements.
- name: DBOS_QUEUE_PREPARE_THRESHOLD
  value: "off"
{{- end }}
{{- end }}

{{/* Environment of the workers only: the LISTEN connection and the admin token. */}}
{{- define "dbos-queue.workerEnv" -}}
# Required by every admin route but /dbos-healthz and /metrics.
- name: DBOS_QUEUE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "dbos-queue.adminTokenSecretName" . }}
      key: {{ include "dbos-queue.adminTokenSecretKey" . }}
{{- $listenKey := include "dbos-queue.listenSecretKey" . }}
{{- if not .Values.database.useListenNotify }}
# No LISTEN connection: workers find new work by polling.
- name: DBOS_QUEUE_USE_LISTEN_NOTIFY
  value: "false"
{{- else if $listenKey }}
# A direct Postgres URL for the one LISTEN connection of the process.
- name: DBOS_QUEUE_LISTEN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dbos-queue.dbSecretName" . }}
      key: {{ $listenKey }}
{{- end }}
{{- end }}

{{/*
One group, merged over workerDefaults, as YAML: dict "root" $ "name" NAME "group" VALUES.
Also resolves the group's effective autoscaling, keda and podDisruptionBudget settings
and its termination grace period.
*/}}
{{- define "dbos-queue.group" -}}
{{- $root := .root }}
{{- $g := mergeOverwrite (deepCopy $root.Values.workerDefaults) (deepCopy (.group | default dict)) }}
{{- $_ := set $g "autoscaling" (mergeOverwrite (deepCopy $root.Values.autoscaling) (deepCopy ($g.autoscaling | default dict))) }}
{{- $_ = set $g "keda" (mergeOverwrite (deepCopy $root.Values.keda) (deepCopy ($g.keda | default dict))) }}
{{- /* PDB: a layer (workerDefaults, then the group) that sets only minAvailable replaces maxUnavailable */}}
{{- $pdb := deepCopy $root.Values.podDisruptionBudget }}
{{- range $layer := list ($root.Values.workerDefaults.podDisruptionBudget | default dict) ((.group | default dict).podDisruptionBudget | default dict) }}
{{- if and (not (kindIs "invalid" $layer.minAvailable)) (kindIs "invalid" $layer.maxUnavailable) }}
{{- $_ := unset $pdb "maxUnavailable" }}
{{- end }}
{{- $pdb = mergeOverwrite $pdb (deepCopy $layer) }}
{{- end }}
{{- $_ = set $g "podDisruptionBudget" $pdb }}
{{- $drain := float64 (default 0 $g.drainTimeoutSeconds) }}
{{- if kindIs "invalid" $g.terminationGracePeriodSeconds }}
{{- $_ = set $g "grace" (add (ceil $drain) (int (default 15 $g.terminationGraceMarginSeconds))) }}
{{- else }}
{{- $_ = set $g "grace" (int $g.terminationGracePeriodSeconds) }}
{{- end }}
{{- $_ = set $g "name" .name }}
{{- toYaml $g }}
{{- end }}

{{/* PromQL: the backlog (depth, plus running if asked) of a group's queues. */}}
{{- define "dbos-queue.kedaPromQuery" -}}
{{- $root := .root }}
{{- $g := .g }}
{{- $sel := include "dbos-queue.metricsSelector" $root }}
{{- $queueMatch := `queue=~".+"` }}
{{- if $g.queues }}
{{- $alts := list }}
{{- range $g.queues }}
{{- $alts = append $alts (regexQuoteMeta . | replace `\` `\\`) }}
{{- end }}
{{- $queueMatch = printf "queue=~\"%s\"" (join "|" $alts) }}
{{- end }}
{{- $depth := printf "sum(max by (queue) (dbos_queue_depth{%s, %s}))" $sel $queueMatch }}
{{- if $g.keda.includeRunning }}
{{- printf "(%s or vector(0)) + (sum(max by (queue) (dbos_queue_running{%s, %s})) or vector(0))" $depth $sel $queueMatch }}
{{- else }}
{{- printf "%s or vector(0)" $depth }}
{{- end }}
{{- end }}

{{/* SQL for KEDA's postgresql trigger: the backlog of a group's queues. */}}
{{- define "dbos-queue.kedaSqlQuery" -}}
{{- $g := .g }}
{{- $statuses := "'ENQUEUED'" }}
{{- if $g.keda.includeRunning }}
{{- $statuses = "'ENQUEUED', 'PENDING'" }}
{{- end }}
{{- $where := "queue_name IS NOT NULL" }}
{{- if $g.queues }}
{{- $names := list }}
{{- range $g.queues }}
{{- $names = append $names (printf "'%s'" (replace "'" "''" .)) }}
{{- end }}
{{- $where = printf "queue_name IN (%s)" (join ", " $names) }}
{{- end }}
{{- printf "SELECT count(*) FROM dbos.workflow_status WHERE status IN (%s) AND %s" $statuses $where }}
{{- end }}
