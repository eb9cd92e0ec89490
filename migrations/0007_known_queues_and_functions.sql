-- 0007: refuse enqueues to undeclared queues; let a worker that lacks a workflow's
-- function leave it for one that has it (docs/pgbouncer-and-inputs.md).

-- The workflow names each live process registers, written at registration. A worker
-- that dequeues a workflow it cannot run hands it back while some live process lists
-- its name here. NULL: the process did not say (counts as not registering anything).
ALTER TABLE dbos.executors ADD COLUMN workflow_names text[];

-- Since when the workflow has been waiting with no live process registering its
-- function (set by the first worker that dequeued it and found none; cleared when one
-- appears). Once unknown_workflow_wait_sec has passed, it ends ERROR.
ALTER TABLE dbos.workflow_status ADD COLUMN no_executor_since_epoch_ms bigint;

-- A queue exists once some worker declared it (Queue(...), DBOS.register_queue: stored
-- at launch) or it was created in the table. The internal queue (resume, fork) always
-- exists. 42704 is Postgres's undefined_object.
CREATE FUNCTION dbos.require_declared_queue(queue text) RETURNS void AS $$
BEGIN
    IF queue = '_dbos_internal_queue' OR EXISTS (SELECT 1 FROM dbos.queues q WHERE q.name = queue) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = '42704',
        MESSAGE = format('queue %s is not declared by any worker; nothing was enqueued', quote_literal(queue)),
        HINT = 'Declare it with Queue(name) or DBOS.register_queue(name) in the application '
            'whose workers run it (a launched worker stores it in dbos.queues), then enqueue again.';
END;
$$ LANGUAGE plpgsql STABLE;

-- The SQL producer of 0003, refusing an undeclared queue before it writes anything.
CREATE OR REPLACE FUNCTION dbos.enqueue_workflow(
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
    IF queue_name IS NULL OR queue_name = '' THEN
        RAISE EXCEPTION 'queue_name must be a non-empty string';
    END IF;
    PERFORM dbos.require_declared_queue(queue_name);
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
