"""Every DML statement dbos_queue runs, as named constants.

DDL lives in ``migrations/``. Statements take positional ``%s`` parameters in
the order their comment gives. Writes on a workflow that a process executes are
*fenced*: they name the ``owner_xid`` token the writer was given when it started
or claimed the workflow, and touch nothing when another execution owns it now.
"""

from __future__ import annotations

from typing import Final

# --- migrations -------------------------------------------------------------

# One lock id for the whole schema; transaction-scoped so PgBouncer in
# transaction mode cannot leak it.
MIGRATION_LOCK: Final = "SELECT pg_advisory_xact_lock(4735032143901385)"
MIGRATIONS_TABLE: Final = (
    "CREATE SCHEMA IF NOT EXISTS dbos;"
    " CREATE TABLE IF NOT EXISTS dbos.dbos_migrations (version bigint PRIMARY KEY)"
)
MIGRATIONS_APPLIED: Final = "SELECT version FROM dbos.dbos_migrations"
MIGRATION_RECORD: Final = "INSERT INTO dbos.dbos_migrations (version) VALUES (%s)"
MIGRATIONS_CURRENT: Final = "SELECT max(version) AS version FROM dbos.dbos_migrations"

# DBOS.migrate(url, application_role=...): what an application role needs on the system
# schema, now and for objects later migrations create ({role} composed as an identifier).
SYSTEM_SCHEMA_GRANTS: Final = (
    "GRANT USAGE ON SCHEMA dbos TO {role}",
    "GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA dbos TO {role}",
    "GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA dbos TO {role}",
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dbos TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA dbos GRANT ALL ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA dbos GRANT ALL ON SEQUENCES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA dbos GRANT EXECUTE ON FUNCTIONS TO {role}",
)

# --- notifications -------------------------------------------------------------

# (channels text[], payloads text[]) - one notifying statement for a whole batch.
NOTIFY_MANY: Final = "SELECT pg_notify(c, p) FROM unnest(%b::text[], %b::text[]) AS t(c, p)"

# --- executors (leases) --------------------------------------------------------

REGISTER_EXECUTOR: Final = """
INSERT INTO dbos.executors (process_id, executor_id, hostname, pid, application_version,
                            started_at_epoch_ms, heartbeat_at_epoch_ms, lease_expires_at_epoch_ms)
VALUES (%(process_id)s, %(executor_id)s, %(hostname)s, %(pid)s, %(app_version)s,
        %(now)s, %(now)s, %(now)s + %(lease_ms)s)
ON CONFLICT (process_id) DO UPDATE
   SET heartbeat_at_epoch_ms = EXCLUDED.heartbeat_at_epoch_ms,
       lease_expires_at_epoch_ms = EXCLUDED.lease_expires_at_epoch_ms
"""

# Extends the lease; returns nothing once another process has declared us dead
# (MARK_DEAD_EXECUTORS set the lease to 0, or the row is gone). A lease that merely
# lapsed (the process was paused, the database was down) is renewed: nothing can have
# been taken from a process that nobody declared dead. The row lock orders this
# against MARK_DEAD_EXECUTORS, so exactly one of the two wins.
HEARTBEAT: Final = """
UPDATE dbos.executors
   SET heartbeat_at_epoch_ms = %(now)s, lease_expires_at_epoch_ms = %(now)s + %(lease_ms)s
 WHERE process_id = %(process_id)s AND lease_expires_at_epoch_ms > 0
RETURNING process_id
"""

UNREGISTER_EXECUTOR: Final = "DELETE FROM dbos.executors WHERE process_id = %s"

LOCAL_EXECUTORS: Final = (
    "SELECT process_id, pid FROM dbos.executors WHERE hostname = %s AND process_id <> %s"
)

# Operator-requested recovery: these executors' processes count as dead now.
EXPIRE_EXECUTOR_IDS: Final = """
UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0
 WHERE executor_id = ANY(%s) AND process_id <> %s
"""

EXPIRE_EXECUTORS: Final = (
    "UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0 WHERE process_id = ANY(%s)"
)


# Application versions (0011, DBOS's rule): a worker dequeues and recovers only the
# workflows of its own application version, and those without a version (enqueued by a
# client or the SQL producer) while it runs the latest version of its application.
def _runs_here(column: str) -> str:
    """Whether this worker (%(app_version)s of %(app_name)s) may run a row: its own version,
    or no version when it runs the latest one (an uncorrelated subquery: planned once)."""
    latest = (
        "coalesce((SELECT av.version_name FROM dbos.application_versions av"
        " WHERE av.application_name IS NULL OR av.application_name = %(app_name)s"
        " ORDER BY av.version_timestamp DESC, av.version_id LIMIT 1),"
        " %(app_version)s) = %(app_version)s"
    )
    return f"({column} = %(app_version)s OR ({column} IS NULL AND {latest}))"


RUNS_HERE: Final = _runs_here("application_version")


def _claimable_here(column: str) -> str:
    """``_runs_here`` for picking a claim's rows: "runs the latest version" comes as
    %(is_latest)s (queue/version_gate.py, cached for a second), so the planner keeps the
    partial index's ordered scan; the claim's UPDATE then applies the exact rule, so a
    stale answer can only delay an unversioned workflow, never run it on the wrong
    version."""
    return f"({column} = %(app_version)s OR (%(is_latest)s AND {column} IS NULL))"


# --- workflow status ----------------------------------------------------------

STATUS_COLUMNS: Final = """workflow_uuid, status, name, class_name, config_name, authenticated_user,
 assumed_role, authenticated_roles, request, output, error, executor_id, application_version,
 application_id, created_at, updated_at, recovery_attempts, queue_name, workflow_timeout_ms,
 workflow_deadline_epoch_ms, inputs, started_at_epoch_ms, deduplication_id, priority,
 queue_partition_key, forked_from, owner_xid, delay_until_epoch_ms, parent_workflow_id,
 was_forked_from, completed_at, attributes, schedule_name, application_name, shard_key,
 parent_shard_key"""

# Insert the workflow's row unless its id exists. Returns one row:
# inserted=true when this call created it (and so owns it, owner_xid = %(owner)s);
# otherwise the existing row, for the caller to compare names and read results.
# An empty result means the conflicting row was committed after this statement's
# snapshot: run it again.
INIT_WORKFLOW: Final = """
WITH ins AS (
  INSERT INTO dbos.workflow_status (
      workflow_uuid, status, name, class_name, config_name, authenticated_user, assumed_role,
      authenticated_roles, executor_id, application_version, application_id, queue_name,
      workflow_timeout_ms, workflow_deadline_epoch_ms, inputs, started_at_epoch_ms,
      deduplication_id, priority, queue_partition_key, owner_xid, recovery_attempts,
      created_at, updated_at, delay_until_epoch_ms, parent_workflow_id, application_name,
      attributes, schedule_name, shard_key, parent_shard_key,
      serialization, is_debounced, debounce_deadline_epoch_ms, creator_xid)
  VALUES (%(id)s, %(status)s, %(name)s, %(class_name)s, %(config_name)s, %(user)s,
      %(assumed_role)s, %(roles)s, %(executor_id)s, %(app_version)s, %(app_id)s, %(queue)s,
      %(timeout_ms)s, %(deadline_ms)s, %(inputs)s, %(started_ms)s, %(dedup_id)s, %(priority)s,
      %(partition_key)s, %(owner)s, %(attempts)s, %(now)s, %(now)s, %(delay_until)s,
      %(parent_id)s, %(app_name)s, %(attributes)s::jsonb, %(schedule_name)s, %(shard_key)s,
      -- a child records its parent's shard key (0008): read it from the parent's row
      (SELECT p.shard_key FROM dbos.workflow_status p WHERE p.workflow_uuid = %(parent_id)s),
      -- 0011: the inputs' format; a debounced workflow's flag and deadline
      %(serialization)s, %(is_debounced)s, %(debounce_deadline)s,
      -- 0013: the creating call's token (set under workflow_id_reuse_policy "reject")
      %(creator)s)
  ON CONFLICT DO NOTHING
  RETURNING workflow_uuid
)
SELECT true AS inserted, NULL::text AS status, NULL::text AS name, NULL::text AS owner,
       NULL::text AS output, NULL::text AS error, NULL::text AS queue_name FROM ins
UNION ALL
SELECT false, ws.status, ws.name, ws.owner_xid, ws.output, ws.error, ws.queue_name
  FROM dbos.workflow_status ws
 WHERE ws.workflow_uuid = %(id)s AND NOT EXISTS (SELECT 1 FROM ins)
"""

# The token of the call that created a workflow's row (0013), to tell a retried insert
# of our own from a workflow id already in use (workflow_id_reuse_policy "reject").
WORKFLOW_CREATOR: Final = """
SELECT creator_xid FROM dbos.workflow_status WHERE workflow_uuid = %s
"""

# Which unique constraint an INIT conflict hit when the id itself is free.
DEDUP_HOLDER: Final = """
SELECT workflow_uuid FROM dbos.workflow_status
 WHERE queue_name = %s AND deduplication_id = %s
"""

# Take over a PENDING workflow whose owner was declared dead (lease 0 or no row) or
# that has no owner. Fenced on the owner read in the same snapshot (``cur``): when two
# takers race, the second re-checks the row after the first commits, finds another
# owner and takes nothing - even when the winner registered after its snapshot.
# Idempotent for its own token: a retry after a lost reply gets the row back (and
# does not count a second attempt) instead of stranding a workflow it already owns.
TAKEOVER_WORKFLOW: Final = """
WITH cur AS (
  SELECT ws.owner_xid FROM dbos.workflow_status ws
   WHERE ws.workflow_uuid = %(id)s AND ws.status = 'PENDING'
     AND (ws.owner_xid IS NULL OR ws.owner_xid = %(owner)s OR NOT EXISTS (
          SELECT 1 FROM dbos.executors e
           WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
             AND e.lease_expires_at_epoch_ms > 0))
)
UPDATE dbos.workflow_status ws
   SET owner_xid = %(owner)s, executor_id = %(executor_id)s,
       recovery_attempts = ws.recovery_attempts
           + CASE WHEN ws.owner_xid IS NOT DISTINCT FROM %(owner)s THEN 0 ELSE 1 END,
       updated_at = %(now)s
  FROM cur
 WHERE ws.workflow_uuid = %(id)s AND ws.status = 'PENDING'
   AND ws.owner_xid IS NOT DISTINCT FROM cur.owner_xid
RETURNING ws.recovery_attempts, ws.name
"""

# PENDING workflows of this executor id whose owning process was declared dead (or
# that have no owner). Ownership is the process lease, not the executor id: a live
# process sharing the id (rolling restart, one DBOS__VMID for every pod) keeps its own.
RECOVERABLE_FOR_EXECUTOR: Final = (
    """
SELECT ws.workflow_uuid FROM dbos.workflow_status ws
 WHERE ws.status = 'PENDING' AND ws.executor_id = ANY(%(executor_ids)b::text[])
   AND """
    + _runs_here("ws.application_version")
    + """
   AND (ws.owner_xid IS NULL OR NOT EXISTS (
        SELECT 1 FROM dbos.executors e
         WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
           AND e.lease_expires_at_epoch_ms > 0))
 ORDER BY ws.created_at
"""
)

