"""What every process shares about Kafka: the topics and their settings (`topics`), the formats of
the records on them (`codec`), the worker's intake offsets and commits (`offsets`), and the local
development broker started from Maven Central jars (`localkafka`)."""
