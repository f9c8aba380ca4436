-- On a cluster only (streams/store.py, apply_schema): the versions of the schema applied, one row
-- each, named by the digest of the cluster variant's statements. A loader that starts and finds its
-- version here runs no DDL: ON CLUSTER statements wait for every node, and a replica may be down.
-- Written in the single-server form like the schema files; streams/cluster.py replicates it to
-- every node.
CREATE TABLE IF NOT EXISTS schema_versions
(
    digest      String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY digest;
