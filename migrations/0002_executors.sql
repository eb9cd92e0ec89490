-- 0002: one row per live process, holding a lease it heartbeats.
-- process_id is the prefix of every owner_xid token this process stamps
-- ("<process_id>:<n>"), so a claim's owner can be mapped back to its lease.
-- A process whose lease has expired is dead for the fleet: any live process may
-- hand its PENDING workflows back to the queue (design §4, recovery).
CREATE TABLE dbos.executors (
    process_id text PRIMARY KEY,
    executor_id text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    application_version text,
    started_at_epoch_ms bigint NOT NULL,
    heartbeat_at_epoch_ms bigint NOT NULL,
    lease_expires_at_epoch_ms bigint NOT NULL
);
CREATE INDEX executors_executor_id_index ON dbos.executors (executor_id);
CREATE INDEX executors_lease_index ON dbos.executors (lease_expires_at_epoch_ms);

-- Workflows still running that a takeover scan looks at: keep it small and cheap.
CREATE INDEX workflow_status_pending_owner_index
    ON dbos.workflow_status (owner_xid) WHERE status = 'PENDING';
