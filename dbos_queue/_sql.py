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

LOCAL_EXECUTORS = "SELECT process_id, pid FROM dbos.executors WHERE hostname = %s AND process_id <> %s"

EXPIRE_EXECUTORS = "UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0 WHERE process_id = ANY(%s)"

LIVE_EXECUTORS = """
SELECT process_id, executor_id, hostname, pid, application_version, started_at_epoch_ms,
       heartbeat_at_epoch_ms, lease_expires_at_epoch_ms
  FROM dbos.executors WHERE lease_expires_at_epoch_ms > %s ORDER BY started_at_epoch_ms
"""

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
      created_at, updated_at)
  VALUES (%(id)s, %(status)s, %(name)s, %(class_name)s, %(config_name)s, %(user)s,
      %(assumed_role)s, %(roles)s, %(executor_id)s, %(app_version)s, %(app_id)s, %(queue)s,
      %(timeout_ms)s, %(deadline_ms)s, %(inputs)s, %(started_ms)s, %(dedup_id)s, %(priority)s,
      %(partition_key)s, %(owner)s, %(attempts)s, %(now)s, %(now)s)
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

# Final status, fenced on the owner token and on still being PENDING.
COMPLETE_WORKFLOW = """
UPDATE dbos.workflow_status
   SET status = %(status)s, output = %(output)s, error = %(error)s, updated_at = %(now)s
 WHERE workflow_uuid = %(id)s AND owner_xid = %(owner)s AND status = 'PENDING'
RETURNING workflow_uuid
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

GET_OPERATION = """
SELECT function_name, output, error, child_workflow_id
  FROM dbos.operation_outputs WHERE workflow_uuid = %s AND function_id = %s
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

SEND_MESSAGE = "INSERT INTO dbos.notifications (destination_uuid, topic, message) VALUES (%s, %s, %s)"

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
