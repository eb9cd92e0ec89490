"""Every DML statement dbos_queue runs, as named constants.

DDL lives in ``migrations/``. Statements take positional ``%s`` parameters in
the order their comment gives. Writes on a workflow that a process executes are
*fenced*: they name the ``owner_xid`` token the writer was given when it started
or claimed the workflow, and touch nothing when another execution owns it now.
"""

from __future__ import annotations

# --- migrations -------------------------------------------------------------

# One lock id for the whole schema; transaction-scoped so PgBouncer in
# transaction mode cannot leak it.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(4735032143901385)"
MIGRATIONS_TABLE = (
    "CREATE SCHEMA IF NOT EXISTS dbos;"
    " CREATE TABLE IF NOT EXISTS dbos.dbos_migrations (version bigint PRIMARY KEY)"
)
MIGRATIONS_APPLIED = "SELECT version FROM dbos.dbos_migrations"
MIGRATION_RECORD = "INSERT INTO dbos.dbos_migrations (version) VALUES (%s)"
MIGRATIONS_CURRENT = "SELECT max(version) FROM dbos.dbos_migrations"

# --- notifications -------------------------------------------------------------

# (channels text[], payloads text[]) - one notifying statement for a whole batch.
NOTIFY_MANY = "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS t(c, p)"

# --- executors (leases) --------------------------------------------------------

REGISTER_EXECUTOR = """
INSERT INTO dbos.executors (process_id, executor_id, hostname, pid, application_version,
                            started_at_epoch_ms, heartbeat_at_epoch_ms, lease_expires_at_epoch_ms)
VALUES (%(process_id)s, %(executor_id)s, %(hostname)s, %(pid)s, %(app_version)s,
        %(now)s, %(now)s, %(now)s + %(lease_ms)s)
ON CONFLICT (process_id) DO UPDATE
   SET heartbeat_at_epoch_ms = EXCLUDED.heartbeat_at_epoch_ms,
       lease_expires_at_epoch_ms = EXCLUDED.lease_expires_at_epoch_ms
"""

# Extends the lease; returns nothing when another process has already declared us dead.
HEARTBEAT = """
UPDATE dbos.executors
   SET heartbeat_at_epoch_ms = %(now)s, lease_expires_at_epoch_ms = %(now)s + %(lease_ms)s
 WHERE process_id = %(process_id)s AND lease_expires_at_epoch_ms > %(now)s
RETURNING process_id
"""

UNREGISTER_EXECUTOR = "DELETE FROM dbos.executors WHERE process_id = %s"

LOCAL_EXECUTORS = (
    "SELECT process_id, pid FROM dbos.executors WHERE hostname = %s AND process_id <> %s"
)

# Operator-requested recovery: these executors' processes count as dead now.
EXPIRE_EXECUTOR_IDS = """
UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0
 WHERE executor_id = ANY(%s) AND process_id <> %s
"""

EXPIRE_EXECUTORS = (
    "UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0 WHERE process_id = ANY(%s)"
)


# --- workflow status ----------------------------------------------------------

STATUS_COLUMNS = """workflow_uuid, status, name, class_name, config_name, authenticated_user,
 assumed_role, authenticated_roles, request, output, error, executor_id, application_version,
 application_id, created_at, updated_at, recovery_attempts, queue_name, workflow_timeout_ms,
 workflow_deadline_epoch_ms, inputs, started_at_epoch_ms, deduplication_id, priority,
 queue_partition_key, forked_from, owner_xid"""

# Insert the workflow's row unless its id exists. Returns one row:
# inserted=true when this call created it (and so owns it, owner_xid = %(owner)s);
# otherwise the existing row, for the caller to compare names and read results.
# An empty result means the conflicting row was committed after this statement's
# snapshot: run it again.
INIT_WORKFLOW = """
WITH ins AS (
  INSERT INTO dbos.workflow_status (
      workflow_uuid, status, name, class_name, config_name, authenticated_user, assumed_role,
      authenticated_roles, executor_id, application_version, application_id, queue_name,
      workflow_timeout_ms, workflow_deadline_epoch_ms, inputs, started_at_epoch_ms,
      deduplication_id, priority, queue_partition_key, owner_xid, recovery_attempts,
      created_at, updated_at, delay_until_epoch_ms)
  VALUES (%(id)s, %(status)s, %(name)s, %(class_name)s, %(config_name)s, %(user)s,
      %(assumed_role)s, %(roles)s, %(executor_id)s, %(app_version)s, %(app_id)s, %(queue)s,
      %(timeout_ms)s, %(deadline_ms)s, %(inputs)s, %(started_ms)s, %(dedup_id)s, %(priority)s,
      %(partition_key)s, %(owner)s, %(attempts)s, %(now)s, %(now)s, %(delay_until)s)
  ON CONFLICT DO NOTHING
  RETURNING workflow_uuid
)
SELECT true, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text FROM ins
UNION ALL
SELECT false, ws.status, ws.name, ws.owner_xid, ws.output, ws.error, ws.queue_name
  FROM dbos.workflow_status ws
 WHERE ws.workflow_uuid = %(id)s AND NOT EXISTS (SELECT 1 FROM ins)
"""