MARK_MAX_RECOVERY: Final = """
UPDATE dbos.workflow_status
   SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', updated_at = %(now)s, owner_xid = NULL,
       completed_at = %(now)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
"""


# A workflow past its deadline cancels itself (only while it still owns the row).
CANCEL_OWNED: Final = """
UPDATE dbos.workflow_status SET status = 'CANCELLED', updated_at = %(now)s, completed_at = %(now)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
"""

# Why a fenced write touched nothing.
FENCE_STATE: Final = """
SELECT status, owner_xid, workflow_deadline_epoch_ms FROM dbos.workflow_status
 WHERE workflow_uuid = %s
"""

GET_STATUS: Final = (
    "SELECT " + STATUS_COLUMNS + " FROM dbos.workflow_status WHERE workflow_uuid = %s"
)

GET_RESULT: Final = (
    "SELECT status, output, error FROM dbos.workflow_status WHERE workflow_uuid = %s"
)

# --- operation outputs -----------------------------------------------------------

LOAD_OPERATIONS: Final = """
SELECT function_id, function_name, output, error, child_workflow_id
  FROM dbos.operation_outputs WHERE workflow_uuid = %s
"""


# Record one operation's result, only while %(owner)s owns the PENDING workflow.
# FOR SHARE makes a concurrent takeover (an UPDATE of owner_xid) wait for us, or
# us re-check against its new owner, so a stale owner can never slip a write in.
RECORD_OPERATION: Final = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, output, error,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT ws.workflow_uuid, %(fid)s, %(fname)s, %(output)s, %(error)s, %(child)s, %(started)s, %(now)s
  FROM dbos.workflow_status ws
 WHERE ws.workflow_uuid = %(id)s AND ws.owner_xid = %(owner)s AND ws.status = 'PENDING'
   FOR SHARE
ON CONFLICT DO NOTHING
RETURNING function_id
"""

LIST_STEPS: Final = """
SELECT function_id, function_name, output, error, child_workflow_id, started_at_epoch_ms,
       completed_at_epoch_ms
  FROM dbos.operation_outputs WHERE workflow_uuid = %s ORDER BY function_id
"""

# --- messages ------------------------------------------------------------------

# (destination, topic, message, message_uuid): a NULL uuid takes the column default; an
# idempotency key gives "<key>::<destination>", and a second send with it inserts nothing.
SEND_MESSAGE: Final = """
INSERT INTO dbos.notifications (destination_uuid, topic, message, message_uuid)
VALUES (%s, %s, %s, coalesce(%s, gen_random_uuid()::text))
ON CONFLICT (message_uuid) DO NOTHING
"""

# Oldest unread message for (destination, topic, recv's function id), marked consumed
# (not deleted, so its idempotency key keeps refusing duplicates; 0008).
CONSUME_MESSAGE: Final = """
UPDATE dbos.notifications SET consumed = true, consumed_by_function_id = %s
 WHERE message_uuid = (
    SELECT message_uuid FROM dbos.notifications
     WHERE destination_uuid = %s AND topic = %s AND NOT consumed
     ORDER BY created_at_epoch_ms, seq  -- seq: send order within one millisecond (0012)
     LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING message
"""

# --- events --------------------------------------------------------------------

SET_EVENT: Final = """
INSERT INTO dbos.workflow_events (workflow_uuid, key, value) VALUES (%s, %s, %s)
ON CONFLICT (workflow_uuid, key) DO UPDATE SET value = EXCLUDED.value
"""

SET_EVENT_HISTORY: Final = """
INSERT INTO dbos.workflow_events_history (workflow_uuid, function_id, key, value)
VALUES (%s, %s, %s, %s)
ON CONFLICT (workflow_uuid, function_id, key) DO UPDATE SET value = EXCLUDED.value
"""

GET_EVENT: Final = "SELECT value FROM dbos.workflow_events WHERE workflow_uuid = %s AND key = %s"

GET_ALL_EVENTS: Final = "SELECT key, value FROM dbos.workflow_events WHERE workflow_uuid = %s"

# --- streams -------------------------------------------------------------------

WRITE_STREAM: Final = """
INSERT INTO dbos.streams (workflow_uuid, key, value, "offset", function_id)
SELECT %(id)s, %(key)s, %(value)s,
       coalesce((SELECT max("offset") + 1 FROM dbos.streams
                  WHERE workflow_uuid = %(id)s AND key = %(key)s), 0),
       %(fid)s
"""

READ_STREAM: Final = """
SELECT value, "offset" FROM dbos.streams
 WHERE workflow_uuid = %s AND key = %s AND "offset" >= %s ORDER BY "offset"
"""

# --- workflow transactions in the application database ---------------------------

APP_TX_OUTPUT_GET: Final = """
SELECT output, error FROM dbos.transaction_outputs WHERE workflow_uuid = %s AND function_id = %s
"""

APP_TX_OUTPUT_PUT: Final = """
INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error, function_name,
                                      created_at_epoch_ms)
VALUES (%s, %s, %s, %s, %s, %s)
"""

# rewind_workflow: the outputs of the transactions it re-runs (step ids from %s on) go,
# or their re-run would replay the old output instead of running (DBOS 3.4).
APP_TX_OUTPUTS_DELETE_FROM: Final = """
DELETE FROM dbos.transaction_outputs WHERE workflow_uuid = %s AND function_id >= %s
"""
# The same for a datasource's outputs table ({schema} composed as an identifier).
DATASOURCE_OUTPUTS_DELETE_FROM: Final = """
DELETE FROM {schema}.datasource_outputs WHERE workflow_id = %s AND step_id >= %s
"""

# --- queues -------------------------------------------------------------------------

QUEUE_COLUMNS: Final = """name, global_concurrency, worker_concurrency, rate_limit_max,
 rate_limit_period_sec, partition_concurrency, partition_worker_concurrency,
 partition_rate_limit_max, partition_rate_limit_period_sec, polling_interval_sec, paused, source"""

# The limits a declaration stores (the insert's columns after name, then its values, then
# the SET list that refreshes them), shared by UPSERT_QUEUE and REGISTER_QUEUE.
_QUEUE_DECLARED_COLUMNS = """global_concurrency, worker_concurrency, rate_limit_max,
    rate_limit_period_sec, partition_concurrency, partition_worker_concurrency,
    partition_rate_limit_max, partition_rate_limit_period_sec, polling_interval_sec"""
_QUEUE_DECLARED_VALUES = """%(global_concurrency)s, %(worker_concurrency)s, %(rate_limit_max)s,
    %(rate_limit_period_sec)s, %(partition_concurrency)s, %(partition_worker_concurrency)s,
    %(partition_rate_limit_max)s, %(partition_rate_limit_period_sec)s, %(polling_interval_sec)s"""
_QUEUE_DECLARED_SET = """
    global_concurrency = EXCLUDED.global_concurrency,
    worker_concurrency = EXCLUDED.worker_concurrency,
    rate_limit_max = EXCLUDED.rate_limit_max,
    rate_limit_period_sec = EXCLUDED.rate_limit_period_sec,
    partition_concurrency = EXCLUDED.partition_concurrency,
    partition_worker_concurrency = EXCLUDED.partition_worker_concurrency,
    partition_rate_limit_max = EXCLUDED.partition_rate_limit_max,
    partition_rate_limit_period_sec = EXCLUDED.partition_rate_limit_period_sec,
    polling_interval_sec = EXCLUDED.polling_interval_sec,
    updated_at_epoch_ms = (EXTRACT(EPOCH FROM now()) * 1000)::bigint"""

# Declared in code: insert, or refresh values an operator has not overridden.
UPSERT_QUEUE: Final = (
    "\nINSERT INTO dbos.queues (name, "
    + _QUEUE_DECLARED_COLUMNS
    + ")\nVALUES (%(name)s, "
    + _QUEUE_DECLARED_VALUES
    + ")\nON CONFLICT (name) DO UPDATE SET"
    + _QUEUE_DECLARED_SET
    + "\nWHERE dbos.queues.source = 'code'\n"
)

# register_queue(on_conflict=...), DBOS 3.x: %(overwrite)s ("always_update", or
# "update_if_latest_version" from the latest version) replaces every limit, runtime
# changes included; otherwise ("never_update") only a missing row is inserted. The owner
# %(owner)s claims an unclaimed row; a row another application owns is left untouched
# (the caller reads it back and refuses the name, as DBOS does).
REGISTER_QUEUE: Final = (
    "\nINSERT INTO dbos.queues (name, "
    + _QUEUE_DECLARED_COLUMNS
    + ", application_name)\nVALUES (%(name)s, "
    + _QUEUE_DECLARED_VALUES
    + ", %(owner)s)\nON CONFLICT (name) DO UPDATE SET"
    + _QUEUE_DECLARED_SET
    + """,
    source = 'code',
    application_name = coalesce(dbos.queues.application_name, EXCLUDED.application_name)
WHERE %(overwrite)s AND (dbos.queues.application_name IS NULL
    OR EXCLUDED.application_name IS NULL
    OR dbos.queues.application_name = EXCLUDED.application_name)
"""
)

# An operator's change at runtime; workers pick it up on their next claim/refresh.
SET_QUEUE_LIMITS: Final = """
UPDATE dbos.queues SET
    global_concurrency = CASE WHEN %(set_global)s THEN %(global_concurrency)s
        ELSE global_concurrency END,
    worker_concurrency = CASE WHEN %(set_worker)s THEN %(worker_concurrency)s
        ELSE worker_concurrency END,
    rate_limit_max = CASE WHEN %(set_rate)s THEN %(rate_limit_max)s ELSE rate_limit_max END,
    rate_limit_period_sec = CASE WHEN %(set_rate)s THEN %(rate_limit_period_sec)s
        ELSE rate_limit_period_sec END,
    partition_concurrency = CASE WHEN %(set_pconc)s
        THEN %(partition_concurrency)s ELSE partition_concurrency END,
    partition_worker_concurrency = CASE WHEN %(set_pworker)s
        THEN %(partition_worker_concurrency)s ELSE partition_worker_concurrency END,
    partition_rate_limit_max = CASE WHEN %(set_prate)s
        THEN %(partition_rate_limit_max)s ELSE partition_rate_limit_max END,
    partition_rate_limit_period_sec = CASE WHEN %(set_prate)s
        THEN %(partition_rate_limit_period_sec)s ELSE partition_rate_limit_period_sec END,
    polling_interval_sec = coalesce(%(polling_interval_sec)s, polling_interval_sec),
    paused = coalesce(%(paused)s, paused),
    source = 'runtime',
    updated_at_epoch_ms = (EXTRACT(EPOCH FROM now()) * 1000)::bigint
WHERE name = %(name)s
RETURNING name
"""

GET_QUEUE: Final = "SELECT " + QUEUE_COLUMNS + " FROM dbos.queues WHERE name = %s"
LIST_QUEUES: Final = "SELECT " + QUEUE_COLUMNS + " FROM dbos.queues ORDER BY name"

# Depth, running and oldest enqueued age per queue (for `queue list` and metrics).
QUEUE_STATS: Final = """
SELECT queue_name,
       count(*) FILTER (WHERE status = 'ENQUEUED') AS depth,
       count(*) FILTER (WHERE status = 'PENDING') AS running,
       count(*) FILTER (WHERE status = 'DELAYED') AS delayed,
       min(created_at) FILTER (WHERE status = 'ENQUEUED') AS oldest
  FROM dbos.workflow_status
 WHERE status IN ('ENQUEUED', 'PENDING', 'DELAYED') AND queue_name IS NOT NULL
 GROUP BY queue_name
