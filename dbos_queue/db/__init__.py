"""The system database: SQL, typed statements, the engine loop, migrations."""
