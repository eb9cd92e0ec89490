-- 0005: durable schedules (design §2). One table behind both spellings:
-- @DBOS.scheduled rows (kind 'decorator', upserted by every launching process that
-- declares them) and DBOS.create_schedule rows (kind 'api'). Column names follow
-- DBOS 3.x's dbos.workflow_schedules where they mean the same thing.
--
-- Every process runs a scheduler over this table. A tick is fired by one conditional
-- UPDATE of watermark_epoch_ms (from the value the scheduler read to the tick's time)
-- in the same transaction as the tick's ENQUEUED workflow_status row, whose id is
-- deterministic ("sched-<name>-<ISO time>"): concurrent schedulers serialise on the
-- row lock and all but one find the watermark moved, so each tick is enqueued once
-- and the watermark never goes backwards.
CREATE TABLE dbos.workflow_schedules (
    schedule_name text PRIMARY KEY,
    schedule_id text NOT NULL UNIQUE DEFAULT gen_random_uuid()::text,
    workflow_name text NOT NULL,
    workflow_class_name text,
    -- cron: 6 fields with seconds first (5-field minute crons also work)
    schedule text NOT NULL,
    -- IANA zone the cron is evaluated in; NULL is UTC
    cron_timezone text,
    -- serialized value passed as the second argument (api schedules)
    context text NOT NULL,
    status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
    -- queue the ticks are enqueued on; NULL is the internal queue
    queue_name text,
    kind text NOT NULL CHECK (kind IN ('decorator', 'api')),
    automatic_backfill boolean NOT NULL DEFAULT false,
    -- every tick at or before this instant has been handled (enqueued, or skipped as missed)
    watermark_epoch_ms bigint NOT NULL,
    -- the latest tick enqueued (DBOS's last_fired_at)
    last_fired_at_epoch_ms bigint,
    created_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    -- changes only when the definition or status changes (not when a tick fires)
    updated_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint
);
