-- A datasource's outputs (SQLAlchemyDatasource / AsyncSQLAlchemyDatasource, DBOS 3.x):
-- one row per checkpointed transaction of a workflow, written in the same transaction
-- as the function's own writes. {schema} is the datasource's schema (default dbos),
-- composed as an identifier.
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.datasource_outputs (
    workflow_id text NOT NULL,
    step_id integer NOT NULL,
    output text,
    error text,
    serialization text,
    created_at bigint NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()) * 1000)::bigint,
    PRIMARY KEY (workflow_id, step_id)
);