"""

# Serialises the claimers of one queue only when it has fleet-wide limits, so the
# counts the claim reads next (in a fresh READ COMMITTED snapshot) are exact.
LOCK_LIMITED_QUEUE: Final = """
SELECT 1 AS locked FROM dbos.queues
 WHERE name = %s
   AND (global_concurrency IS NOT NULL OR rate_limit_max IS NOT NULL
        OR partition_concurrency IS NOT NULL OR partition_rate_limit_max IS NOT NULL)
   FOR UPDATE
"""

# The queue-wide part of a claim: the queue's settings (read from the table, so
# runtime changes apply at the next claim), running count (only when a global
# limit exists; index-only on the partial index), starts inside the rolling
# rate-limit window, and the resulting budget (0 while paused).
_CLAIM_BUDGET = """
WITH q AS (
  SELECT global_concurrency, rate_limit_max, rate_limit_period_sec, paused,
         partition_concurrency, partition_rate_limit_max, partition_rate_limit_period_sec
    FROM dbos.queues WHERE name = %(queue)s
), running AS (
  SELECT count(*) AS n FROM dbos.workflow_status
   WHERE queue_name = %(queue)s AND status = 'PENDING'
     AND EXISTS (SELECT 1 FROM q WHERE global_concurrency IS NOT NULL)
), recent AS (
  SELECT count(*) AS n FROM dbos.workflow_status, q
   WHERE queue_name = %(queue)s AND q.rate_limit_max IS NOT NULL
     AND started_at_epoch_ms > %(now)s - (q.rate_limit_period_sec * 1000)::bigint
), budget AS (
  SELECT CASE WHEN coalesce((SELECT paused FROM q), false) THEN 0 ELSE greatest(0, least(
           %(limit)s,
           coalesce((SELECT global_concurrency FROM q) - (SELECT n FROM running), %(limit)s),
           coalesce((SELECT rate_limit_max FROM q) - (SELECT n FROM recent), %(limit)s)))
         END AS n
)"""

# Flip the picked rows to PENDING, stamped with this claim's owner token; a
# timeout starts counting at the first claim.
_CLAIM_UPDATE = (
    """
UPDATE dbos.workflow_status ws
   SET status = 'PENDING', owner_xid = %(owner)s, executor_id = %(executor_id)s,
       application_version = coalesce(ws.application_version, %(app_version)s),
       started_at_epoch_ms = %(now)s, updated_at = %(now)s,
       recovery_attempts = ws.recovery_attempts + 1,
       workflow_deadline_epoch_ms = CASE WHEN ws.workflow_timeout_ms IS NOT NULL
            AND ws.workflow_deadline_epoch_ms IS NULL
           THEN %(now)s + ws.workflow_timeout_ms ELSE ws.workflow_deadline_epoch_ms END
-- = ANY(ARRAY(...)) rather than a join: primary-key lookups whatever the planner
-- guesses about the LIMIT (a join could hash over the whole table).
 WHERE ws.workflow_uuid = ANY(ARRAY(SELECT workflow_uuid FROM picked))
-- the exact version rule (0011): %(is_latest)s in picked may be up to a second old
   AND """
    + _runs_here("ws.application_version")
    + """
-- A claim's commit need not wait for its WAL flush (evaluated once, as an InitPlan):
-- every durable write its worker makes next (a step, the completion) flushes the WAL up
-- to and past this commit, and a claim lost with a crash of Postgres leaves its rows
-- ENQUEUED under their old owner token, so the worker's later writes are refused and
-- the rows are claimed again (DESIGN-NOTES.md 17).
   AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
RETURNING """
    + STATUS_COLUMNS.replace("workflow_uuid,", "ws.workflow_uuid,", 1)
)

# THE claim: up to %(limit)s ENQUEUED workflows of one queue (%(limit)s is the
# claimer's local room: worker concurrency, batch size), within the queue's global
# concurrency and rate limit. Priority then age; SKIP LOCKED lets concurrent
# claimers take disjoint rows without waiting for each other.
CLAIM: Final = (
    _CLAIM_BUDGET
    + """, picked AS (
  SELECT workflow_uuid FROM dbos.workflow_status
   WHERE status = 'ENQUEUED' AND queue_name = %(queue)s AND """
    + _claimable_here("application_version")
    + """
   ORDER BY priority, created_at
   LIMIT (SELECT n FROM budget)
   FOR UPDATE SKIP LOCKED
)"""
    + _CLAIM_UPDATE
)

# The claim for partitioned queues: the same, plus per-partition limits and a fair
# rotation over partition keys (starting after %(cursor)s) so a hot key cannot
# starve the others. %(local)s is a JSON map key -> workflows this process runs.
CLAIM_PARTITIONED: Final = (
    _CLAIM_BUDGET
    + """, keys AS (
  SELECT k.key, row_number() OVER (ORDER BY (k.key > %(cursor)s) DESC, k.key) AS turn
    FROM (SELECT DISTINCT queue_partition_key AS key FROM dbos.workflow_status
           WHERE status = 'ENQUEUED' AND queue_name = %(queue)s AND """
    + _claimable_here("application_version")
    + """
             AND queue_partition_key IS NOT NULL) k
   ORDER BY turn LIMIT %(max_keys)s
), room AS (
  SELECT keys.key, keys.turn, greatest(0, least(
      %(limit)s,
      coalesce(q.partition_concurrency - (
          SELECT count(*) FROM dbos.workflow_status r
           WHERE r.queue_name = %(queue)s AND r.status = 'PENDING'
             AND r.queue_partition_key = keys.key), %(limit)s),
      coalesce(q.partition_rate_limit_max - (
          SELECT count(*) FROM dbos.workflow_status r
           WHERE r.queue_name = %(queue)s AND r.queue_partition_key = keys.key
             AND r.started_at_epoch_ms
                 > %(now)s - (q.partition_rate_limit_period_sec * 1000)::bigint),
          %(limit)s),
      coalesce(%(partition_worker_limit)s - coalesce((%(local)s::jsonb ->> keys.key)::int, 0),
          %(limit)s))) AS n
    FROM keys, q
), candidates AS (
  SELECT c.workflow_uuid, c.priority, c.created_at, room.turn
    FROM room CROSS JOIN LATERAL (
      SELECT w.workflow_uuid, w.priority, w.created_at FROM dbos.workflow_status w
       WHERE w.status = 'ENQUEUED' AND w.queue_name = %(queue)s AND """
    + _claimable_here("w.application_version")
    + """
         AND w.queue_partition_key = room.key
       ORDER BY w.priority, w.created_at
       LIMIT room.n
       FOR UPDATE SKIP LOCKED) c
), picked AS (
  -- Round robin: every partition's first row before any partition's second.
  SELECT workflow_uuid FROM (
      SELECT workflow_uuid, turn,
             row_number() OVER (PARTITION BY turn ORDER BY priority, created_at) AS rn
        FROM candidates) x
   ORDER BY rn, turn
   LIMIT (SELECT n FROM budget)
)"""
    + _CLAIM_UPDATE
)

# Delayed workflows whose time has come become claimable.
PROMOTE_DELAYED: Final = """
UPDATE dbos.workflow_status SET status = 'ENQUEUED', updated_at = %(now)s,
       -- a debounced workflow frees its debounce key once it is committed to running (0011)
       deduplication_id = CASE WHEN is_debounced THEN NULL ELSE deduplication_id END
 WHERE status = 'DELAYED' AND delay_until_epoch_ms <= %(now)s
RETURNING queue_name
"""

NEXT_DELAYED: Final = """
SELECT min(delay_until_epoch_ms) AS next_delayed FROM dbos.workflow_status WHERE status = 'DELAYED'
"""

# Queued PENDING workflows of processes declared dead go back to their queue. Fenced
# on the owner seen in the statement's snapshot (``dead``): a row that another reaper
# requeued and a live worker claimed meanwhile has a new owner and is left alone.
REQUEUE_DEAD_OWNERS: Final = """
WITH dead AS (
  SELECT ws.workflow_uuid, ws.owner_xid FROM dbos.workflow_status ws
   WHERE ws.status = 'PENDING' AND ws.queue_name IS NOT NULL AND ws.owner_xid IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM dbos.executors e
                      WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
                        AND e.lease_expires_at_epoch_ms > 0)
)
UPDATE dbos.workflow_status ws
   SET status = 'ENQUEUED', owner_xid = NULL, executor_id = NULL, updated_at = %(now)s
  FROM dead
 WHERE ws.workflow_uuid = dead.workflow_uuid AND ws.owner_xid = dead.owner_xid
   AND ws.status = 'PENDING'
RETURNING ws.queue_name, ws.workflow_uuid
"""

# Non-queued PENDING workflows whose owner was declared dead (any executor id), of
# the functions this process can run (%(names)s): rows no process here can run must
# not fill the page and hide the ones it can.
ORPHANED_DIRECT: Final = (
    """
SELECT ws.workflow_uuid FROM dbos.workflow_status ws
 WHERE ws.status = 'PENDING' AND ws.queue_name IS NULL AND ws.name = ANY(%(names)b::text[])
   AND """
    + _runs_here("ws.application_version")
    + """
   AND (ws.owner_xid IS NULL OR NOT EXISTS (
        SELECT 1 FROM dbos.executors e
         WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
           AND e.lease_expires_at_epoch_ms > 0))
 ORDER BY ws.created_at
 LIMIT 100
"""
)

# Drain: hand this process's unfinished work back; its late writes are then fenced.
RELEASE_OWNED: Final = """
UPDATE dbos.workflow_status
   SET status = CASE WHEN queue_name IS NOT NULL THEN 'ENQUEUED' ELSE status END,
       owner_xid = NULL,
       executor_id = CASE WHEN queue_name IS NOT NULL THEN NULL ELSE executor_id END,
       updated_at = %(now)s
 WHERE status = 'PENDING' AND owner_xid LIKE %(prefix)s
RETURNING workflow_uuid, queue_name
"""

PURGE_OLD_EXECUTORS: Final = "DELETE FROM dbos.executors WHERE lease_expires_at_epoch_ms < %s"

# --- reliability: declaring processes dead, lost replies, hand-back --------------------

# Declare dead the processes whose lease lapsed (other than the caller): from then on
# their heartbeat is refused and their workflows may be taken over. Only this (and
# the operator's EXPIRE_* statements) makes a process dead; a lapsed lease alone does
# not, so a process that was merely slow or cut off renews it on its next heartbeat.
MARK_DEAD_EXECUTORS: Final = """
UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0
 WHERE lease_expires_at_epoch_ms > 0 AND lease_expires_at_epoch_ms < %(now)s
   AND process_id <> %(process_id)s
RETURNING process_id, executor_id
"""

# The rows one claim token holds: a claim retried after a dropped connection first
# picks up what its lost first attempt may have committed.
CLAIMED_BY_OWNER: Final = (
    "SELECT " + STATUS_COLUMNS + " FROM dbos.workflow_status"
    " WHERE owner_xid = %s AND status = 'PENDING'"
)

# PENDING workflows a process holds (token prefix %(prefix)s) since before %(before)s:
# the ones it does not execute were stranded by a reply lost to a dropped connection.
HELD_SINCE: Final = """
SELECT workflow_uuid, owner_xid FROM dbos.workflow_status
 WHERE status = 'PENDING' AND owner_xid LIKE %(prefix)s AND updated_at < %(before)s
