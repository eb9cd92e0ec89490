-- 0004: find workflows past their deadline (SetWorkflowTimeout) without scanning
-- finished rows; any live process cancels them, so a deadline holds across crashes.
CREATE INDEX workflow_status_deadline_index
    ON dbos.workflow_status (workflow_deadline_epoch_ms)
    WHERE status IN ('PENDING', 'ENQUEUED') AND workflow_deadline_epoch_ms IS NOT NULL;
