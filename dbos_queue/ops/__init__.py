"""Operations: management calls, metrics, the admin server and dashboard."""
