"""Two trees' parse path at the same moments: the CPU of one change, on a machine that will not sit still.

    .venv/bin/python bench/lockstep.py OTHER_TREE [THIS_TREE] [--size default] [--events 300000]

CPU-µs per event on this shared 2-core machine move by 10-40 % between runs of the same code
minutes apart (docs/scaling.md), more than most changes are worth. Here two processes, one per
tree (a git worktree of the commit to compare, its modules compiled: `python setup.py build_ext
--inplace` in it), are pinned to the same core and pass a token through two pipes, so that they
route and decide the same intake message one after the other, as `bench/run.py`'s
parse_attribute_rate does (a PartitionProcessor over messages of 500 events, after the reference
data): whatever the machine does in a given second, both meet it. Each counts only its own CPU
time while it holds the token. Prints each tree's CPU-µs per event and their ratio (THIS / OTHER), and
writes them to bench/results/lockstep.json (or --out); swap the trees to check the order does not
matter. Their absolute figures are higher than a run
alone (the two share one core's caches): compare the ratio only.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child(tree: str, data: str, read_from: str, write_to: str, first: bool) -> None:
    """Decide the reference data, then each activity message while holding the token."""
    sys.path.insert(0, tree)
    os.chdir(tree)
    with open(data, "rb") as f:
        reference, activity = pickle.load(f)
    import streams  # noqa: F401  (installs the compiled modules' finder)
    from bench.harness import intake_messages
    from streams.compiled import compiled
    from streams.settings import Settings, load_rulebook
    from streams.worker.app import tune_collector
    from streams.worker.processor import PartitionProcessor
    from streams.worker.routing import EVENTS, route

    tune_collector()
    processor = PartitionProcessor(load_rulebook(Settings()))

    def decide(value: bytes, offset: int) -> None:
        routed = route(value, "bench", 0, offset, None, 1)
        for batch in routed.values():
            processor.process(EVENTS, bytes(batch), None, routed.keys_unique)

    for offset, value in enumerate(intake_messages(reference)):
        decide(value, offset)
    messages = list(intake_messages(activity))
    # A pipe's open waits for its other end: the first opens its writer first, the other its reader.
    if first:
        out, into = open(write_to, "wb", buffering=0), open(read_from, "rb", buffering=0)
        out.write(b".")  # the other starts
    else:
        into, out = open(read_from, "rb", buffering=0), open(write_to, "wb", buffering=0)
    spent = 0.0
    for n, value in enumerate(messages):
        into.read(1)
        started = time.process_time()
        decide(value, len(reference) + n)
        spent += time.process_time() - started
        try:
            out.write(b".")
        except BrokenPipeError:  # the other is through
            pass
    print(f"{spent * 1e6 / len(activity):.2f} {','.join(compiled()) or 'none'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", help="the tree to compare with (a worktree, compiled)")
    parser.add_argument("this", nargs="?", default=str(REPO), help="the tree measured against it (default: this one)")
    parser.add_argument("--size", default="default")
    parser.add_argument("--events", type=int, default=300_000, help="activity events decided in lockstep")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--core", type=int, default=os.cpu_count() - 1, help="the core both run on")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lockstep.json")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from bench.harness import SIZES, messages

    msgs = messages(SIZES[args.size], args.seed)
    with tempfile.TemporaryDirectory(prefix="lockstep-") as tmp:
        data = os.path.join(tmp, "messages.pickle")
        with open(data, "wb") as f:
            pickle.dump((msgs.reference, msgs.activity[:args.events]), f)
        pipes = [os.path.join(tmp, name) for name in ("to-this", "to-other")]
        for pipe in pipes:
            os.mkfifo(pipe)
        procs = {}
        for name, tree, read_from, write_to, first in (("other", args.other, pipes[1], pipes[0], True),
                                                         ("this", args.this, pipes[0], pipes[1], False)):
            procs[name] = subprocess.Popen(
                [sys.executable, __file__, "--child", tree, data, read_from, write_to, "1" if first else "0"],
                stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.sched_setaffinity(0, {args.core}))
        results = {}
        for name, proc in procs.items():
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"{name}'s process failed ({proc.returncode})")
            us, modules = out.split()
            results[name] = float(us)
            print(f"{name:5} {getattr(args, name)}: {us} CPU-µs per event (compiled: {modules})")
    ratio = round(results["this"] / results["other"], 3)
    print(f"ratio this / other: {ratio}")
    args.out.write_text(json.dumps({
        "command": "bench/lockstep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "size": args.size, "events": args.events,
        "trees": {name: {"path": getattr(args, name), "commit": _commit(getattr(args, name)),
                         "cpu_us_per_event": results[name]} for name in ("other", "this")},
        "ratio_this_to_other": ratio}, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


def _commit(tree: str) -> str | None:
    done = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        tree, data, read_from, write_to, first = sys.argv[2:7]
        child(tree, data, read_from, write_to, first == "1")
    else:
        sys.exit(main())