# Which unique constraint an INIT conflict hit when the id itself is free.
DEDUP_HOLDER = """
SELECT workflow_uuid FROM dbos.workflow_status
 WHERE queue_name = %s AND deduplication_id = %s
"""

# Take over a PENDING workflow whose owner's lease is gone (or that has no owner).
# Fenced on the old owner so two takers cannot both win.
TAKEOVER_WORKFLOW = """
UPDATE dbos.workflow_status ws
   SET owner_xid = %(owner)s, executor_id = %(executor_id)s,
       recovery_attempts = ws.recovery_attempts + 1, updated_at = %(now)s
 WHERE ws.workflow_uuid = %(id)s AND ws.status = 'PENDING'
   AND (ws.owner_xid IS NULL OR NOT EXISTS (
        SELECT 1 FROM dbos.executors e
         WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
           AND e.lease_expires_at_epoch_ms > %(now)s))
RETURNING ws.recovery_attempts, ws.name
"""

# PENDING workflows of this executor id whose owning process is dead.
RECOVERABLE_FOR_EXECUTOR = """
SELECT ws.workflow_uuid FROM dbos.workflow_status ws
 WHERE ws.status = 'PENDING' AND ws.executor_id = ANY(%(executor_ids)s)
   AND (ws.owner_xid IS NULL OR NOT EXISTS (
        SELECT 1 FROM dbos.executors e
         WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
           AND e.lease_expires_at_epoch_ms > %(now)s))
 ORDER BY ws.created_at
"""

MARK_MAX_RECOVERY = """
UPDATE dbos.workflow_status
   SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', updated_at = %(now)s, owner_xid = NULL
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
"""


# A workflow past its deadline cancels itself (only while it still owns the row).
CANCEL_OWNED = """
UPDATE dbos.workflow_status SET status = 'CANCELLED', updated_at = %(now)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
"""

# Why a fenced write touched nothing.
FENCE_STATE = """
SELECT status, owner_xid, workflow_deadline_epoch_ms FROM dbos.workflow_status WHERE workflow_uuid = %s
"""

GET_STATUS = "SELECT " + STATUS_COLUMNS + " FROM dbos.workflow_status WHERE workflow_uuid = %s"

GET_RESULT = "SELECT status, output, error FROM dbos.workflow_status WHERE workflow_uuid = %s"

# --- operation outputs -----------------------------------------------------------

LOAD_OPERATIONS = """
SELECT function_id, function_name, output, error, child_workflow_id
  FROM dbos.operation_outputs WHERE workflow_uuid = %s
"""


# Record one operation's result, only while %(owner)s owns the PENDING workflow.
# FOR SHARE makes a concurrent takeover (an UPDATE of owner_xid) wait for us, or
# us re-check against its new owner, so a stale owner can never slip a write in.
RECORD_OPERATION = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, output, error,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT ws.workflow_uuid, %(fid)s, %(fname)s, %(output)s, %(error)s, %(child)s, %(started)s, %(now)s
  FROM dbos.workflow_status ws
 WHERE ws.workflow_uuid = %(id)s AND ws.owner_xid = %(owner)s AND ws.status = 'PENDING'
   FOR SHARE
ON CONFLICT DO NOTHING
RETURNING function_id
"""

LIST_STEPS = """
SELECT function_id, function_name, output, error, child_workflow_id, started_at_epoch_ms,
       completed_at_epoch_ms
  FROM dbos.operation_outputs WHERE workflow_uuid = %s ORDER BY function_id