"""

# RELEASE_OWNED for exact owner tokens.
RELEASE_TOKENS: Final = """
UPDATE dbos.workflow_status
   SET status = CASE WHEN queue_name IS NOT NULL THEN 'ENQUEUED' ELSE status END,
       owner_xid = NULL,
       executor_id = CASE WHEN queue_name IS NOT NULL THEN NULL ELSE executor_id END,
       updated_at = %(now)s
 WHERE status = 'PENDING' AND owner_xid = ANY(%(tokens)s)
RETURNING workflow_uuid, queue_name
"""

# Many workflows of one function onto one queue in a single round trip.
ENQUEUE_MANY: Final = """
WITH t AS MATERIALIZED (  -- ids made here, once each, in the inputs' order
  -- version-7 UUIDs (model/ids.py): %(now)s's milliseconds, then the random uuid's bits
  SELECT substr(h.ms, 1, 8) || '-' || substr(h.ms, 9, 4) || '-7'
         || substr(gen_random_uuid()::text, 16) AS id, u.inputs, u.ord
    FROM unnest(%(inputs)b::text[]) WITH ORDINALITY AS u(inputs, ord),
         (SELECT lpad(to_hex(%(now)s::bigint), 12, '0') AS ms) AS h
), ins AS (
  INSERT INTO dbos.workflow_status (
      workflow_uuid, status, name, class_name, config_name, queue_name, inputs, priority,
      queue_partition_key, application_version, workflow_timeout_ms, created_at, updated_at,
      recovery_attempts)
  SELECT t.id, 'ENQUEUED', %(name)s, %(class_name)s, %(config_name)s, %(queue)s, t.inputs,
         %(priority)s, %(partition_key)s, %(app_version)s, %(timeout_ms)s,
         %(now)s, %(now)s, 0
    FROM t
)
SELECT coalesce((SELECT array_agg(t.id ORDER BY t.ord) FROM t), '{}') AS ids
"""

# Same as the coalesced engine NOTIFY, for a caller's own transaction.
NOTIFY_QUEUE: Final = "SELECT pg_notify('dbos_queue_channel', %s)"

# --- batched writes (many workflows' records in one statement) ---------------------

# RECORD_OPERATION for many workflows at once; each row fenced on its own owner.
RECORD_OPERATIONS: Final = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, output, error,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT ws.workflow_uuid, t.fid, t.fname, t.output, t.error, t.child, t.started, t.now
  FROM unnest(%(ids)b::text[], %(owners)b::text[], %(fids)b::int[], %(fnames)b::text[],
              %(outputs)b::text[], %(errors)b::text[], %(children)b::text[],
              %(starteds)b::bigint[], %(nows)b::bigint[])
       AS t(id, owner, fid, fname, output, error, child, started, now)
  JOIN dbos.workflow_status ws
    ON ws.workflow_uuid = t.id AND ws.owner_xid = t.owner AND ws.status = 'PENDING'
 WHERE ws.workflow_uuid = ANY(%(ids)b::text[])  -- primary-key lookups, not a scan of PENDING
   FOR SHARE OF ws
ON CONFLICT DO NOTHING
RETURNING workflow_uuid, function_id
"""

# A batch of completions in one statement, each fenced on its owner token.
COMPLETE_WORKFLOWS: Final = """
UPDATE dbos.workflow_status ws
   SET status = t.status, output = t.output, error = t.error, updated_at = t.now,
       deduplication_id = NULL, completed_at = t.now
  FROM unnest(%(ids)b::text[], %(owners)b::text[], %(statuses)b::text[], %(outputs)b::text[],
              %(errors)b::text[], %(nows)b::bigint[]) AS t(id, owner, status, output, error, now)
 WHERE ws.workflow_uuid = t.id AND ws.owner_xid = t.owner AND ws.status = 'PENDING'
   AND ws.workflow_uuid = ANY(%(ids)b::text[])  -- primary-key lookups, not a scan of PENDING
RETURNING ws.workflow_uuid
"""

# --- management ------------------------------------------------------------------------

# One filter for every list call: a NULL parameter disables its condition.
_LIST_WHERE = """
 WHERE (%(ids)b::text[] IS NULL OR workflow_uuid = ANY(%(ids)b::text[]))
   AND (%(statuses)b::text[] IS NULL OR status = ANY(%(statuses)b::text[]))
   AND (%(names)b::text[] IS NULL OR name = ANY(%(names)b::text[]))
   AND (%(queues)b::text[] IS NULL OR queue_name = ANY(%(queues)b::text[]))
   AND (%(executors)b::text[] IS NULL OR executor_id = ANY(%(executors)b::text[]))
   AND (%(versions)b::text[] IS NULL OR application_version = ANY(%(versions)b::text[]))
   AND (%(users)b::text[] IS NULL OR authenticated_user = ANY(%(users)b::text[]))
   AND (%(forked_from)b::text[] IS NULL OR forked_from = ANY(%(forked_from)b::text[]))
   AND (%(parents)b::text[] IS NULL OR parent_workflow_id = ANY(%(parents)b::text[]))
   AND (%(schedules)b::text[] IS NULL OR schedule_name = ANY(%(schedules)b::text[]))
   AND (%(shard_keys)b::text[] IS NULL OR shard_key = ANY(%(shard_keys)b::text[]))
   AND (%(parent_shard_keys)b::text[] IS NULL
        OR parent_shard_key = ANY(%(parent_shard_keys)b::text[]))
   -- an application sees its own rows and unclaimed ones (DBOS's ownership rule)
   AND (%(apps)b::text[] IS NULL OR application_name IS NULL
        OR application_name = ANY(%(apps)b::text[]))
   AND (%(prefixes)b::text[] IS NULL OR EXISTS (
        SELECT 1 FROM unnest(%(prefixes)b::text[]) p WHERE starts_with(workflow_uuid, p)))
   AND (%(start)s::bigint IS NULL OR created_at >= %(start)s::bigint)
   AND (%(end)s::bigint IS NULL OR created_at <= %(end)s::bigint)
   AND (%(completed_after)s::bigint IS NULL OR completed_at >= %(completed_after)s::bigint)
   AND (%(completed_before)s::bigint IS NULL OR completed_at <= %(completed_before)s::bigint)
   -- dequeued_at is started_at_epoch_ms, stamped when a queue hands the workflow out
   AND (%(dequeued_after)s::bigint IS NULL
        OR started_at_epoch_ms >= %(dequeued_after)s::bigint)
   AND (%(dequeued_before)s::bigint IS NULL
        OR started_at_epoch_ms <= %(dequeued_before)s::bigint)
   AND (%(was_forked_from)s::boolean IS NULL OR was_forked_from = %(was_forked_from)s::boolean)
   AND (%(is_fork)s::boolean IS NULL OR (forked_from IS NOT NULL) = %(is_fork)s::boolean)
   AND (%(has_parent)s::boolean IS NULL
        OR (parent_workflow_id IS NOT NULL) = %(has_parent)s::boolean)
   AND (%(attributes)s::jsonb IS NULL OR attributes @> %(attributes)s::jsonb)
   AND (NOT %(queues_only)s::boolean OR queue_name IS NOT NULL)
"""
_LIST_SELECT = "SELECT " + STATUS_COLUMNS + " FROM dbos.workflow_status"
_LIST_PAGE = " LIMIT %(limit)s OFFSET %(offset)s"
LIST_WORKFLOWS_ASC: Final = (
    _LIST_SELECT + _LIST_WHERE + " ORDER BY created_at, workflow_uuid" + _LIST_PAGE
)
LIST_WORKFLOWS_DESC: Final = (
    _LIST_SELECT + _LIST_WHERE + " ORDER BY created_at DESC, workflow_uuid DESC" + _LIST_PAGE
)

# Cancel workflows (and, with %(children)s, every descendant) that have not finished.
CANCEL_WORKFLOWS: Final = """
WITH RECURSIVE tree(id) AS (
    SELECT unnest(%(ids)b::text[])
  UNION
    SELECT oo.child_workflow_id FROM dbos.operation_outputs oo
      JOIN tree ON oo.workflow_uuid = tree.id
     WHERE %(children)s::boolean AND oo.child_workflow_id IS NOT NULL
)
UPDATE dbos.workflow_status ws
   SET status = 'CANCELLED', updated_at = %(now)s, deduplication_id = NULL, completed_at = %(now)s
  FROM tree
 WHERE ws.workflow_uuid = tree.id
   AND ws.status IN ('PENDING', 'ENQUEUED', 'DELAYED')
RETURNING ws.workflow_uuid
"""

# Resume: back onto a queue (its own or the internal one) to continue from its last
# recorded step. recovery_attempts = 1 makes the claimer replay recorded steps.
RESUME_WORKFLOW: Final = """
UPDATE dbos.workflow_status
   SET status = 'ENQUEUED', queue_name = coalesce(%(queue)s, '_dbos_internal_queue'),
       owner_xid = NULL, executor_id = NULL, recovery_attempts = 1,
       workflow_deadline_epoch_ms = NULL, started_at_epoch_ms = NULL,
       delay_until_epoch_ms = NULL, deduplication_id = NULL, priority = 0,
       queue_partition_key = NULL, updated_at = %(now)s, completed_at = NULL
 WHERE workflow_uuid = %(id)s
   AND status NOT IN ('SUCCESS', 'ERROR')  -- as DBOS: a finished or failed one stays so
RETURNING queue_name
"""

# Fork: a new workflow with the original's inputs, enqueued to re-run from start_step.
# As in DBOS 3.4.0 the fork takes the given application version, partition key and
# timeout (none of them copied: unset stays unset), and the original's attributes and
# owner; recovery_attempts = 1 makes the claimer replay the copied steps.
FORK_WORKFLOW: Final = """
INSERT INTO dbos.workflow_status (
    workflow_uuid, status, name, class_name, config_name, authenticated_user, assumed_role,
    authenticated_roles, inputs, queue_name, queue_partition_key, recovery_attempts,
    forked_from, application_version, application_id, workflow_timeout_ms, attributes,
    application_name, created_at, updated_at, priority)
SELECT %(new_id)s, 'ENQUEUED', name, class_name, config_name, authenticated_user, assumed_role,
       authenticated_roles, inputs, coalesce(%(queue)s, '_dbos_internal_queue'),
       %(partition_key)s, 1, workflow_uuid, %(app_version)s, application_id, %(timeout_ms)s,
       attributes, coalesce(application_name, %(app_name)s), %(now)s, %(now)s, 0
  FROM dbos.workflow_status WHERE workflow_uuid = %(id)s
RETURNING queue_name
"""

FORK_MARK_ORIGINAL: Final = (
    "UPDATE dbos.workflow_status SET was_forked_from = true WHERE workflow_uuid = %(id)s"
)

