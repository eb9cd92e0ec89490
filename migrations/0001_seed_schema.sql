-- 0001: the DBOS system schema as given in the project seed (all ALTERs folded in).
-- Differences from the seed text, and why:
--   * notifications.message_uuid defaults to gen_random_uuid()::text (built in since PG 13;
--     the embedded server has no uuid-ossp extension).
--   * streams."offset" is quoted: OFFSET is a reserved word in PostgreSQL.
CREATE SCHEMA IF NOT EXISTS dbos;

CREATE TABLE IF NOT EXISTS dbos.dbos_migrations (
    version bigint PRIMARY KEY
);

CREATE TABLE dbos.workflow_status (
    workflow_uuid text PRIMARY KEY,
    status text,
    name text,
    class_name varchar(255),
    config_name varchar(255),
    authenticated_user text,
    assumed_role text,
    authenticated_roles text,
    request text,
    output text,
    error text,
    executor_id text,
    application_version text,
    application_id text,
    created_at bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    updated_at bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    recovery_attempts bigint DEFAULT 0,
    queue_name text,
    workflow_timeout_ms bigint,
    workflow_deadline_epoch_ms bigint,
    inputs text,
    started_at_epoch_ms bigint,
    deduplication_id text,
    priority integer NOT NULL DEFAULT 0,
    queue_partition_key text,
    forked_from text,
    owner_xid varchar(40)
);

CREATE UNIQUE INDEX uq_workflow_status_queue_name_dedup_id
    ON dbos.workflow_status (queue_name, deduplication_id);
CREATE INDEX workflow_status_created_at_index ON dbos.workflow_status (created_at);
CREATE INDEX workflow_status_executor_id_index ON dbos.workflow_status (executor_id);
CREATE INDEX workflow_status_status_index ON dbos.workflow_status (status);
CREATE INDEX idx_workflow_status_queue_status_started
    ON dbos.workflow_status (queue_name, status, started_at_epoch_ms);
CREATE INDEX idx_workflow_status_forked_from ON dbos.workflow_status (forked_from);

CREATE TABLE dbos.workflow_inputs (
    workflow_uuid text PRIMARY KEY
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    inputs text NOT NULL
);

CREATE TABLE dbos.operation_outputs (
    workflow_uuid text NOT NULL
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    function_id integer NOT NULL,
    output text,
    error text,
    function_name text NOT NULL DEFAULT '',
    child_workflow_id text,
    started_at_epoch_ms bigint,
    completed_at_epoch_ms bigint,
    PRIMARY KEY (workflow_uuid, function_id)
);

CREATE TABLE dbos.notifications (
    message_uuid text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    destination_uuid text NOT NULL
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    topic text,
    message text NOT NULL,
    created_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint
);
CREATE INDEX idx_workflow_topic ON dbos.notifications (destination_uuid, topic);

CREATE FUNCTION dbos.notifications_function() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('dbos_notifications_channel', NEW.destination_uuid || '::' || coalesce(NEW.topic, ''));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER dbos_notifications_trigger
    AFTER INSERT ON dbos.notifications
    FOR EACH ROW EXECUTE FUNCTION dbos.notifications_function();

CREATE TABLE dbos.workflow_events (
    workflow_uuid text NOT NULL
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (workflow_uuid, key)
);

CREATE FUNCTION dbos.workflow_events_function() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('dbos_workflow_events_channel', NEW.workflow_uuid || '::' || NEW.key);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- The seed fires on INSERT; set_event upserts, so UPDATE must wake waiters too.
CREATE TRIGGER dbos_workflow_events_trigger
    AFTER INSERT OR UPDATE ON dbos.workflow_events
    FOR EACH ROW EXECUTE FUNCTION dbos.workflow_events_function();

CREATE TABLE dbos.scheduler_state (
    workflow_fn_name text PRIMARY KEY,
    last_run_time bigint NOT NULL
);

CREATE TABLE dbos.workflow_queue (
    workflow_uuid text PRIMARY KEY
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    queue_name text NOT NULL,
    created_at_epoch_ms bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    started_at_epoch_ms bigint,
    completed_at_epoch_ms bigint,
    executor_id text,
    deduplication_id text,
    priority integer NOT NULL DEFAULT 0,
    UNIQUE (queue_name, deduplication_id)
);

CREATE TABLE dbos.event_dispatch_kv (
    service_name text NOT NULL,
    workflow_fn_name text NOT NULL,
    key text NOT NULL,
    value text,
    update_seq decimal(38, 0),
    update_time decimal(38, 15),
    PRIMARY KEY (service_name, workflow_fn_name, key)
);

CREATE TABLE dbos.streams (
    workflow_uuid text NOT NULL
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    key text NOT NULL,
    value text NOT NULL,
    "offset" integer NOT NULL,
    function_id integer NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow_uuid, key, "offset")
);

CREATE TABLE dbos.workflow_events_history (
    workflow_uuid text NOT NULL
        REFERENCES dbos.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    function_id integer NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (workflow_uuid, function_id, key)
);
