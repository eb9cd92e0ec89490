-- 0010: what a fleet of workers needs to wake cheaply (db/notify.py, queue/wakeup.py).

-- Who waits for which workflow's result. A waiter registers before it re-checks the
-- status; the process that finished the workflow notifies the registered ids only (and
-- consumes their rows), so a workflow nobody awaits costs no NOTIFY. Unlogged: a row is
-- a wake-up hint, not data (lost in a crash, the waiter's polling fallback covers it),
-- and writing it should cost no WAL.
CREATE UNLOGGED TABLE dbos.result_waiters (
    workflow_uuid text NOT NULL,
    waiter text NOT NULL,
    since_epoch_ms bigint NOT NULL,
    PRIMARY KEY (workflow_uuid, waiter)
);

-- The queues each live process claims from: a counted queue notification is shared
-- among them in turns instead of waking every listener into a claim.
ALTER TABLE dbos.executors ADD COLUMN queues text[];

-- Every row version of workflow_status inserts into every index whose predicate it
-- matches (status changes at claim and completion, so neither update is HOT): three
-- seed indexes become partial, keeping their names and every lookup they serve.
-- Measured (benchmarks/RESULTS.md): WAL per claimed row 1018 -> 865 bytes, per
-- completed row 790 -> 560 bytes, buffers touched -15% / -27%.
--   * dedup: NULL ids never conflict, so indexing them enforced nothing; ON CONFLICT
--     DO NOTHING (no target) still arbitrates on the partial unique index.
--   * forked_from: NULL for all but forks; "forked_from = x" implies NOT NULL.
--   * queue/status/started: queue lookups filter on active statuses; finished rows
--     are found through the status and created_at indexes.
-- (A plain rebuild, under an exclusive lock for its duration: on a large table apply
-- this migration in a quiet moment.)
DROP INDEX dbos.uq_workflow_status_queue_name_dedup_id;
CREATE UNIQUE INDEX uq_workflow_status_queue_name_dedup_id
    ON dbos.workflow_status (queue_name, deduplication_id) WHERE deduplication_id IS NOT NULL;
DROP INDEX dbos.idx_workflow_status_forked_from;
CREATE INDEX idx_workflow_status_forked_from
    ON dbos.workflow_status (forked_from) WHERE forked_from IS NOT NULL;
DROP INDEX dbos.idx_workflow_status_queue_status_started;
CREATE INDEX idx_workflow_status_queue_status_started
    ON dbos.workflow_status (queue_name, status, started_at_epoch_ms)
    WHERE status IN ('ENQUEUED', 'PENDING', 'DELAYED');

-- Fleet-wide periodic duties that must run once per interval, not once per process:
-- the process whose conditional UPDATE moves last_run_epoch_ms wins the turn
-- (queue/retention.py: automatic retention, workflow_retention_sec / _rows).
CREATE TABLE dbos.maintenance (
    task text PRIMARY KEY,
    last_run_epoch_ms bigint NOT NULL DEFAULT 0,
    run_by text
);
INSERT INTO dbos.maintenance (task) VALUES ('retention');

-- The status index also orders each status's rows by queue, priority and age, as a claim
-- reads them: beside a large history, and with statistics taken while the backlog was
-- small, the planner preferred "every ENQUEUED row through the status index, then sort"
-- to the ordered partial index - a claim that read the whole backlog once it grew. With
-- this order available both paths read only the rows claimed (tests/test_queue_plans.py).
-- It still serves every lookup by status (its first column).
DROP INDEX dbos.workflow_status_status_index;
CREATE INDEX workflow_status_status_index
    ON dbos.workflow_status (status, queue_name, priority, created_at);
