"""The work queue: claiming, wake-ups, takeover, maintenance, schedules."""
