"""Which filesystem a directory lives on, and what a MergeTree part costs there (chDB, this machine).

    .venv/bin/python bench/filesystem.py DIR [DIR ...]     # e.g. /tmp /dev/shm /mnt/journaled-ext4

Why this exists. Every insert makes one part per table it reaches (the ledger table, the dedup
stage's keys, each aggregate: a dozen), each part is a directory of ~10 files, and merges delete
them again. On an ext4 filesystem WITHOUT a journal (this machine's root disk: /proc/fs/jbd2 lists
no journal for it) the kernel's inode allocator checks, for every file it creates, whether each
candidate inode was deleted in the last seconds (`recently_deleted()` in fs/ext4/ialloc.c, done only
when the filesystem has no journal) and skips those: under ClickHouse's churn of parts every create
walks many of them. `perf record` of a loop of one-row inserts into a table with five summing views
put 50 % of the process's CPU in `ext4_create` -> `recently_deleted` -> `find_get_block_common`.
The same inserts cost 3-5x less CPU on a journaled ext4 or on tmpfs (docs/scaling.md, "The store's
filesystem"). So the loader's CPU per event depends on the store's filesystem as much as on the
code: bench/run.py records it with its figures, and this script measures the per-part cost on each
directory given, in turns, so that the machine's load falls on all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "filesystem.json"


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes a space, tab, newline and backslash as \ooo (octal) and leaves
    # other bytes as they are: decoding the whole field as escapes would garble a non-ASCII name.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _journals() -> list[str] | None:
    """The jbd2 journals in use (`<device>-<inode>`), or None when the kernel lists none at all."""
    try:
        return os.listdir("/proc/fs/jbd2")
    except OSError:
        return None


def filesystem_of(path: str | Path, mountinfo: str | None = None, journals: list[str] | None = None) -> dict:
    """{"path", "mount_point", "type", "device", "journal"} of the filesystem holding `path`.

    `journal`: True or False for ext3/ext4 (a journal in use is listed in /proc/fs/jbd2 as
    `<device>-<n>`), True for XFS (always journaled), None where it does not apply or cannot be told.
    `mountinfo` and `journals` default to this machine's (/proc/self/mountinfo, /proc/fs/jbd2)."""
    real = os.path.realpath(path)
    unknown = {"path": real, "mount_point": None, "type": None, "device": None, "journal": None}
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as file:
                mountinfo = file.read()
        except OSError:
            return unknown
        journals = _journals()
    best = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        mount_point, fstype, source = _unescape(fields[4]), fields[sep + 1], fields[sep + 2]
        inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= len(best[0])):  # the last mount over a point wins
            best = (mount_point, fstype, source)
    if best is None:
        return unknown
    mount_point, fstype, source = best
    journal = None
    if fstype in ("ext3", "ext4"):
        device = os.path.basename(source)
        journal = any(entry.rsplit("-", 1)[0] == device for entry in journals or ())
    elif fstype == "xfs":
        journal = True
    return {"path": real, "mount_point": mount_point, "type": fstype, "device": source, "journal": journal}


def describe(fs: dict) -> str:
    if fs["type"] is None:
        return "unknown filesystem"
    journal = {True: ", journaled", False: ", WITHOUT a journal", None: ""}[fs["journal"]]
    return f"{fs['type']}{journal} ({fs['device']} on {fs['mount_point']})"


def part_cost(directory: Path, inserts: int, views: int) -> float:
    """Median CPU ms of a one-row insert into a MergeTree table feeding `views` summing views:
    one part per table, the cost that does not depend on the rows."""
    import clickhouse_connect

    path = Path(tempfile.mkdtemp(prefix="ledger-fs-", dir=directory))
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    try:
        client.command("CREATE DATABASE fs")
        client.command("CREATE TABLE fs.source (key UInt64) ENGINE = MergeTree ORDER BY key")
        for n in range(views):
            client.command(f"CREATE TABLE fs.sums_{n} (key UInt64, total SimpleAggregateFunction(sum, UInt64)) "
                           "ENGINE = AggregatingMergeTree ORDER BY key")
            client.command(f"CREATE MATERIALIZED VIEW fs.sums_{n}_mv TO fs.sums_{n} AS "
                           "SELECT key, sum(key) AS total FROM fs.source GROUP BY key")
        spent = []
        for n in range(inserts):
            cpu = time.process_time()
            client.command(f"INSERT INTO fs.source VALUES ({n})")
            spent.append((time.process_time() - cpu) * 1000)
        return statistics.median(spent)
    finally:
        client.close()
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inserts", type=int, default=60)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    found = {str(d): filesystem_of(d) for d in args.directories}
    runs: dict[str, list[float]] = {str(d): [] for d in args.directories}
    for n in range(args.rounds):
        for d in args.directories:
            ms = part_cost(d, args.inserts, args.views)
            runs[str(d)].append(round(ms, 2))
            print(f"round {n + 1}: {str(d):24s} {describe(found[str(d)]):55s} {ms:6.1f} CPU-ms per insert "
                  f"({args.views + 1} parts)", flush=True)
    summary = {d: {"filesystem": found[d], "median_cpu_ms_per_insert": round(statistics.median(r), 2),
                   "cpu_ms_per_part": round(statistics.median(r) / (args.views + 1), 2), "runs": r}
               for d, r in runs.items()}
    report = {"command": "bench/filesystem.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
              "inserts_per_round": args.inserts, "parts_per_insert": args.views + 1,
              "load_average_after": [round(x, 2) for x in os.getloadavg()], "directories": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n" + "\n".join(f"{d:24s} {describe(s['filesystem']):55s} {s['median_cpu_ms_per_insert']:6.1f} CPU-ms "
                           f"per insert, {s['cpu_ms_per_part']:.1f} per part" for d, s in summary.items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