"""

# --- messages ------------------------------------------------------------------

SEND_MESSAGE = (
    "INSERT INTO dbos.notifications (destination_uuid, topic, message) VALUES (%s, %s, %s)"
)

# Oldest message for (destination, topic), removed as it is read.
CONSUME_MESSAGE = """
DELETE FROM dbos.notifications
 WHERE message_uuid = (
    SELECT message_uuid FROM dbos.notifications
     WHERE destination_uuid = %s AND topic = %s
     ORDER BY created_at_epoch_ms, message_uuid
     LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING message
"""

# --- events --------------------------------------------------------------------

SET_EVENT = """
INSERT INTO dbos.workflow_events (workflow_uuid, key, value) VALUES (%s, %s, %s)
ON CONFLICT (workflow_uuid, key) DO UPDATE SET value = EXCLUDED.value
"""

SET_EVENT_HISTORY = """
INSERT INTO dbos.workflow_events_history (workflow_uuid, function_id, key, value)
VALUES (%s, %s, %s, %s)
ON CONFLICT (workflow_uuid, function_id, key) DO UPDATE SET value = EXCLUDED.value
"""

GET_EVENT = "SELECT value FROM dbos.workflow_events WHERE workflow_uuid = %s AND key = %s"

GET_ALL_EVENTS = "SELECT key, value FROM dbos.workflow_events WHERE workflow_uuid = %s"

# --- streams -------------------------------------------------------------------

WRITE_STREAM = """
INSERT INTO dbos.streams (workflow_uuid, key, value, "offset", function_id)
SELECT %(id)s, %(key)s, %(value)s,
       coalesce((SELECT max("offset") + 1 FROM dbos.streams
                  WHERE workflow_uuid = %(id)s AND key = %(key)s), 0),
       %(fid)s
"""

READ_STREAM = """
SELECT value, "offset" FROM dbos.streams
 WHERE workflow_uuid = %s AND key = %s AND "offset" >= %s ORDER BY "offset"
"""

# --- workflow transactions in the application database ---------------------------

APP_TX_OUTPUT_GET = """
SELECT output, error FROM dbos.transaction_outputs WHERE workflow_uuid = %s AND function_id = %s
"""

APP_TX_OUTPUT_PUT = """
INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error, function_name,
                                      created_at_epoch_ms)
VALUES (%s, %s, %s, %s, %s, %s)
"""

# --- queues -------------------------------------------------------------------------

QUEUE_COLUMNS = """name, global_concurrency, worker_concurrency, rate_limit_max,
 rate_limit_period_sec, partition_concurrency, partition_worker_concurrency,
 partition_rate_limit_max, partition_rate_limit_period_sec, polling_interval_sec, paused, source"""

# Declared in code: insert, or refresh values an operator has not overridden.
UPSERT_QUEUE = """
INSERT INTO dbos.queues (name, global_concurrency, worker_concurrency, rate_limit_max,
    rate_limit_period_sec, partition_concurrency, partition_worker_concurrency,
    partition_rate_limit_max, partition_rate_limit_period_sec, polling_interval_sec)
VALUES (%(name)s, %(global_concurrency)s, %(worker_concurrency)s, %(rate_limit_max)s,
    %(rate_limit_period_sec)s, %(partition_concurrency)s, %(partition_worker_concurrency)s,
    %(partition_rate_limit_max)s, %(partition_rate_limit_period_sec)s, %(polling_interval_sec)s)
ON CONFLICT (name) DO UPDATE SET
    global_concurrency = EXCLUDED.global_concurrency,
    worker_concurrency = EXCLUDED.worker_concurrency,
    rate_limit_max = EXCLUDED.rate_limit_max,
    rate_limit_period_sec = EXCLUDED.rate_limit_period_sec,
    partition_concurrency = EXCLUDED.partition_concurrency,
    partition_worker_concurrency = EXCLUDED.partition_worker_concurrency,
    partition_rate_limit_max = EXCLUDED.partition_rate_limit_max,
    partition_rate_limit_period_sec = EXCLUDED.partition_rate_limit_period_sec,
    polling_interval_sec = EXCLUDED.polling_interval_sec,
    updated_at_epoch_ms = (EXTRACT(EPOCH FROM now()) * 1000)::bigint
WHERE dbos.queues.source = 'code'
"""

# An operator's change at runtime; workers pick it up on their next claim/refresh.
SET_QUEUE_LIMITS = """
UPDATE dbos.queues SET
    global_concurrency = CASE WHEN %(set_global)s THEN %(global_concurrency)s ELSE global_concurrency END,
    worker_concurrency = CASE WHEN %(set_worker)s THEN %(worker_concurrency)s ELSE worker_concurrency END,
    rate_limit_max = CASE WHEN %(set_rate)s THEN %(rate_limit_max)s ELSE rate_limit_max END,
    rate_limit_period_sec = CASE WHEN %(set_rate)s THEN %(rate_limit_period_sec)s ELSE rate_limit_period_sec END,
    paused = coalesce(%(paused)s, paused),
    source = 'runtime',
    updated_at_epoch_ms = (EXTRACT(EPOCH FROM now()) * 1000)::bigint
