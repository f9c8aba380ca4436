"""The loader process: reads the ledger and rejection topics and writes them into ClickHouse.

- `app`: `Loader`, its consumer group, batches bounded by time and size, commits after each write;
- `sink`: the batch writer (`add / flush / write(batch)`), pass-through JSONEachRow inserts with
  deduplication tokens derived from the batch's offsets;
- `backoff`: retries while the store is unavailable.
"""
