-- 0003: database-backed queues (design §4).
-- The workflow_status row stays the queue's state; these are the queue settings,
-- the delay column, and partial indexes that keep a claim's cost independent of
-- how many finished rows the table holds.

ALTER TABLE dbos.workflow_status ADD COLUMN delay_until_epoch_ms bigint;

CREATE TABLE dbos.queues (
    name text PRIMARY KEY,
    global_concurrency integer,
    worker_concurrency integer,
    rate_limit_max integer,
    rate_limit_period_sec double precision,
    partition_concurrency integer,
    partition_worker_concurrency integer,
    partition_rate_limit_max integer,
    partition_rate_limit_period_sec double precision,
    polling_interval_sec double precision NOT NULL DEFAULT 1.0,
    paused boolean NOT NULL DEFAULT false,
    -- 'code' while the values come from Queue()/register_queue; 'runtime' once an
    -- operator changed them (dbos-queue queue set): code declarations then no longer
    -- overwrite them.
    source text NOT NULL DEFAULT 'code',
    created_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    updated_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint
);

-- What a claim scans: only ENQUEUED rows, in claim order.
CREATE INDEX workflow_status_enqueued_index
    ON dbos.workflow_status (queue_name, priority, created_at) WHERE status = 'ENQUEUED';
CREATE INDEX workflow_status_enqueued_partition_index
    ON dbos.workflow_status (queue_name, queue_partition_key, priority, created_at)
    WHERE status = 'ENQUEUED' AND queue_partition_key IS NOT NULL;
-- Running counts for global and partition concurrency.
CREATE INDEX workflow_status_running_index
    ON dbos.workflow_status (queue_name, queue_partition_key)
    WHERE status = 'PENDING' AND queue_name IS NOT NULL;
-- Starts inside a rate-limit window.
CREATE INDEX workflow_status_queue_started_index
    ON dbos.workflow_status (queue_name, started_at_epoch_ms)
    WHERE queue_name IS NOT NULL AND started_at_epoch_ms IS NOT NULL;
CREATE INDEX workflow_status_delayed_index
    ON dbos.workflow_status (delay_until_epoch_ms) WHERE status = 'DELAYED';

-- Enqueue from any language: arguments as JSON, returns the workflow id.
-- SELECT dbos.enqueue_workflow('emails', 'send_email', '["a@b.c", "hi"]');
CREATE FUNCTION dbos.enqueue_workflow(
    queue_name text,
    workflow_name text,
    args jsonb DEFAULT '[]'::jsonb,
    kwargs jsonb DEFAULT '{}'::jsonb,
    workflow_id text DEFAULT NULL,
    priority integer DEFAULT 0,
    deduplication_id text DEFAULT NULL,
    queue_partition_key text DEFAULT NULL,
    delay_seconds double precision DEFAULT 0,
    class_name text DEFAULT NULL,
    config_name text DEFAULT NULL
) RETURNS text AS $$
DECLARE
    wf_id text := coalesce(workflow_id, gen_random_uuid()::text);
    now_ms bigint := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint;
BEGIN
    IF jsonb_typeof(args) <> 'array' THEN
        RAISE EXCEPTION 'args must be a JSON array, got %', jsonb_typeof(args);
    END IF;
    IF jsonb_typeof(kwargs) <> 'object' THEN
        RAISE EXCEPTION 'kwargs must be a JSON object, got %', jsonb_typeof(kwargs);
    END IF;
    IF priority < 0 THEN
        RAISE EXCEPTION 'priority must be between 0 and 2147483647, got %', priority;
    END IF;
    INSERT INTO dbos.workflow_status (
        workflow_uuid, status, name, class_name, config_name, queue_name, inputs, priority,
        deduplication_id, queue_partition_key, delay_until_epoch_ms, created_at, updated_at,
        recovery_attempts)
    VALUES (
        wf_id, CASE WHEN delay_seconds > 0 THEN 'DELAYED' ELSE 'ENQUEUED' END, workflow_name,
        class_name, config_name, queue_name,
        jsonb_build_object('args', args, 'kwargs', kwargs)::text, priority, deduplication_id,
        queue_partition_key,
        CASE WHEN delay_seconds > 0 THEN now_ms + (delay_seconds * 1000)::bigint END,
        now_ms, now_ms, 0)
    ON CONFLICT (workflow_uuid) DO NOTHING;
    PERFORM pg_notify('dbos_queue_channel', queue_name);
    RETURN wf_id;
END;
$$ LANGUAGE plpgsql;