WHERE name = %(name)s
RETURNING name
"""

GET_QUEUE = "SELECT " + QUEUE_COLUMNS + " FROM dbos.queues WHERE name = %s"
LIST_QUEUES = "SELECT " + QUEUE_COLUMNS + " FROM dbos.queues ORDER BY name"

# Depth, running and oldest enqueued age per queue (for `queue list` and metrics).
QUEUE_STATS = """
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
LOCK_LIMITED_QUEUE = """
SELECT 1 FROM dbos.queues
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
_CLAIM_UPDATE = """
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
RETURNING """ + STATUS_COLUMNS.replace("workflow_uuid,", "ws.workflow_uuid,", 1)

# THE claim: up to %(limit)s ENQUEUED workflows of one queue (%(limit)s is the
# claimer's local room: worker concurrency, batch size), within the queue's global
# concurrency and rate limit. Priority then age; SKIP LOCKED lets concurrent
# claimers take disjoint rows without waiting for each other.
CLAIM = (
    _CLAIM_BUDGET
    + """, picked AS (
  SELECT workflow_uuid FROM dbos.workflow_status
   WHERE status = 'ENQUEUED' AND queue_name = %(queue)s
   ORDER BY priority, created_at
   LIMIT (SELECT n FROM budget)
   FOR UPDATE SKIP LOCKED
)"""
    + _CLAIM_UPDATE
)

# The claim for partitioned queues: the same, plus per-partition limits and a fair
# rotation over partition keys (starting after %(cursor)s) so a hot key cannot
# starve the others. %(local)s is a JSON map key -> workflows this process runs.
CLAIM_PARTITIONED = (
    _CLAIM_BUDGET
    + """, keys AS (
  SELECT k.key, row_number() OVER (ORDER BY (k.key > %(cursor)s) DESC, k.key) AS turn
    FROM (SELECT DISTINCT queue_partition_key AS key FROM dbos.workflow_status
           WHERE status = 'ENQUEUED' AND queue_name = %(queue)s
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
             AND r.started_at_epoch_ms > %(now)s - (q.partition_rate_limit_period_sec * 1000)::bigint),
          %(limit)s),
      coalesce(%(partition_worker_limit)s - coalesce((%(local)s::jsonb ->> keys.key)::int, 0),
          %(limit)s))) AS n
    FROM keys, q
), candidates AS (
  SELECT c.workflow_uuid, c.priority, c.created_at, room.turn
    FROM room CROSS JOIN LATERAL (
      SELECT w.workflow_uuid, w.priority, w.created_at FROM dbos.workflow_status w
       WHERE w.status = 'ENQUEUED' AND w.queue_name = %(queue)s
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
PROMOTE_DELAYED = """
UPDATE dbos.workflow_status SET status = 'ENQUEUED', updated_at = %(now)s
 WHERE status = 'DELAYED' AND delay_until_epoch_ms <= %(now)s
RETURNING queue_name
"""

NEXT_DELAYED = "SELECT min(delay_until_epoch_ms) FROM dbos.workflow_status WHERE status = 'DELAYED'"

# Lease expiry: queued PENDING workflows of dead processes go back to their queue.
REQUEUE_DEAD_OWNERS = """
UPDATE dbos.workflow_status ws
   SET status = 'ENQUEUED', owner_xid = NULL, executor_id = NULL, updated_at = %(now)s
 WHERE ws.status = 'PENDING' AND ws.queue_name IS NOT NULL AND ws.owner_xid IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM dbos.executors e
                    WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
                      AND e.lease_expires_at_epoch_ms > %(now)s)
RETURNING ws.queue_name, ws.workflow_uuid
"""

# Non-queued PENDING workflows whose owner is dead (any executor id).
ORPHANED_DIRECT = """
SELECT ws.workflow_uuid FROM dbos.workflow_status ws
 WHERE ws.status = 'PENDING' AND ws.queue_name IS NULL
   AND (ws.owner_xid IS NULL OR NOT EXISTS (
        SELECT 1 FROM dbos.executors e
         WHERE e.process_id = split_part(ws.owner_xid, ':', 1)
           AND e.lease_expires_at_epoch_ms > %(now)s))
 LIMIT 100
"""

# Drain: hand this process's unfinished work back; its late writes are then fenced.
RELEASE_OWNED = """
UPDATE dbos.workflow_status
   SET status = CASE WHEN queue_name IS NOT NULL THEN 'ENQUEUED' ELSE status END,
       owner_xid = NULL, executor_id = CASE WHEN queue_name IS NOT NULL THEN NULL ELSE executor_id END,
       updated_at = %(now)s
 WHERE status = 'PENDING' AND owner_xid LIKE %(prefix)s
RETURNING workflow_uuid, queue_name
"""

PURGE_OLD_EXECUTORS = "DELETE FROM dbos.executors WHERE lease_expires_at_epoch_ms < %s"

# Many workflows of one function onto one queue in a single round trip.
ENQUEUE_MANY = """
INSERT INTO dbos.workflow_status (
    workflow_uuid, status, name, class_name, config_name, queue_name, inputs, priority,
    queue_partition_key, application_version, workflow_timeout_ms, created_at, updated_at,
    recovery_attempts)
SELECT t.id, 'ENQUEUED', %(name)s, %(class_name)s, %(config_name)s, %(queue)s, t.inputs,
       %(priority)s, %(partition_key)s, %(app_version)s, %(timeout_ms)s,
       %(now)s, %(now)s, 0
  FROM unnest(%(ids)s::text[], %(inputs)s::text[]) AS t(id, inputs)
ON CONFLICT DO NOTHING
RETURNING workflow_uuid
"""

# Same as the coalesced engine NOTIFY, for a caller's own transaction.
NOTIFY_QUEUE = "SELECT pg_notify('dbos_queue_channel', %s)"

# --- batched writes (many workflows' records in one statement) ---------------------

# RECORD_OPERATION for many workflows at once; each row fenced on its own owner.
RECORD_OPERATIONS = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, function_name, output, error,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT ws.workflow_uuid, t.fid, t.fname, t.output, t.error, t.child, t.started, t.now
  FROM unnest(%(ids)s::text[], %(owners)s::text[], %(fids)s::int[], %(fnames)s::text[],
              %(outputs)s::text[], %(errors)s::text[], %(children)s::text[],
              %(starteds)s::bigint[], %(nows)s::bigint[])
       AS t(id, owner, fid, fname, output, error, child, started, now)
  JOIN dbos.workflow_status ws
    ON ws.workflow_uuid = t.id AND ws.owner_xid = t.owner AND ws.status = 'PENDING'
 WHERE ws.workflow_uuid = ANY(%(ids)s::text[])  -- primary-key lookups, not a scan of PENDING
   FOR SHARE OF ws
ON CONFLICT DO NOTHING
RETURNING workflow_uuid, function_id
"""

# A batch of completions in one statement, each fenced on its owner token.
COMPLETE_WORKFLOWS = """
UPDATE dbos.workflow_status ws
   SET status = t.status, output = t.output, error = t.error, updated_at = t.now,
       deduplication_id = NULL
  FROM unnest(%(ids)s::text[], %(owners)s::text[], %(statuses)s::text[], %(outputs)s::text[],
              %(errors)s::text[], %(nows)s::bigint[]) AS t(id, owner, status, output, error, now)
 WHERE ws.workflow_uuid = t.id AND ws.owner_xid = t.owner AND ws.status = 'PENDING'
   AND ws.workflow_uuid = ANY(%(ids)s::text[])  -- primary-key lookups, not a scan of PENDING
RETURNING ws.workflow_uuid
"""

# --- management ------------------------------------------------------------------------

# One filter for every list call: a NULL parameter disables its condition.
_LIST_WHERE = """
 WHERE (%(ids)s::text[] IS NULL OR workflow_uuid = ANY(%(ids)s::text[]))
   AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
   AND (%(names)s::text[] IS NULL OR name = ANY(%(names)s::text[]))
   AND (%(queues)s::text[] IS NULL OR queue_name = ANY(%(queues)s::text[]))
   AND (%(executors)s::text[] IS NULL OR executor_id = ANY(%(executors)s::text[]))
   AND (%(versions)s::text[] IS NULL OR application_version = ANY(%(versions)s::text[]))
   AND (%(users)s::text[] IS NULL OR authenticated_user = ANY(%(users)s::text[]))
   AND (%(forked_from)s::text[] IS NULL OR forked_from = ANY(%(forked_from)s::text[]))
   AND (%(prefix)s::text IS NULL OR starts_with(workflow_uuid, %(prefix)s::text))
   AND (%(start)s::bigint IS NULL OR created_at >= %(start)s::bigint)
   AND (%(end)s::bigint IS NULL OR created_at <= %(end)s::bigint)
   AND (NOT %(queues_only)s::boolean OR queue_name IS NOT NULL)
"""
_LIST_SELECT = "SELECT " + STATUS_COLUMNS + " FROM dbos.workflow_status"
_LIST_PAGE = " LIMIT %(limit)s OFFSET %(offset)s"
LIST_WORKFLOWS_ASC = _LIST_SELECT + _LIST_WHERE + " ORDER BY created_at, workflow_uuid" + _LIST_PAGE
LIST_WORKFLOWS_DESC = (
    _LIST_SELECT + _LIST_WHERE + " ORDER BY created_at DESC, workflow_uuid DESC" + _LIST_PAGE
)

# Cancel workflows (and, with %(children)s, every descendant) that have not finished.
CANCEL_WORKFLOWS = """
WITH RECURSIVE tree(id) AS (
    SELECT unnest(%(ids)s::text[])
  UNION
    SELECT oo.child_workflow_id FROM dbos.operation_outputs oo JOIN tree ON oo.workflow_uuid = tree.id
     WHERE %(children)s::boolean AND oo.child_workflow_id IS NOT NULL
)
UPDATE dbos.workflow_status ws
   SET status = 'CANCELLED', updated_at = %(now)s, deduplication_id = NULL
  FROM tree
 WHERE ws.workflow_uuid = tree.id
   AND ws.status IN ('PENDING', 'ENQUEUED', 'DELAYED')
RETURNING ws.workflow_uuid
"""

# Resume: back onto a queue (its own or the internal one) to continue from its last
# recorded step. recovery_attempts = 1 makes the claimer replay recorded steps.
RESUME_WORKFLOW = """
UPDATE dbos.workflow_status
   SET status = 'ENQUEUED', queue_name = coalesce(%(queue)s, '_dbos_internal_queue'),
       owner_xid = NULL, executor_id = NULL, recovery_attempts = 1,
       workflow_deadline_epoch_ms = NULL, started_at_epoch_ms = NULL,
       delay_until_epoch_ms = NULL, deduplication_id = NULL, priority = 0,
       queue_partition_key = NULL, updated_at = %(now)s
 WHERE workflow_uuid = %(id)s
   AND status IN ('CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'ENQUEUED', 'DELAYED')
RETURNING queue_name
"""

# Fork: a new workflow with the original's inputs, enqueued to re-run from start_step.
FORK_WORKFLOW = """
INSERT INTO dbos.workflow_status (
    workflow_uuid, status, name, class_name, config_name, authenticated_user, assumed_role,
    authenticated_roles, inputs, queue_name, recovery_attempts, forked_from,
    application_version, workflow_timeout_ms, created_at, updated_at, priority)
SELECT %(new_id)s, 'ENQUEUED', name, class_name, config_name, authenticated_user, assumed_role,
       authenticated_roles, inputs, coalesce(%(queue)s, '_dbos_internal_queue'), 1,
       workflow_uuid, coalesce(%(app_version)s, application_version), workflow_timeout_ms,
       %(now)s, %(now)s, 0
  FROM dbos.workflow_status WHERE workflow_uuid = %(id)s
RETURNING queue_name
"""

FORK_COPY_STEPS = """
INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, output, error, function_name,
                                    child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms)
SELECT %(new_id)s, function_id, output, error, function_name, child_workflow_id,
       started_at_epoch_ms, completed_at_epoch_ms
  FROM dbos.operation_outputs WHERE workflow_uuid = %(id)s AND function_id < %(start_step)s
"""

# Deadlines (SetWorkflowTimeout) enforced by any live process.
EXPIRE_DEADLINES = """
UPDATE dbos.workflow_status SET status = 'CANCELLED', updated_at = %(now)s, deduplication_id = NULL
 WHERE status IN ('PENDING', 'ENQUEUED') AND workflow_deadline_epoch_ms IS NOT NULL
   AND workflow_deadline_epoch_ms < %(now)s
RETURNING workflow_uuid
"""

# Garbage collection of finished workflows (children rows go by ON DELETE CASCADE).
GC_OLDER_THAN = """
DELETE FROM dbos.workflow_status WHERE workflow_uuid IN (
    SELECT workflow_uuid FROM dbos.workflow_status
     WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')
       AND created_at < %(cutoff)s
     LIMIT %(batch)s)
"""

GC_KEEP_NEWEST = """
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
LIST_RECENT_STEPS_MANY = """
SELECT workflow_uuid, function_id, function_name, error, child_workflow_id,
       started_at_epoch_ms, completed_at_epoch_ms, total
  FROM (SELECT workflow_uuid, function_id, function_name, error, child_workflow_id,
               started_at_epoch_ms, completed_at_epoch_ms,
               row_number() OVER (PARTITION BY workflow_uuid ORDER BY function_id DESC) AS rn,
               count(*) OVER (PARTITION BY workflow_uuid) AS total
          FROM dbos.operation_outputs
         WHERE workflow_uuid = ANY(%(ids)s::text[])) s
 WHERE rn <= %(per)s
 ORDER BY workflow_uuid, function_id
"""


# --- schedules (queue/schedules.py) ---------------------------------------------------

SCHEDULE_COLUMNS = """schedule_name, schedule_id, workflow_name, workflow_class_name, schedule,
 cron_timezone, context, status, queue_name, kind, automatic_backfill, watermark_epoch_ms,
 last_fired_at_epoch_ms, created_at_epoch_ms, updated_at_epoch_ms"""

# A decorated schedule, (re)declared by a launching process. Keeps status and watermark;
# updated_at moves only when the definition changed. Returns nothing when an 'api'
# schedule already holds the name.
UPSERT_DECORATED_SCHEDULE = """
INSERT INTO dbos.workflow_schedules AS s (
    schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, context, status,
    kind, watermark_epoch_ms, created_at_epoch_ms, updated_at_epoch_ms)
VALUES (%(name)s, %(id)s, %(workflow_name)s, %(class_name)s, %(cron)s, %(context)s, 'ACTIVE',
        'decorator', %(now)s, %(now)s, %(now)s)
ON CONFLICT (schedule_name) DO UPDATE
   SET workflow_name = EXCLUDED.workflow_name,
       workflow_class_name = EXCLUDED.workflow_class_name,
       schedule = EXCLUDED.schedule,
       updated_at_epoch_ms = CASE
           WHEN (s.workflow_name, s.workflow_class_name, s.schedule)
                IS DISTINCT FROM (EXCLUDED.workflow_name, EXCLUDED.workflow_class_name,
                                  EXCLUDED.schedule)
           THEN EXCLUDED.updated_at_epoch_ms ELSE s.updated_at_epoch_ms END
 WHERE s.kind = 'decorator'
RETURNING s.kind
"""

# DBOS.create_schedule; returns nothing when the name is taken.
CREATE_SCHEDULE = """
INSERT INTO dbos.workflow_schedules (
    schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, cron_timezone,
    context, status, queue_name, kind, automatic_backfill, watermark_epoch_ms,
    created_at_epoch_ms, updated_at_epoch_ms)
VALUES (%(name)s, %(id)s, %(workflow_name)s, %(class_name)s, %(cron)s, %(tz)s, %(context)s,
        'ACTIVE', %(queue)s, 'api', %(backfill)s, %(now)s, %(now)s, %(now)s)
ON CONFLICT (schedule_name) DO NOTHING
RETURNING schedule_id
"""

GET_SCHEDULE = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM dbos.workflow_schedules WHERE schedule_name = %s"
)

LIST_SCHEDULES = (
    "SELECT "
    + SCHEDULE_COLUMNS
    + """ FROM dbos.workflow_schedules
 WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
   AND (%(workflows)s::text[] IS NULL OR workflow_name = ANY(%(workflows)s::text[]))
   AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
   AND (%(prefixes)s::text[] IS NULL
        OR EXISTS (SELECT 1 FROM unnest(%(prefixes)s::text[]) p
                    WHERE starts_with(schedule_name, p)))
 ORDER BY created_at_epoch_ms, schedule_name"""
)

# What every scheduler pass reads.
ACTIVE_SCHEDULES = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM dbos.workflow_schedules WHERE status = 'ACTIVE'"
)

