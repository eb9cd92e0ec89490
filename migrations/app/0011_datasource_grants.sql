-- What an application role needs to use a datasource's outputs table
-- (SQLAlchemyDatasource.migrate(url, application_role=...)); identifiers composed.
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.datasource_outputs TO {role};
