"""The worker process: routes intake events to the partition of their key, and decides them there.

- `routing`: which partition decides an event (pure), and the routed message format;
- `processor`: `PartitionProcessor`, one routed partition's desk, outputs and checkpoints;
- `state`: the per-partition state log (one delta per commit) and its restore;
- `app`: `build_worker(cfg)`, the Faust app, its two agents, timers and commit.
"""