DELETE_SCHEDULE = "DELETE FROM dbos.workflow_schedules WHERE schedule_name = %s RETURNING kind"

# Pause / resume. Resuming moves the watermark to now: ticks due while paused never run.
SET_SCHEDULE_STATUS = """
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
CLAIM_SCHEDULE_TICKS = """
UPDATE dbos.workflow_schedules
   SET watermark_epoch_ms = %(new)s,
       last_fired_at_epoch_ms = coalesce(%(last_fired)s::bigint, last_fired_at_epoch_ms)
 WHERE schedule_name = %(name)s AND status = 'ACTIVE'
   AND watermark_epoch_ms = %(old)s AND updated_at_epoch_ms = %(version)s
RETURNING schedule_name
"""

# When the longest-running live process started (this one included): a tick due before
# that, when no process that is still alive was running, was missed.
FLEET_UP_SINCE = """
SELECT min(started_at_epoch_ms) FROM dbos.executors WHERE lease_expires_at_epoch_ms > %s
"""


# --- administration --------------------------------------------------------------------

# DBOS.reset_system_database and `dbos-queue db reset`: every dbos_queue table at once.
DROP_SYSTEM_SCHEMA = "DROP SCHEMA IF EXISTS dbos CASCADE"

# Serialises creation of the application database's transaction_outputs table (launch).
APP_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(4735032143901386)"

# --- known queues and functions (migration 0007; docs/pgbouncer-and-inputs.md) -----------

# (workflow names, process_id): what a process can run, so a worker that dequeues a
# workflow it lacks knows whether to leave it for another one.
SET_EXECUTOR_WORKFLOWS = "UPDATE dbos.executors SET workflow_names = %s WHERE process_id = %s"

# Whether another live process registers %(name)s, and since when the workflow has been
# waiting with none (NULL: not waiting yet).
UNRUNNABLE_STATE = """
SELECT EXISTS (SELECT 1 FROM dbos.executors e
                WHERE e.lease_expires_at_epoch_ms > %(now)s AND e.process_id <> %(process_id)s
                  AND %(name)s = ANY(e.workflow_names)),
       (SELECT no_executor_since_epoch_ms FROM dbos.workflow_status WHERE workflow_uuid = %(id)s)
