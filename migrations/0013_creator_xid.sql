-- The token of the call that created a workflow's row (DBOS 3.4.0's creator_xid), set
-- by starts under workflow_id_reuse_policy "reject": a start whose insert committed but
-- whose reply was lost finds its own token on the retry and is not refused as a reuse.
ALTER TABLE dbos.workflow_status ADD COLUMN IF NOT EXISTS creator_xid text;