# Steps before start_step; %(replace)s (JSON {old child id: new child id} or NULL) swaps
# the children the fork should see instead of the original's.
FORK_COPY_STEPS: Final = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, output, error, function_name,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT %(new_id)s, function_id, output, error, function_name,
       coalesce(%(replace)s::jsonb ->> child_workflow_id, child_workflow_id),
       started_at_epoch_ms, completed_at_epoch_ms
  FROM dbos.operation_outputs WHERE workflow_uuid = %(id)s AND function_id < %(start_step)s
"""

# The event history, the events' values as of start_step, and the stream entries
# written before start_step go with the fork.
FORK_COPY_EVENT_HISTORY: Final = """
INSERT INTO dbos.workflow_events_history (workflow_uuid, function_id, key, value)
SELECT %(new_id)s, function_id, key, value FROM dbos.workflow_events_history
 WHERE workflow_uuid = %(id)s AND function_id < %(start_step)s
"""

FORK_COPY_EVENTS: Final = """
INSERT INTO dbos.workflow_events (workflow_uuid, key, value)
SELECT DISTINCT ON (key) %(new_id)s, key, value FROM dbos.workflow_events_history
 WHERE workflow_uuid = %(id)s AND function_id < %(start_step)s
 ORDER BY key, function_id DESC
"""

FORK_COPY_STREAMS: Final = """
INSERT INTO dbos.streams (workflow_uuid, key, value, "offset", function_id)
SELECT %(new_id)s, key, value, "offset", function_id FROM dbos.streams
 WHERE workflow_uuid = %(id)s AND function_id < %(start_step)s
"""

# Deadlines (SetWorkflowTimeout) enforced by any live process.
EXPIRE_DEADLINES: Final = """
UPDATE dbos.workflow_status
   SET status = 'CANCELLED', updated_at = %(now)s, deduplication_id = NULL, completed_at = %(now)s
 WHERE status IN ('PENDING', 'ENQUEUED') AND workflow_deadline_epoch_ms IS NOT NULL
   AND workflow_deadline_epoch_ms < %(now)s
RETURNING workflow_uuid
"""

# Garbage collection of finished workflows (children rows go by ON DELETE CASCADE).
GC_OLDER_THAN: Final = """
DELETE FROM dbos.workflow_status WHERE workflow_uuid IN (
    SELECT workflow_uuid FROM dbos.workflow_status
     WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')
       AND created_at < %(cutoff)s
     LIMIT %(batch)s)
"""

GC_KEEP_NEWEST: Final = """
DELETE FROM dbos.workflow_status WHERE workflow_uuid IN (
    SELECT workflow_uuid FROM dbos.workflow_status
     WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')
       AND (created_at, workflow_uuid) < (
           SELECT created_at, workflow_uuid FROM dbos.workflow_status
            ORDER BY created_at DESC, workflow_uuid DESC OFFSET %(keep)s - 1 LIMIT 1)
     LIMIT %(batch)s)
"""

# The last %(per)s steps of each of several workflows, with each one's step count: one
# round trip for the whole page instead of one per listed workflow. Same columns as
# _sql.LIST_STEPS (less the output, which the page does not show) plus the workflow id
# first and the count last.
LIST_RECENT_STEPS_MANY: Final = """
SELECT workflow_uuid, function_id, function_name, error, child_workflow_id,
       started_at_epoch_ms, completed_at_epoch_ms, total
  FROM (SELECT workflow_uuid, function_id, function_name, error, child_workflow_id,
               started_at_epoch_ms, completed_at_epoch_ms,
               row_number() OVER (PARTITION BY workflow_uuid ORDER BY function_id DESC) AS rn,
               count(*) OVER (PARTITION BY workflow_uuid) AS total
          FROM dbos.operation_outputs
         WHERE workflow_uuid = ANY(%(ids)b::text[])) s
 WHERE rn <= %(per)s
 ORDER BY workflow_uuid, function_id
"""

# --- admin dashboard samples (ops/admin/samples.py) ---------------------------------------
# (names, since, until): workflows of each named queue started (dequeued) in the window
# (since, until] epoch ms; an index range scan per name on workflow_status_queue_started_index.
QUEUE_STARTS_BETWEEN: Final = """
SELECT queue_name, count(*) AS n FROM dbos.workflow_status
 WHERE queue_name = ANY(%(names)b::text[])
   AND started_at_epoch_ms > %(since)s AND started_at_epoch_ms <= %(until)s
 GROUP BY queue_name
"""


# --- DBOS 3.4 management, messaging and queues (ops/management.py, ops/messages.py) ------

# Delete workflows (and with %(children)s every descendant through parent_workflow_id,
# as DBOS finds them); inputs, steps, messages, events and streams go by ON DELETE CASCADE.
DELETE_WORKFLOWS: Final = """
WITH RECURSIVE tree(id) AS (
    SELECT unnest(%(ids)b::text[])
  UNION
    SELECT ws.workflow_uuid FROM dbos.workflow_status ws
      JOIN tree ON ws.parent_workflow_id = tree.id
     WHERE %(children)s::boolean
)
DELETE FROM dbos.workflow_status ws USING tree WHERE ws.workflow_uuid = tree.id
RETURNING ws.workflow_uuid
"""

# Which of these ids exist (resume_workflows names the missing ones).
EXISTING_WORKFLOWS: Final = (
    "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid = ANY(%b::text[])"
)

# Move a DELAYED workflow's start; any other status is left alone.
SET_WORKFLOW_DELAY: Final = """
UPDATE dbos.workflow_status SET delay_until_epoch_ms = %(until)s, updated_at = %(now)s
 WHERE workflow_uuid = %(id)s AND status = 'DELAYED'
RETURNING queue_name
"""

# Replace the attributes (NULL clears them), or with %(merge)s add/overwrite top-level keys.
UPDATE_WORKFLOW_ATTRIBUTES: Final = """
UPDATE dbos.workflow_status
   SET attributes = CASE WHEN %(merge)s::boolean
           THEN (CASE WHEN jsonb_typeof(attributes) = 'object' THEN attributes
                      ELSE '{}'::jsonb END) || %(attributes)s::jsonb
           ELSE %(attributes)s::jsonb END,
       updated_at = %(now)s
 WHERE workflow_uuid = %(id)s
"""

# wait_first: one of these workflows that is no longer PENDING/ENQUEUED/DELAYED.
FIRST_FINISHED: Final = """
SELECT workflow_uuid FROM dbos.workflow_status
 WHERE workflow_uuid = ANY(%b::text[]) AND status NOT IN ('PENDING', 'ENQUEUED', 'DELAYED')
 ORDER BY completed_at NULLS LAST LIMIT 1
"""

# --- rewind: one transaction, in this order (ops/management.py rewind) ---
REWIND_LOCK: Final = (
    "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = %(id)s FOR UPDATE"
)
# Events published at or after the cut lose their current value ...
REWIND_DELETE_EVENTS: Final = """
DELETE FROM dbos.workflow_events e
 WHERE e.workflow_uuid = %(id)s AND EXISTS (
    SELECT 1 FROM dbos.workflow_events_history h
     WHERE h.workflow_uuid = %(id)s AND h.key = e.key AND h.function_id >= %(start_step)s)
"""
# ... and get back the last value they had before it, if any.
REWIND_RESTORE_EVENTS: Final = """
INSERT INTO dbos.workflow_events (workflow_uuid, key, value)
SELECT DISTINCT ON (h.key) h.workflow_uuid, h.key, h.value FROM dbos.workflow_events_history h
 WHERE h.workflow_uuid = %(id)s AND h.function_id < %(start_step)s AND EXISTS (
    SELECT 1 FROM dbos.workflow_events_history d
     WHERE d.workflow_uuid = %(id)s AND d.key = h.key AND d.function_id >= %(start_step)s)
 ORDER BY h.key, h.function_id DESC
"""
# Stream entries stay; only a close marker written after the cut goes, so the re-run can
# append again.
REWIND_DELETE_STREAM_CLOSE: Final = """
DELETE FROM dbos.streams
 WHERE workflow_uuid = %(id)s AND function_id >= %(start_step)s AND value = %(closed)s
"""
REWIND_DELETE_STEPS: Final = """
DELETE FROM dbos.operation_outputs WHERE workflow_uuid = %(id)s AND function_id >= %(start_step)s
"""
REWIND_DELETE_EVENT_HISTORY: Final = """
DELETE FROM dbos.workflow_events_history
 WHERE workflow_uuid = %(id)s AND function_id >= %(start_step)s
"""
# Messages read after the cut, and unread ones, are dropped (as DBOS does).
REWIND_DELETE_MESSAGES: Final = """
DELETE FROM dbos.notifications
 WHERE destination_uuid = %(id)s AND (NOT consumed OR consumed_by_function_id >= %(start_step)s)
"""
# Back onto a queue under the same id; recovery_attempts = 1 makes the claimer replay
# the steps kept before the cut.
REWIND_REQUEUE: Final = """
UPDATE dbos.workflow_status
   SET status = 'ENQUEUED', owner_xid = NULL, executor_id = NULL,
       application_version = coalesce(%(app_version)s, application_version),
       queue_name = coalesce(%(queue)s, '_dbos_internal_queue'),
       queue_partition_key = %(partition_key)s, recovery_attempts = 1,
       workflow_deadline_epoch_ms = NULL, deduplication_id = NULL, started_at_epoch_ms = NULL,
       delay_until_epoch_ms = NULL, completed_at = NULL, output = NULL, error = NULL,
       updated_at = %(now)s
 WHERE workflow_uuid = %(id)s AND status = %(status)s
RETURNING queue_name
"""

# send_bulk: many messages in one statement (arrays of destination, topic, message, uuid).
SEND_MESSAGES: Final = """
INSERT INTO dbos.notifications (destination_uuid, topic, message, message_uuid)
SELECT t.dest, t.topic, t.message, coalesce(t.uuid, gen_random_uuid()::text)
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])
       WITH ORDINALITY AS t(dest, topic, message, uuid, ord)
 ORDER BY t.ord  -- the seq column follows the order of the list
ON CONFLICT (message_uuid) DO NOTHING
"""

# send_to_forks: every workflow recursively forked from each root, as (root, fork) pairs.
FORK_DESCENDANTS: Final = """
WITH RECURSIVE d(root, id) AS (
    SELECT r.root, ws.workflow_uuid
      FROM unnest(%b::text[]) AS r(root) JOIN dbos.workflow_status ws ON ws.forked_from = r.root
  UNION
    SELECT d.root, ws.workflow_uuid FROM d JOIN dbos.workflow_status ws ON ws.forked_from = d.id
)
SELECT root, id FROM d
"""

# read_stream_offset: the entry at one offset, or the close marker of a stream that was
# closed before it (whichever comes first).
READ_STREAM_AT: Final = """
SELECT value, "offset" FROM dbos.streams
 WHERE workflow_uuid = %(id)s AND key = %(key)s
   AND ("offset" = %(offset)s OR ("offset" < %(offset)s AND value = %(closed)s))
 ORDER BY "offset" LIMIT 1
"""

# list_workflow_steps(limit=, offset=); a NULL limit is no limit.
LIST_STEPS_PAGE: Final = """
SELECT function_id, function_name, output, error, child_workflow_id, started_at_epoch_ms,
       completed_at_epoch_ms
  FROM dbos.operation_outputs WHERE workflow_uuid = %s ORDER BY function_id LIMIT %s OFFSET %s
