"""Machine instructions per event on the worker's path, counted by valgrind: a figure that does not
move with the machine's load.

    .venv/bin/python bench/instructions.py                   # medium programme, 40 intake messages
    .venv/bin/python bench/instructions.py --size small --messages 20 --out /tmp/i.json

CPU-µs per event on this shared 2-core machine move by 5-10 % between runs of the same code, and
more from one hour to the next (docs/scaling.md): a change worth 2 % cannot be shown by timing.
cachegrind (`valgrind --tool=cachegrind --cache-sim=no`, the Debian `valgrind` package) counts the
instructions a process executes, the same from run to run (hash randomisation fixed by
PYTHONHASHSEED=0). This script generates the programme, keeps its reference messages and the
first `--messages` intake messages of its activity (500 events each, as `bench/run.py` posts them)
in a temporary file, then runs itself under cachegrind twice per path: once deciding the
reference data only, once deciding the messages after it. The difference over the events is
what an event costs, the interpreter's start, the imports and the reference data left out.

Two paths, each driven as the worker drives it (no Kafka: the instructions of the clients and of
Faust are not counted):
- `decide`: the routed batches of the messages, prepared before the count, through one
  `PartitionProcessor` (with the routing's word on repeated keys, as the worker sends it);
- `worker`: the intake messages routed, decided, their outputs encoded (`encode_ledger`,
  `encode_rejection`), the metrics' pass (`observe_outcomes`) and a state delta
  (`Book.take_deltas`) every 30 messages (~15,000 events, about a second of the worker's).

Instructions are not time (cache misses, branches), but for interpreted code they follow it
closely: what the interpreter does less, it does faster. One blind spot: valgrind's virtual CPU has
no SHA instructions, so libcrypto runs its portable code under it, and the content digest
(SHA-256, ledger/hashes.py) counts ~10,600 instructions an event where the CPU runs it in less
than half of BLAKE2b's time (docs/scaling.md, "Hashes in C, caches in dicts"); bench/lockstep.py
times two trees against each other instead. Check a change by its instructions, then
confirm it on the pipeline (`bench/run.py`). Writes bench/results/instructions.json (or --out).
The modules `setup.py` compiles are counted as they run, compiled where built (the results name
them); `LEDGER_NO_EXTENSIONS=1` counts their Python sources.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BATCH = 500  # events per intake message, as bench/run.py posts them
DELTA_EVERY = 30  # messages between state deltas on the worker's path
PATHS = ("decide", "worker")


def _child(data: Path, path: str, count: int) -> None:
    """Decide the reference data, then `count` messages, on `path` (run under cachegrind)."""
    from streams.kafka.codec import encode_ledger, encode_rejection
    from streams.metrics import observe_outcomes
    from streams.settings import Settings, load_rulebook
    from streams.worker.app import STATE_RECORD_BYTES, tune_collector
    from streams.worker.processor import PartitionProcessor
    from streams.worker.routing import EVENTS, route

    reference, activity = pickle.loads(data.read_bytes())
    tune_collector()
    processor = PartitionProcessor(load_rulebook(Settings()))
    # Commits before 75459b5 had no word on keys: the script counts them too (docs/scaling.md's table).
    vouched = "keys_unique" in inspect.signature(processor.process).parameters

    def process(batch: bytes, batches) -> object:
        if vouched:
            return processor.process(EVENTS, batch, None, batches.keys_unique)
        return processor.process(EVENTS, batch, None)

    def routed(values, base: int) -> list:
        out = []
        for n, value in enumerate(values):
            batches = route(value, "bench", 0, base + n, 1_717_437_600_000 + base + n, 1)
            out += [(bytes(batch), batches) for batch in batches.values()]
        return out

    for batch, batches in routed(reference, 0):
        process(batch, batches)
    processor.book.take_deltas(STATE_RECORD_BYTES)
    if path == "decide":
        # Every message routed in both runs, so that their difference is the deciding alone.
        prepared = [routed([value], len(reference) + n) for n, value in enumerate(activity)]
        for message in prepared[:count]:
            for batch, batches in message:
                process(batch, batches)
        return
    for n, value in enumerate(activity[:count]):
        batches = route(value, "bench", 0, len(reference) + n, 1_717_437_600_000 + n, 1)
        for batch in batches.values():
            out = process(bytes(batch), batches)
            encode_ledger(out.records)
            for rejection in out.rejections:
                encode_rejection(rejection)
            observe_outcomes(out.outcomes, None, 0.0)
        if n % DELTA_EVERY == DELTA_EVERY - 1:
            processor.book.take_deltas(STATE_RECORD_BYTES)


def _instructions(data: Path, path: str, count: int, valgrind: str) -> int:
    """The instructions one child process executes (cachegrind's `I refs`)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                           sys.executable, __file__, "--child", str(data), "--path", path, "--messages", str(count)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"cachegrind run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="medium", help="tiny, small, medium or default (generated first)")
    parser.add_argument("--messages", type=int, default=40, help="intake messages of 500 events counted")
    parser.add_argument("--path", choices=PATHS, action="append", help="the paths to count (default: both)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "instructions.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path[0], args.messages)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind is needed (Debian: apt install valgrind)")
    from bench.harness import SIZES, intake_messages, messages

    started = time.monotonic()
    msgs = messages(SIZES[args.size])
    reference = list(intake_messages(msgs.reference, BATCH))
    activity = list(intake_messages(msgs.activity, BATCH))[:args.messages]
    events = sum(value.count(b'"event_id"') for value in activity)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    # The children import what this process does: the modules that run compiled (setup.py) are these.
    import streams.kafka.codec, streams.worker.processor  # noqa: E401, F401
    from streams.compiled import compiled
    results = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit,
               "size": args.size, "messages": len(activity), "events": events, "compiled_modules": compiled(),
               "paths": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "messages.pickle"
        data.write_bytes(pickle.dumps((reference, activity)))
        for path in args.path or PATHS:
            base = _instructions(data, path, 0, valgrind)
            total = _instructions(data, path, len(activity), valgrind)
            per_event = round((total - base) / events)
            results["paths"][path] = {"instructions_per_event": per_event, "reference_only": base, "with_messages": total}
            print(f"{path:7s} {per_event:>9,} instructions per event ({events:,} events)", flush=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
