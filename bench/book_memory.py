"""What the worker's state costs in memory and CPU as a programme's history grows, without Kafka.

    .venv/bin/python bench/book_memory.py --size default    # Grand Paris: ~6 min, ~3 GB of RAM

The programme's reference data, then its activity, routed and decided by one PartitionProcessor (the
worker's own path) in intake messages of 500 events, the book's delta taken every 20 messages as
the worker's commit timer takes it (then packed: ledger.book.Records). Prints and writes
(bench/results/book_memory.json, or --out) the RSS growth over the activity (the book, its dicts'
spare room and the allocator's around them: the programme's generated events are held before it
starts), CPU-µs per event of deciding and taking the deltas, the state bytes written, and each
map's size. Run it at two commits side by side to compare them: these machines are shared, and
only same-run figures compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.harness import SIZES, intake_messages, messages  # noqa: E402
from streams.settings import Settings, load_rulebook  # noqa: E402
from streams.worker.app import tune_collector  # noqa: E402
from streams.worker.processor import PartitionProcessor  # noqa: E402
from streams.worker.routing import EVENTS, route  # noqa: E402

BATCH = 500  # events per intake message, as ContractorProducer packs them
DELTA_EVERY = 20  # messages between two deltas: ~a second of the worker's at 10,000 events/s
MAX_RECORD = 900_000  # bytes of a state record, as the worker cuts them


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "book_memory.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    msgs = messages(SIZES[args.size])
    print(f"generated {args.size}: {len(msgs.activity):,} activity events in {time.perf_counter() - started:.1f} s",
          flush=True)
    tune_collector()  # as the worker does
    processor = PartitionProcessor(load_rulebook(Settings()))
    state_bytes = 0

    def decide(pairs, base: int) -> None:
        nonlocal state_bytes
        for n, value in enumerate(intake_messages(pairs, BATCH)):
            routed = route(value, "bench", 0, base + n, None, 1)
            for batch in routed.values():
                processor.process(EVENTS, bytes(batch), None, routed.keys_unique)
            if n % DELTA_EVERY == DELTA_EVERY - 1:
                state_bytes += sum(map(len, processor.book.take_deltas(MAX_RECORD)))

    decide(msgs.reference, 0)
    gc.collect()
    rss_before, cpu = rss_mib(), time.process_time()
    decide(msgs.activity, len(msgs.reference))
    state_bytes += sum(map(len, processor.book.take_deltas(MAX_RECORD)))
    cpu = time.process_time() - cpu
    events = len(msgs.activity)
    growth = rss_mib() - rss_before
    result = {
        "command": " ".join(["bench/book_memory.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "size": args.size,
        "activity_events": events,
        "rss_growth_mib": round(growth),
        "rss_mib_per_million_events": round(growth / events * 1e6),
        "cpu_us_per_event": round(cpu * 1e6 / events, 1),
        "state_bytes": state_bytes,
        "maps": processor.book.size(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
