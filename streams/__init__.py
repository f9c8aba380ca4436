"""The ledger's I/O: Kafka producer and topics, the Faust worker, the ClickHouse loader, the CLI."""
