"""The public API layer: the DBOS facade, queues, handles, DBOSClient and the runtime."""
