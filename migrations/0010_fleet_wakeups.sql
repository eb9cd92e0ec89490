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