"""

# apply_schedules: create, or replace the definition of, one 'api' schedule; a replaced
# schedule keeps its id, status, watermark and last firing (as DBOS keeps them).
APPLY_SCHEDULE: Final = """
INSERT INTO dbos.workflow_schedules AS s (
    schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, cron_timezone,
    context, status, queue_name, kind, automatic_backfill, watermark_epoch_ms,
    created_at_epoch_ms, updated_at_epoch_ms, application_name)
VALUES (%(name)s, %(id)s, %(workflow_name)s, %(class_name)s, %(cron)s, %(tz)s, %(context)s,
        'ACTIVE', %(queue)s, 'api', %(backfill)s, %(now)s, %(now)s, %(now)s, %(app)s)
ON CONFLICT (schedule_name) DO UPDATE
   SET workflow_name = EXCLUDED.workflow_name, workflow_class_name = EXCLUDED.workflow_class_name,
       schedule = EXCLUDED.schedule, cron_timezone = EXCLUDED.cron_timezone,
       context = EXCLUDED.context, queue_name = EXCLUDED.queue_name, kind = 'api',
       automatic_backfill = EXCLUDED.automatic_backfill,
       updated_at_epoch_ms = EXCLUDED.updated_at_epoch_ms,
       application_name = coalesce(s.application_name, EXCLUDED.application_name)
 WHERE s.application_name IS NULL OR EXCLUDED.application_name IS NULL
    OR s.application_name = EXCLUDED.application_name
RETURNING s.schedule_name
"""

# DBOSClient.check_connection: one round trip, no retry.
CHECK_CONNECTION: Final = "SELECT 1 AS ok"

# A queue's settings (QUEUE_COLUMNS) and its owner (0008), for Queue objects.
GET_QUEUE_OWNED: Final = (
    "SELECT " + QUEUE_COLUMNS + ", application_name FROM dbos.queues WHERE name = %s"
)

# list_queues(application_name=): the application's queues and unclaimed ones.
LIST_QUEUES_OF: Final = (
    "SELECT "
    + QUEUE_COLUMNS
    + """, application_name FROM dbos.queues
 WHERE (%(apps)b::text[] IS NULL OR application_name IS NULL
        OR application_name = ANY(%(apps)b::text[]))
 ORDER BY name"""
)

# DBOSClient.register_queue(application_name=): who owns the queue (NULL: unclaimed).
# --- rename_application (ops/rename.py): rows another name holds, or nobody ------------

# The rows a rename moves: %(old)s's, and with %(adopt)s the unclaimed ones too.
_RENAME_SOURCE = "(application_name = %(old)s OR (%(adopt)s AND application_name IS NULL))"
RENAME_APP_QUEUES: Final = (
    "UPDATE dbos.queues SET application_name = %(new)s WHERE " + _RENAME_SOURCE
)
RENAME_APP_SCHEDULES: Final = (
    "UPDATE dbos.workflow_schedules SET application_name = %(new)s WHERE " + _RENAME_SOURCE
)
RENAME_APP_VERSIONS: Final = (
    "UPDATE dbos.application_versions SET application_name = %(new)s WHERE " + _RENAME_SOURCE
)
# Workflows a worker may still claim or run move with the queues, in one transaction.
RENAME_APP_IN_FLIGHT: Final = (
    "UPDATE dbos.workflow_status SET application_name = %(new)s"
    " WHERE status IN ('PENDING', 'ENQUEUED', 'DELAYED') AND " + _RENAME_SOURCE
)
# Finished workflows move in key ranges: the batch's last key (NULL: fewer remain)...
RENAME_APP_BATCH_END: Final = (
    "SELECT workflow_uuid FROM dbos.workflow_status WHERE "
    + _RENAME_SOURCE
    + " AND (%(after)s::text IS NULL OR workflow_uuid > %(after)s)"
    " ORDER BY workflow_uuid OFFSET %(skip)s LIMIT 1"
)
# ... then the range after the previous batch up to it (both NULL: everything left).
RENAME_APP_BATCH: Final = (
    "UPDATE dbos.workflow_status SET application_name = %(new)s WHERE "
    + _RENAME_SOURCE
    + " AND (%(after)s::text IS NULL OR workflow_uuid > %(after)s)"
    " AND (%(upto)s::text IS NULL OR workflow_uuid <= %(upto)s)"
)

# --- schedules (queue/schedules.py) ---------------------------------------------------

SCHEDULE_COLUMNS: Final = """schedule_name, schedule_id, workflow_name, workflow_class_name,
 schedule, cron_timezone, context, status, queue_name, kind, automatic_backfill, watermark_epoch_ms,
 last_fired_at_epoch_ms, created_at_epoch_ms, updated_at_epoch_ms, application_name"""

# A decorated schedule, (re)declared by a launching process. Keeps status and watermark;
# updated_at moves only when the definition changed. Returns nothing when an 'api'
# schedule already holds the name.
UPSERT_DECORATED_SCHEDULE: Final = """
INSERT INTO dbos.workflow_schedules AS s (
    schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, context, status,
    kind, watermark_epoch_ms, created_at_epoch_ms, updated_at_epoch_ms, application_name)
VALUES (%(name)s, %(id)s, %(workflow_name)s, %(class_name)s, %(cron)s, %(context)s, 'ACTIVE',
        'decorator', %(now)s, %(now)s, %(now)s, %(app)s)
ON CONFLICT (schedule_name) DO UPDATE
   SET workflow_name = EXCLUDED.workflow_name,
       workflow_class_name = EXCLUDED.workflow_class_name,
       schedule = EXCLUDED.schedule,
       application_name = coalesce(s.application_name, EXCLUDED.application_name),
       updated_at_epoch_ms = CASE
           WHEN (s.workflow_name, s.workflow_class_name, s.schedule)
                IS DISTINCT FROM (EXCLUDED.workflow_name, EXCLUDED.workflow_class_name,
                                  EXCLUDED.schedule)
           THEN EXCLUDED.updated_at_epoch_ms ELSE s.updated_at_epoch_ms END
 WHERE s.kind = 'decorator' AND (s.application_name IS NULL OR EXCLUDED.application_name IS NULL
    OR s.application_name = EXCLUDED.application_name)
RETURNING s.kind
"""

# DBOS.create_schedule; returns nothing when the name is taken.
CREATE_SCHEDULE: Final = """
INSERT INTO dbos.workflow_schedules (
    schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, cron_timezone,
    context, status, queue_name, kind, automatic_backfill, watermark_epoch_ms,
    created_at_epoch_ms, updated_at_epoch_ms, application_name)
VALUES (%(name)s, %(id)s, %(workflow_name)s, %(class_name)s, %(cron)s, %(tz)s, %(context)s,
        'ACTIVE', %(queue)s, 'api', %(backfill)s, %(now)s, %(now)s, %(now)s, %(app)s)
ON CONFLICT (schedule_name) DO NOTHING
RETURNING schedule_id
"""

GET_SCHEDULE: Final = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM dbos.workflow_schedules WHERE schedule_name = %s"
)

LIST_SCHEDULES: Final = (
    "SELECT "
    + SCHEDULE_COLUMNS
    + """ FROM dbos.workflow_schedules
 WHERE (%(statuses)b::text[] IS NULL OR status = ANY(%(statuses)b::text[]))
   AND (%(workflows)b::text[] IS NULL OR workflow_name = ANY(%(workflows)b::text[]))
   AND (%(kinds)b::text[] IS NULL OR kind = ANY(%(kinds)b::text[]))
   AND (%(prefixes)b::text[] IS NULL
        OR EXISTS (SELECT 1 FROM unnest(%(prefixes)b::text[]) p
                    WHERE starts_with(schedule_name, p)))
   AND (%(apps)b::text[] IS NULL OR application_name IS NULL
        OR application_name = ANY(%(apps)b::text[]))
 ORDER BY created_at_epoch_ms, schedule_name"""
)

# What every scheduler pass reads: the active schedules of this application (%(app)s;
# NULL: every application's) and the unclaimed ones.
ACTIVE_SCHEDULES: Final = (
    "SELECT "
    + SCHEDULE_COLUMNS
    + """ FROM dbos.workflow_schedules WHERE status = 'ACTIVE'
   AND (%(app)s::text IS NULL OR application_name IS NULL OR application_name = %(app)s)"""
)

DELETE_SCHEDULE: Final = (
    "DELETE FROM dbos.workflow_schedules WHERE schedule_name = %s RETURNING kind"
)

# Pause / resume. Resuming moves the watermark to now: ticks due while paused never run.
SET_SCHEDULE_STATUS: Final = """
UPDATE dbos.workflow_schedules
   SET status = %(status)s, updated_at_epoch_ms = %(now)s,
       watermark_epoch_ms = CASE WHEN %(status)s = 'ACTIVE' AND status <> 'ACTIVE'
                                 THEN greatest(watermark_epoch_ms, %(now)s)
                                 ELSE watermark_epoch_ms END
 WHERE schedule_name = %(name)s
RETURNING schedule_name
"""

# THE tick claim: move the watermark from the value this scheduler read, provided the
# schedule is still active and unchanged. Run first in the transaction that enqueues the
# ticks; a concurrent claimer waits on the row lock, then matches nothing.
CLAIM_SCHEDULE_TICKS: Final = """
UPDATE dbos.workflow_schedules
   SET watermark_epoch_ms = %(new)s,
       last_fired_at_epoch_ms = coalesce(%(last_fired)s::bigint, last_fired_at_epoch_ms)
 WHERE schedule_name = %(name)s AND status = 'ACTIVE'
   AND watermark_epoch_ms = %(old)s AND updated_at_epoch_ms = %(version)s
RETURNING schedule_name
"""

# When the longest-running live process started (this one included): a tick due before
# that, when no process that is still alive was running, was missed.
FLEET_UP_SINCE: Final = """
SELECT min(started_at_epoch_ms) AS since FROM dbos.executors WHERE lease_expires_at_epoch_ms > %s
"""


# --- administration --------------------------------------------------------------------

# `dbos-queue db reset`, and DBOS.reset_system_database without the maintenance
# database (db/reset.py): every dbos_queue table at once.
DROP_SYSTEM_SCHEMA: Final = "DROP SCHEMA IF EXISTS dbos CASCADE"

# DBOS.reset_system_database(truncate=True) (db/reset.py): the other sessions of the
# database, ended before the deletes; (schema): the tables whose rows go.
TERMINATE_OTHER_BACKENDS: Final = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""
SCHEMA_TABLES: Final = "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename"
# {table}: dbos.maintenance's seeded turns (0010), kept as a fresh migration leaves them.
MAINTENANCE_RESET: Final = "UPDATE {} SET last_run_epoch_ms = 0, run_by = NULL"

# Serialises creation of the application database's transaction_outputs table (launch).
APP_SCHEMA_LOCK: Final = "SELECT pg_advisory_xact_lock(4735032143901386)"


# --- command line: the queue demo and the bench (cli/demo*.py, cli/bench.py) ------------

# The demo application's own side-effect table (an application table in the public
# schema, like any app's; not part of the dbos schema, so not a migration).
DEMO_CREATE_EFFECTS: Final = """
CREATE TABLE IF NOT EXISTS dbos_queue_demo_effects (
    id bigserial PRIMARY KEY, run text NOT NULL, workflow_id text NOT NULL,
    step integer NOT NULL, executor text NOT NULL, at timestamptz NOT NULL DEFAULT now())
