-- 0014: one index entry fewer for every enqueued workflow.
-- The seed index on executor_id indexed every row, and a queued workflow has no executor
-- until it is claimed, so each enqueue (single, bulk, the SQL function) inserted a NULL
-- entry nobody reads: every lookup by executor is an equality or ANY() test, which the
-- partial index serves (a non-NULL value implies the predicate). It keeps its name.
-- Measured (benchmarks/RESULTS.md): a bulk insert of 10k workflows -15-20% of its
-- statement time. (A plain rebuild, under an exclusive lock for its duration: on a large
-- table apply this migration in a quiet moment.)
DROP INDEX dbos.workflow_status_executor_id_index;
CREATE INDEX workflow_status_executor_id_index
    ON dbos.workflow_status (executor_id) WHERE executor_id IS NOT NULL;
