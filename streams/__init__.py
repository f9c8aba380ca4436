"""The ledger's I/O: Kafka producer and topics, the Faust worker, the ClickHouse loader, the CLI."""

from streams import compiled

# Before any module of the worker's path is imported: never an extension older than its source.
compiled.install()