"""
# (run, workflow_id, step, executor): one row each time a demo step body runs.
DEMO_RECORD_EFFECT: Final = (
    "INSERT INTO dbos_queue_demo_effects (run, workflow_id, step, executor) VALUES (%s, %s, %s, %s)"
)
# (run): every step-body run, in the order they happened.
DEMO_EFFECTS: Final = (
    "SELECT workflow_id, step, executor FROM dbos_queue_demo_effects WHERE run = %s ORDER BY id"
)
DEMO_DELETE_EFFECTS: Final = "DELETE FROM dbos_queue_demo_effects WHERE run = %s"
# (queue): how many workflows of the queue are in each status, per executor.
QUEUE_COUNTS_BY_EXECUTOR: Final = """
SELECT status, executor_id, count(*) AS n FROM dbos.workflow_status
 WHERE queue_name = %s GROUP BY status, executor_id
"""
# (queue, executor_id): the workflows an executor holds (PENDING) on a queue.
QUEUE_PENDING_OF_EXECUTOR: Final = """
SELECT workflow_uuid FROM dbos.workflow_status
 WHERE queue_name = %s AND status = 'PENDING' AND executor_id = %s
"""
# (ids): status and executor of these workflows.
WORKFLOW_STATES: Final = """
SELECT workflow_uuid, status, executor_id FROM dbos.workflow_status
 WHERE workflow_uuid = ANY(%s)
"""
# (queue): every workflow of the queue with who finished it and when.
QUEUE_OUTCOMES: Final = """
SELECT workflow_uuid, status, executor_id, created_at, updated_at FROM dbos.workflow_status
 WHERE queue_name = %s
"""
# (queue): finished successfully, finished otherwise.
QUEUE_FINISHED_COUNTS: Final = """
SELECT count(*) FILTER (WHERE status = 'SUCCESS') AS succeeded,
       count(*) FILTER (WHERE status IN ('ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'))
         AS failed
  FROM dbos.workflow_status WHERE queue_name = %s
"""
# (queue): a temporary queue's workflows and the queue itself, when the bench/demo ends.
DELETE_QUEUE_WORKFLOWS: Final = "DELETE FROM dbos.workflow_status WHERE queue_name = %s"
DELETE_QUEUE: Final = "DELETE FROM dbos.queues WHERE name = %s"


# --- stored procedures (engine/procedures.py) -------------------------------------------
# Templates composed with psycopg.sql: {level} is one of the isolation levels, {fn} the
# declared function's quoted identifier, {args} its arguments as placeholders; each is
# sent as ONE simple-query message (one round trip, one transaction), the arguments
# bound client-side by psycopg. %(wf)s, %(fid)s, %(name)s, %(now)s name the checkpoint.

# A function, checkpointed: the result is to_jsonb'd into dbos.transaction_outputs in
# the call's own transaction. A checkpoint already there (committed before a crash) is
# returned instead and the function is not called (res's one-time filter); a concurrent
# duplicate fails on the primary key and rolls its call back.
PROCEDURE_CALL_FUNCTION: Final = """BEGIN ISOLATION LEVEL {level};
WITH prior AS MATERIALIZED (
    SELECT output, error FROM dbos.transaction_outputs
     WHERE workflow_uuid = %(wf)s AND function_id = %(fid)s
), res AS MATERIALIZED (
    SELECT {fn}({args}) AS v WHERE NOT EXISTS (SELECT 1 FROM prior)
), ins AS (
    INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error,
                                          function_name, created_at_epoch_ms)
    SELECT %(wf)s, %(fid)s,
           (CASE WHEN pg_typeof(res.v) = 'void'::regtype THEN 'null'::jsonb
                 ELSE to_jsonb(res.v) END)::text,
           NULL, %(name)s, %(now)s
      FROM res
    RETURNING output
)
SELECT true AS replayed, output, error FROM prior
UNION ALL
SELECT false, output, NULL FROM ins;
COMMIT"""

# A procedure, checkpointed: CALL cannot sit in a query, so the checkpoint row is
# inserted first (a committed one makes it fail on the primary key: replay), then the
# CALL, whose OUT/INOUT values come back as its result row.
PROCEDURE_CALL_PROCEDURE: Final = """BEGIN ISOLATION LEVEL {level};
INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error,
                                      function_name, created_at_epoch_ms)
VALUES (%(wf)s, %(fid)s, NULL, NULL, %(name)s, %(now)s);
CALL {fn}({args});
COMMIT"""

# Outside a workflow (nothing to checkpoint): the bare call in its transaction.
PROCEDURE_CALL_FUNCTION_UNRECORDED: Final = """BEGIN ISOLATION LEVEL {level};
SELECT (CASE WHEN pg_typeof(r.v) = 'void'::regtype THEN 'null'::jsonb
             ELSE to_jsonb(r.v) END)::text AS output
  FROM (SELECT {fn}({args}) AS v) r;
COMMIT"""
PROCEDURE_CALL_PROCEDURE_UNRECORDED: Final = """BEGIN ISOLATION LEVEL {level};
CALL {fn}({args});
COMMIT"""

# After an error inside one of the messages above the session is in a failed block.
PROCEDURE_ROLLBACK: Final = "ROLLBACK"

# --- known queues and functions (migration 0007; docs/pgbouncer-and-inputs.md) -----------

# (workflow names, process_id): what a process can run, so a worker that dequeues a
# workflow it lacks knows whether to leave it for another one.
SET_EXECUTOR_WORKFLOWS: Final = (
    "UPDATE dbos.executors SET workflow_names = %s WHERE process_id = %s"
)

# Whether another live process registers %(name)s; the application version to hand the
# workflow back under so one of those can claim it (NULL when one runs the latest
# version: it dequeues unversioned rows; else a capable process's own version); and
# since when the workflow has been waiting with none (NULL: not waiting yet).
UNRUNNABLE_STATE: Final = """
WITH latest AS (
  SELECT av.version_name FROM dbos.application_versions av
   WHERE av.application_name IS NULL OR av.application_name = %(app_name)s
   ORDER BY av.version_timestamp DESC, av.version_id LIMIT 1
), capable AS (
  SELECT e.application_version,
         e.application_version IS NOT DISTINCT FROM (SELECT version_name FROM latest) AS latest,
         e.started_at_epoch_ms
    FROM dbos.executors e
   WHERE e.lease_expires_at_epoch_ms > %(now)s AND e.process_id <> %(process_id)s
     AND %(name)s = ANY(e.workflow_names)
)
SELECT EXISTS (SELECT 1 FROM capable) AS runnable_elsewhere,
       (SELECT CASE WHEN c.latest THEN NULL ELSE c.application_version END FROM capable c
         ORDER BY c.latest DESC, c.started_at_epoch_ms DESC LIMIT 1) AS application_version,
       (SELECT no_executor_since_epoch_ms FROM dbos.workflow_status WHERE workflow_uuid = %(id)s)
         AS no_executor_since_epoch_ms
"""

# Undo a claim of a workflow this process cannot run: back to the queue, invisible until
# %(until)s (DELAYED, so this process does not take it straight back), as if never started,
# under %(version)s (the claim stamped ours on it; processes of our version lack it too).
HAND_BACK_UNRUNNABLE: Final = """
UPDATE dbos.workflow_status
   SET status = 'DELAYED', delay_until_epoch_ms = %(until)s, owner_xid = NULL,
       executor_id = NULL, started_at_epoch_ms = NULL, updated_at = %(now)s,
       application_version = %(version)s,
       recovery_attempts = greatest(recovery_attempts - 1, 0),
       no_executor_since_epoch_ms = %(since)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
RETURNING queue_name
"""

# Whether a queue name is stored (declared by some worker, or created in the table).
QUEUE_EXISTS: Final = "SELECT EXISTS (SELECT 1 FROM dbos.queues WHERE name = %s) AS found"


# --- DBOS parity part B (0011): application versions, debounce ---------------------------

VERSION_COLUMNS: Final = "version_id, version_name, version_timestamp, created_at, application_name"

# (id, name, app): a launching process registers its version. A version seen before keeps
# its timestamp (relaunching an old version does not make it the latest again) and is
# claimed by this application if nobody owned it.
REGISTER_VERSION: Final = """
INSERT INTO dbos.application_versions (version_id, version_name, application_name)
SELECT %(id)s::text, %(name)s::text, %(app)s::text
-- nothing to do (the usual relaunch): no row lock for a fleet launching together to queue on
 WHERE NOT EXISTS (SELECT 1 FROM dbos.application_versions v
                    WHERE v.version_name = %(name)s
                      AND (v.application_name IS NOT NULL OR %(app)s::text IS NULL))
ON CONFLICT (version_name) DO UPDATE
   SET application_name = coalesce(dbos.application_versions.application_name,
                                   EXCLUDED.application_name)
"""

# (app): the versions an application sees (its own and unclaimed ones), newest first.
LIST_VERSIONS: Final = (
    "SELECT " + VERSION_COLUMNS + " FROM dbos.application_versions"
    " WHERE %(app)s::text IS NULL OR application_name IS NULL OR application_name = %(app)s"
    " ORDER BY version_timestamp DESC, version_id"
)
LATEST_VERSION: Final = LIST_VERSIONS + " LIMIT 1"

# (name, app, now): make a version the latest by stamping it now; claims an unclaimed row.
SET_LATEST_VERSION: Final = """
UPDATE dbos.application_versions
   SET version_timestamp = %(now)s, application_name = coalesce(application_name, %(app)s)
 WHERE version_name = %(name)s
   AND (%(app)s::text IS NULL OR application_name IS NULL OR application_name = %(app)s)
RETURNING version_id
"""

GET_VERSION: Final = (
    "SELECT " + VERSION_COLUMNS + " FROM dbos.application_versions WHERE version_name = %s"
)


# (queue, dedup_id, name, delay_until, inputs, serialization, now): a debounce call on a key
# whose debounced workflow still waits: push its start out (never past its debounce
# deadline) and give it the newest inputs. Matching the name keeps two workflows whose
# keys collide from overwriting each other.
DEBOUNCE_EXTEND: Final = """
UPDATE dbos.workflow_status
   SET delay_until_epoch_ms = CASE
         WHEN debounce_deadline_epoch_ms IS NOT NULL
              AND debounce_deadline_epoch_ms < %(delay_until)s
         THEN debounce_deadline_epoch_ms ELSE %(delay_until)s END,
       inputs = %(inputs)s, serialization = %(serialization)s, updated_at = %(now)s
 WHERE queue_name = %(queue)s AND deduplication_id = %(dedup_id)s AND name = %(name)s
   AND status = 'DELAYED' AND is_debounced
RETURNING workflow_uuid
"""

# (queue, dedup_id): who holds a debounce key when it could not be extended.
DEBOUNCE_HOLDER: Final = """
SELECT workflow_uuid, is_debounced, name, status FROM dbos.workflow_status
 WHERE queue_name = %s AND deduplication_id = %s