"""

# Undo a claim of a workflow this process cannot run: back to the queue, invisible until
# %(until)s (DELAYED, so this process does not take it straight back), as if never started.
HAND_BACK_UNRUNNABLE = """
UPDATE dbos.workflow_status
   SET status = 'DELAYED', delay_until_epoch_ms = %(until)s, owner_xid = NULL,
       executor_id = NULL, started_at_epoch_ms = NULL, updated_at = %(now)s,
       recovery_attempts = greatest(recovery_attempts - 1, 0),
       no_executor_since_epoch_ms = %(since)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
RETURNING queue_name
"""

# Whether a queue name is stored (declared by some worker, or created in the table).
QUEUE_EXISTS = "SELECT EXISTS (SELECT 1 FROM dbos.queues WHERE name = %s)"


# --- stored procedures (engine/procedures.py) -------------------------------------------
# Templates composed with psycopg.sql: {level} is one of the isolation levels, {fn} the
# declared function's quoted identifier, {args} its arguments as placeholders; each is
# sent as ONE simple-query message (one round trip, one transaction), the arguments
# bound client-side by psycopg. %(wf)s, %(fid)s, %(name)s, %(now)s name the checkpoint.

# A function, checkpointed: the result is to_jsonb'd into dbos.transaction_outputs in
# the call's own transaction. A checkpoint already there (committed before a crash) is
# returned instead and the function is not called (res's one-time filter); a concurrent
# duplicate fails on the primary key and rolls its call back.
PROCEDURE_CALL_FUNCTION = """BEGIN ISOLATION LEVEL {level};
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
SELECT true, output, error FROM prior
UNION ALL
SELECT false, output, NULL FROM ins;
COMMIT"""

# A procedure, checkpointed: CALL cannot sit in a query, so the checkpoint row is
# inserted first (a committed one makes it fail on the primary key: replay), then the
# CALL, whose OUT/INOUT values come back as its result row.
PROCEDURE_CALL_PROCEDURE = """BEGIN ISOLATION LEVEL {level};
INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output, error,
                                      function_name, created_at_epoch_ms)
