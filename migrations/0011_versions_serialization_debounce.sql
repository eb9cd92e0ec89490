-- 0011: application versions, the per-row serialization format, debounced workflows,
-- and a portable SQL producer (DBOS 3.4 parity, part B).

-- Every application version that has launched against this database. The newest
-- version_timestamp is "the latest version": its workers also dequeue workflows
-- enqueued without a version (by a DBOSClient or the SQL producer below), and
-- DBOS.set_latest_application_version moves that role by retiming a row.
CREATE TABLE IF NOT EXISTS dbos.application_versions (
    version_id text PRIMARY KEY,
    version_name text NOT NULL UNIQUE,
    version_timestamp bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    created_at bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    application_name text DEFAULT NULL
);
CREATE INDEX IF NOT EXISTS application_versions_timestamp_index
    ON dbos.application_versions (version_timestamp DESC);

-- The format a value was written in (DBOS's column): 'portable_json' (plain JSON any
-- language reads), 'json' (dbos_queue's tagged JSON), 'pickle', a custom serializer's
-- name, or NULL for rows written before this column (read by content).
ALTER TABLE dbos.workflow_status ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;
ALTER TABLE dbos.operation_outputs ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;
ALTER TABLE dbos.notifications ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;
ALTER TABLE dbos.workflow_events ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;
ALTER TABLE dbos.workflow_events_history ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;
ALTER TABLE dbos.streams ADD COLUMN IF NOT EXISTS serialization text DEFAULT NULL;

-- Debouncer: a debounced workflow waits DELAYED under its debounce key (its
-- deduplication_id); each debounce call pushes delay_until_epoch_ms out, capped at
-- debounce_deadline_epoch_ms, and replaces its inputs. When it becomes ENQUEUED the
-- key is released, so the next call starts a fresh workflow.
ALTER TABLE dbos.workflow_status ADD COLUMN IF NOT EXISTS is_debounced boolean NOT NULL DEFAULT false;
ALTER TABLE dbos.workflow_status ADD COLUMN IF NOT EXISTS debounce_deadline_epoch_ms bigint DEFAULT NULL;

-- The SQL producer (0003, 0007), now writing DBOS's portable JSON by default, so a non-Python
-- producer passes plain JSON and reads the workflow's output and error back as plain
-- JSON (SELECT status, output, error, serialization FROM dbos.workflow_status ...).
-- serialization => 'json' keeps the former behaviour (dbos_queue's own JSON form);
-- app_version pins the version whose workers may run it (NULL: the latest version).
DROP FUNCTION IF EXISTS dbos.enqueue_workflow(
    text, text, jsonb, jsonb, text, integer, text, text, double precision, text, text);

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
    config_name text DEFAULT NULL,
    app_version text DEFAULT NULL,
    serialization text DEFAULT 'portable_json'
) RETURNS text AS $$
DECLARE
    wf_id text := coalesce(workflow_id, gen_random_uuid()::text);
    now_ms bigint := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint;
    stored text;
BEGIN
    IF workflow_name IS NULL OR workflow_name = '' THEN
        RAISE EXCEPTION 'workflow_name must be a non-empty string';
    END IF;
    IF queue_name IS NULL OR queue_name = '' THEN
        RAISE EXCEPTION 'queue_name must be a non-empty string';
    END IF;
    PERFORM dbos.require_declared_queue(queue_name);  -- 0007: refuse an undeclared queue
    IF workflow_id IS NOT NULL AND workflow_id = '' THEN
        RAISE EXCEPTION 'workflow_id must not be an empty string; pass NULL for a random id';
    END IF;
    IF jsonb_typeof(args) <> 'array' THEN
        RAISE EXCEPTION 'args must be a JSON array, got %', jsonb_typeof(args);
    END IF;
    IF jsonb_typeof(kwargs) <> 'object' THEN
        RAISE EXCEPTION 'kwargs must be a JSON object, got %', jsonb_typeof(kwargs);
    END IF;
    IF priority < 0 THEN
        RAISE EXCEPTION 'priority must be between 0 and 2147483647, got %', priority;
    END IF;
    IF serialization IS NULL OR serialization NOT IN ('portable_json', 'json') THEN
        RAISE EXCEPTION 'serialization must be ''portable_json'' or ''json'', got %',
            coalesce(serialization, 'NULL');
    END IF;
    stored := CASE WHEN serialization = 'portable_json'
        THEN jsonb_build_object('positionalArgs', args, 'namedArgs', kwargs)::text
        ELSE jsonb_build_object('args', args, 'kwargs', kwargs)::text END;
    INSERT INTO dbos.workflow_status (
        workflow_uuid, status, name, class_name, config_name, queue_name, inputs, priority,
        deduplication_id, queue_partition_key, delay_until_epoch_ms, created_at, updated_at,
        recovery_attempts, application_version, serialization)
    VALUES (
        wf_id, CASE WHEN delay_seconds > 0 THEN 'DELAYED' ELSE 'ENQUEUED' END, workflow_name,
        class_name, config_name, queue_name, stored, priority, deduplication_id,
        queue_partition_key,
        CASE WHEN delay_seconds > 0 THEN now_ms + (delay_seconds * 1000)::bigint END,
        now_ms, now_ms, 0, app_version, serialization)
    ON CONFLICT (workflow_uuid) DO NOTHING;
    PERFORM pg_notify('dbos_queue_channel', queue_name);
    RETURN wf_id;
END;
$$ LANGUAGE plpgsql;