"""

# (workflow id, function id): the operation recorded at one id (DBOS.patch_async's probe).
RECORDED_OPERATION_NAME: Final = """
SELECT function_name FROM dbos.operation_outputs WHERE workflow_uuid = %s AND function_id = %s
"""


# --- fleet cost: coalesced notifications, result waiters, wake-up damping (0010) ---------
# (db/notify.py, queue/wakeup.py; docs/scaling.md)

# NOTIFY_MANY committed without waiting for the WAL flush: a notifying commit holds a
# cluster-wide lock until it is flushed, and a notification is not durable anyway
# (set_config(..., true) is SET LOCAL: this transaction only, pooler-safe).
NOTIFY_MANY_ASYNC: Final = """
SELECT set_config('synchronous_commit', 'off', true), pg_notify(c, p)
  FROM unnest(%b::text[], %b::text[]) AS t(c, p)
"""

# The same, plus "workflow done" for the finished ids %(done)s that someone waits for
# (their registrations are consumed): nothing is notified for a workflow nobody awaits.
# Runs after the completions committed, so a waiter that registered later finds the
# status final when it re-checks (db/notify.py).
NOTIFY_MANY_AND_WAITERS: Final = """
WITH gone AS (
  DELETE FROM dbos.result_waiters WHERE workflow_uuid = ANY(%(done)b::text[])
  RETURNING workflow_uuid
), chunked AS (
  SELECT id, (row_number() OVER (ORDER BY id) - 1) / 100 AS chunk
    FROM (SELECT DISTINCT workflow_uuid AS id FROM gone) d
)
SELECT set_config('synchronous_commit', 'off', true), pg_notify(c, p)
  FROM unnest(%(channels)b::text[], %(payloads)b::text[]) AS t(c, p)
UNION ALL
SELECT set_config('synchronous_commit', 'off', true),
       pg_notify('dbos_workflow_done_channel', string_agg(id, E'\\n'))
  FROM chunked GROUP BY chunk
"""

# (workflow id, waiter token): tell me when it finishes.
REGISTER_RESULT_WAITER: Final = """
INSERT INTO dbos.result_waiters (workflow_uuid, waiter, since_epoch_ms)
VALUES (%s, %s, (EXTRACT(EPOCH FROM now()) * 1000)::bigint)
ON CONFLICT DO NOTHING
"""

UNREGISTER_RESULT_WAITER: Final = (
    "DELETE FROM dbos.result_waiters WHERE workflow_uuid = %s AND waiter = %s"
)

# Registrations of waiters that died waiting for a workflow that never finished.
PURGE_OLD_RESULT_WAITERS: Final = "DELETE FROM dbos.result_waiters WHERE since_epoch_ms < %s"

# (queues, process_id): the queues this process claims from, written when they change.
SET_EXECUTOR_QUEUES: Final = """
UPDATE dbos.executors SET queues = %(queues)b::text[]
 WHERE process_id = %(process_id)s AND queues IS DISTINCT FROM %(queues)b::text[]
"""

# One idle worker's whole periodic read, at the heartbeat's pace (queue/wakeup.py): for
# each of %(queues)s, the live processes claiming from it in a fixed order (how many
# share a notification, and our turn), whether ENQUEUED work this worker may run is
# waiting (a lost notification), and the stored settings (QUEUE_COLUMNS, NULL when
# the row is gone); and when the next DELAYED workflow is due.
FLEET_TICK: Final = (
    """
SELECT n.name AS queue,
       (SELECT array_agg(e.process_id ORDER BY e.process_id) FROM dbos.executors e
         WHERE e.lease_expires_at_epoch_ms > %(now)s AND n.name = ANY(e.queues)) AS members,
       EXISTS (SELECT 1 FROM dbos.workflow_status w
                WHERE w.status = 'ENQUEUED' AND w.queue_name = n.name AND """
    + _runs_here("w.application_version")
    + """) AS has_work,
       (SELECT min(delay_until_epoch_ms) FROM dbos.workflow_status WHERE status = 'DELAYED')
         AS next_delayed,
       """
    + ", ".join("qs." + c.strip() for c in QUEUE_COLUMNS.split(","))
    + """
  FROM unnest(%(queues)b::text[]) AS n(name)
  LEFT JOIN dbos.queues qs ON qs.name = n.name
"""
)

# Polling mode (use_listen_notify: false): which of the workflows running here were
# cancelled elsewhere (no NOTIFY arrives to say so).
CANCELLED_AMONG: Final = (
    "SELECT workflow_uuid FROM dbos.workflow_status"
    " WHERE workflow_uuid = ANY(%b::text[]) AND status = 'CANCELLED'"
)

# (workflow id, function id, output, error, function name, created at): a transaction's
# output, once; no row back means an earlier execution committed it (0011 parity B).
APP_TX_OUTPUT_PUT_ONCE: Final = """
INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error, function_name,
                                      created_at_epoch_ms)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (workflow_uuid, function_id) DO NOTHING
RETURNING function_id
"""

# A datasource's outputs table (DBOS 3.x's datasource_outputs) in the schema the
# datasource names: {schema} is composed with psycopg.sql.Identifier, never a string.
# (workflow id, step id): the recorded output.
DATASOURCE_OUTPUT_GET: Final = """
SELECT output, error, serialization FROM {schema}.datasource_outputs
 WHERE workflow_id = %s AND step_id = %s
"""
# (workflow id, step id, output, error, serialization): record once.
DATASOURCE_OUTPUT_PUT: Final = """
INSERT INTO {schema}.datasource_outputs (workflow_id, step_id, output, error, serialization)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (workflow_id, step_id) DO NOTHING
RETURNING step_id
"""

# Whether a database exists (asked on the maintenance database, before connecting to
# it: behind PgBouncer a missing database shows as a connect timeout, not an error).
DATABASE_EXISTS: Final = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s) AS found"

# Starting workers read the fleet's listeners and claim a listening place under this
# lock, one at a time (queue/wakeup.py first_duty): a fleet started all at once opens
# max_listening_workers LISTEN connections, not one per process.
DUTY_LOCK: Final = "SELECT pg_advisory_xact_lock(4735032143901387)"

# (queues, now): each queue's live claimers in rank order, for a sender that directs its
# notifications to a few of them (db/notify.py; the claim loops' FLEET_TICK reads the same).
FLEET_MEMBERS: Final = """
SELECT q AS queue, array_agg(e.process_id ORDER BY e.process_id) AS members
  FROM dbos.executors e, unnest(e.queues) AS q
 WHERE e.lease_expires_at_epoch_ms > %(now)s AND q = ANY(%(queues)b::text[])
 GROUP BY q
"""

# A workflow's last step recorded and the workflow completed in one statement, for many
# workflows (engine/tail.py): nothing of the workflow ran between the two. The fenced
# completion goes first and the record is written for the workflows it completed (so a
# takeover, which must update the row, either waits for this or leaves nothing to
# complete); a record already there (a retry whose first attempt landed) is kept. Keep
# the SET list in step with COMPLETE_WORKFLOWS.
RECORD_AND_COMPLETE_WORKFLOWS: Final = """
WITH t AS (
  SELECT * FROM unnest(%(ids)b::text[], %(owners)b::text[], %(fids)b::int[], %(fnames)b::text[],
                       %(step_outputs)b::text[], %(starteds)b::bigint[], %(step_nows)b::bigint[],
                       %(statuses)b::text[], %(outputs)b::text[], %(errors)b::text[],
                       %(nows)b::bigint[])
      AS t(id, owner, fid, fname, step_output, started, step_now, status, output, error, now)
), done AS (
  UPDATE dbos.workflow_status ws
     SET status = t.status, output = t.output, error = t.error, updated_at = t.now,
         deduplication_id = NULL, completed_at = t.now
    FROM t
   WHERE ws.workflow_uuid = t.id AND ws.owner_xid = t.owner AND ws.status = 'PENDING'
     AND ws.workflow_uuid = ANY(%(ids)b::text[])
  RETURNING ws.workflow_uuid
), rec AS (
  INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, output,
                                      started_at_epoch_ms, completed_at_epoch_ms)
  SELECT t.id, t.fid, t.fname, t.step_output, t.started, t.step_now
    FROM t JOIN done ON done.workflow_uuid = t.id
  ON CONFLICT DO NOTHING
  RETURNING workflow_uuid
)
SELECT workflow_uuid FROM done
"""

# --- history at scale: retention in bounded batches (queue/retention.py) -------------

_FINISHED = "status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"

# (created_at, id) of the keep-th newest workflow: everything finished before it goes.
# Read once per purge (an OFFSET over the created_at index), not once per batch.
GC_KEEP_THRESHOLD: Final = """
SELECT created_at, workflow_uuid FROM dbos.workflow_status
 ORDER BY created_at DESC, workflow_uuid DESC OFFSET %(keep)s - 1 LIMIT 1
"""

# One bounded batch of finished workflows created before (%(created)s, %(id)s), oldest
# first along the created_at index; their steps, messages, events and streams go by
# ON DELETE CASCADE. Each batch is its own short transaction: only the deleted rows are
# locked, and claims (which touch ENQUEUED rows) never wait for it.
GC_BATCH_BEFORE: Final = (
    """
DELETE FROM dbos.workflow_status WHERE workflow_uuid = ANY(ARRAY(
    SELECT workflow_uuid FROM dbos.workflow_status
     WHERE """
    + _FINISHED
    + """ AND created_at <= %(created)s
       AND (created_at, workflow_uuid) < (%(created)s, %(id)s)
     ORDER BY created_at LIMIT %(batch)s))
"""
)

# (task, now, by, interval_ms): this process's turn at a fleet-wide duty (dbos.maintenance,
# 0010; queue/maintenance.py): a row comes back for exactly one process per interval; the
# first caller creates a duty's row.
TAKE_MAINTENANCE_TURN: Final = """
INSERT INTO dbos.maintenance AS m (task, last_run_epoch_ms, run_by)
VALUES (%(task)s, %(now)s, %(by)s)
ON CONFLICT (task) DO UPDATE SET last_run_epoch_ms = EXCLUDED.last_run_epoch_ms,
                                 run_by = EXCLUDED.run_by
 WHERE m.last_run_epoch_ms <= EXCLUDED.last_run_epoch_ms - %(interval_ms)s
RETURNING m.task
"""

# --- the claim of a queue without fleet-wide limits (queue/claim.py) -------------------

# CLAIM for a queue this worker knows has no global, rate or partition limit: the same
# rows in the same order, with a plain LIMIT (so the plan is the ordered scan of the
# ENQUEUED partial index whatever the statistics say: with LIMIT (SELECT n FROM budget)
# the planner cannot see the limit is small and, beside a large history, may fetch and
# sort every ENQUEUED row through the status index), and nothing to plan for limits. It
# claims nothing while the queue is paused - or has gained a limit this worker has not
# read yet: then the worker refreshes its settings and uses CLAIM.
CLAIM_FREE: Final = (
    """
WITH picked AS (
  SELECT workflow_uuid FROM dbos.workflow_status
   WHERE status = 'ENQUEUED' AND queue_name = %(queue)s AND """
    + _claimable_here("application_version")
    + """
     AND NOT EXISTS (SELECT 1 FROM dbos.queues q WHERE q.name = %(queue)s
                      AND (q.paused OR q.global_concurrency IS NOT NULL
                           OR q.rate_limit_max IS NOT NULL OR q.partition_concurrency IS NOT NULL
                           OR q.partition_rate_limit_max IS NOT NULL))
   ORDER BY priority, created_at
   LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
)"""
    + _CLAIM_UPDATE
)