VALUES (%(wf)s, %(fid)s, NULL, NULL, %(name)s, %(now)s);
CALL {fn}({args});
COMMIT"""

# Outside a workflow (nothing to checkpoint): the bare call in its transaction.
PROCEDURE_CALL_FUNCTION_UNRECORDED = """BEGIN ISOLATION LEVEL {level};
SELECT (CASE WHEN pg_typeof(r.v) = 'void'::regtype THEN 'null'::jsonb
             ELSE to_jsonb(r.v) END)::text
  FROM (SELECT {fn}({args}) AS v) r;
COMMIT"""
PROCEDURE_CALL_PROCEDURE_UNRECORDED = """BEGIN ISOLATION LEVEL {level};
CALL {fn}({args});
COMMIT"""

# After an error inside one of the messages above the session is in a failed block.
PROCEDURE_ROLLBACK = "ROLLBACK"


# --- command line: the queue demo and the bench (cli/demo*.py, cli/bench.py) ------------

# The demo application's own side-effect table (an application table in the public
# schema, like any app's; not part of the dbos schema, so not a migration).
DEMO_CREATE_EFFECTS = """
CREATE TABLE IF NOT EXISTS dbos_queue_demo_effects (
    id bigserial PRIMARY KEY, run text NOT NULL, workflow_id text NOT NULL,
    step integer NOT NULL, executor text NOT NULL, at timestamptz NOT NULL DEFAULT now())
