"""The live view: served by the process that owns the store (docs/live.md).

- `app.py`: the FastAPI app (live page, JSON API, auditors' SQL), read through the owner's Store;
- `snapshot.py`: the figures, read with the report's own functions and deploy/clickhouse/queries/live_*.sql;
- `page.py`: the page (the HTML report's look and sections, refreshed by live.js);
- `wire.py`: typed JSON, so that a client renders exactly what it would from the store;
- `lag.py`: the Kafka lag of the workers and of the loader;
- `server.py`: uvicorn in a thread, the bind and token rules;
- `access.py`: for `ledger progress`, `sql` and `report`: the store, or the running owner over HTTP.
"""
