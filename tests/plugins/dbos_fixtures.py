"""Fixtures that launch a DBOS instance on the test's own database."""