"""
# (run, workflow_id, step, executor): one row each time a demo step body runs.
DEMO_RECORD_EFFECT = (
    "INSERT INTO dbos_queue_demo_effects (run, workflow_id, step, executor) VALUES (%s, %s, %s, %s)"
)
# (run): every step-body run, in the order they happened.
DEMO_EFFECTS = (
    "SELECT workflow_id, step, executor FROM dbos_queue_demo_effects WHERE run = %s ORDER BY id"
)
DEMO_DELETE_EFFECTS = "DELETE FROM dbos_queue_demo_effects WHERE run = %s"
# (queue): how many workflows of the queue are in each status, per executor.
QUEUE_COUNTS_BY_EXECUTOR = """
SELECT status, executor_id, count(*) FROM dbos.workflow_status
 WHERE queue_name = %s GROUP BY status, executor_id
"""
# (queue, executor_id): the workflows an executor holds (PENDING) on a queue.
QUEUE_PENDING_OF_EXECUTOR = """
SELECT workflow_uuid FROM dbos.workflow_status
 WHERE queue_name = %s AND status = 'PENDING' AND executor_id = %s
"""
# (ids): status and executor of these workflows.
WORKFLOW_STATES = """
SELECT workflow_uuid, status, executor_id FROM dbos.workflow_status
 WHERE workflow_uuid = ANY(%s)
"""
# (queue): every workflow of the queue with who finished it and when.
QUEUE_OUTCOMES = """
SELECT workflow_uuid, status, executor_id, created_at, updated_at FROM dbos.workflow_status
 WHERE queue_name = %s
"""
# (queue): finished successfully, finished otherwise.
QUEUE_FINISHED_COUNTS = """
SELECT count(*) FILTER (WHERE status = 'SUCCESS'),
       count(*) FILTER (WHERE status IN ('ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'))
  FROM dbos.workflow_status WHERE queue_name = %s
"""
# (queue): a temporary queue's workflows and the queue itself, when the bench/demo ends.
DELETE_QUEUE_WORKFLOWS = "DELETE FROM dbos.workflow_status WHERE queue_name = %s"
DELETE_QUEUE = "DELETE FROM dbos.queues WHERE name = %s"
