-- 0008: the WorkflowStatus fields of DBOS 3.4.0 that the seed schema lacks, and
-- what send(idempotency_key=) and rewind need from notifications.
--
-- workflow_status (names as in DBOS 3.4.0's dbos.workflow_status):
--   parent_workflow_id  the workflow that started this one as a child (NULL: top level)
--   was_forked_from     true once fork_workflow copied this workflow
--   completed_at        epoch ms of the move to SUCCESS / ERROR / CANCELLED
--   attributes          user key/value pairs (SetWorkflowAttributes, update_workflow_attributes)
--   schedule_name       the schedule whose tick enqueued this workflow
--   application_name    the application that owns the row (DBOSConfig "name"); NULL: unclaimed
--   shard_key, parent_shard_key
--                       recorded as given (SetShardKey, EnqueueOptions); this database is
--                       not sharded, so they only label rows and filter lists
ALTER TABLE dbos.workflow_status
    ADD COLUMN parent_workflow_id text,
    ADD COLUMN was_forked_from boolean NOT NULL DEFAULT false,
    ADD COLUMN completed_at bigint,
    ADD COLUMN attributes jsonb,
    ADD COLUMN schedule_name text,
    ADD COLUMN application_name text,
    ADD COLUMN shard_key text,
    ADD COLUMN parent_shard_key text;

-- delete_workflows(delete_children=True), list_workflows(parent_workflow_id=, has_parent=)
CREATE INDEX workflow_status_parent_index
    ON dbos.workflow_status (parent_workflow_id) WHERE parent_workflow_id IS NOT NULL;
-- list_workflows(attributes={...}) is a containment test (@>)
CREATE INDEX workflow_status_attributes_index
    ON dbos.workflow_status USING gin (attributes) WHERE attributes IS NOT NULL;

-- A received message is marked consumed (by the recv at consumed_by_function_id) instead
-- of deleted, as in DBOS 3.x: its message_uuid ("<idempotency key>::<destination>") then
-- keeps refusing a second send with the same key, and rewind can tell what a run read.
ALTER TABLE dbos.notifications
    ADD COLUMN consumed boolean NOT NULL DEFAULT false,
    ADD COLUMN consumed_by_function_id integer;
-- What recv scans: the unread messages of one (destination, topic), oldest first.
CREATE INDEX notifications_unconsumed_index
    ON dbos.notifications (destination_uuid, topic, created_at_epoch_ms) WHERE NOT consumed;

-- Queue.application_name / list_queues(application_name=)
ALTER TABLE dbos.queues ADD COLUMN application_name text;
