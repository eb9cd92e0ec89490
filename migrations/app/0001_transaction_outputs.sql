-- Application database: the outputs of @DBOS.transaction functions, written in the
-- same transaction as the function's own writes so each commits exactly once.
CREATE SCHEMA IF NOT EXISTS dbos;
CREATE TABLE IF NOT EXISTS dbos.transaction_outputs (
    workflow_uuid text NOT NULL,
    function_id integer NOT NULL,
    output text,
    error text,
    function_name text NOT NULL DEFAULT '',
    created_at_epoch_ms bigint NOT NULL,
    PRIMARY KEY (workflow_uuid, function_id)
);
