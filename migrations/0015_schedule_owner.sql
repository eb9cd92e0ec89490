-- 0015: schedules have an owning application, as in DBOS 3.4 (WorkflowSchedule's
-- application_name): a scheduler fires the schedules of its own application and the
-- unclaimed ones (NULL), list_schedules shows the caller's by default, and
-- rename_application moves them.
ALTER TABLE dbos.workflow_schedules ADD COLUMN application_name text;
