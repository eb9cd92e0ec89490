"""The admin HTTP server of a worker (default port 3001): Starlette served by uvicorn.

Health, metrics and recovery; a JSON API to list, inspect, cancel, resume and fork
workflows and to inspect and re-limit queues; its OpenAPI document
(``GET /openapi.json``, generated from the pydantic models); and a dashboard
(``GET /dashboard``, Jinja2). Modules: ``models`` (request and response models),
``spec`` (the routing table), ``auth`` (who may call what), ``handlers``, ``app``
(the Starlette application), ``openapi``, ``dashboard`` and ``samples`` (depth and
throughput history), ``server`` (``AdminServer``: uvicorn on its own thread).
"""
