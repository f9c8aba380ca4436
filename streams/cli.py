"""`ledger`: the command line of the insertion-hours ledger."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from streams.settings import settings

log = logging.getLogger("ledger.cli")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledger", description="Live, exact, auditable insertion hours.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO (DEBUG with -vv)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole pipeline on a synthetic programme and check its totals")
    demo.add_argument("--dir", type=Path, default=Path(".ledger/demo"), help="working directory (emptied first)")
    demo.add_argument("--seed", type=int, default=2015)
    demo.add_argument("--beneficiaries", type=int, default=None, help="size of the synthetic programme")

    commands.add_parser("worker", help="run a Faust worker: validate and attribute intake events")
    commands.add_parser("loader", help="load the ledger and rejection topics into ClickHouse")
    commands.add_parser("topics", help="create the ledger's topics")

    progress = commands.add_parser("progress", help="progress against targets, from the store")
    progress.add_argument("--json", action="store_true", help="machine-readable output")

    post = commands.add_parser("post", help="post a JSONL or CSV file of events to the intake topic")
    post.add_argument("file", type=Path)
    post.add_argument("--no-progress", action="store_true", help="no progress bar")

    schemas = commands.add_parser("schemas", help="write the events' JSON Schemas")
    schemas.add_argument("--out", type=Path, default=Path("schemas"))

    generate = commands.add_parser("generate", help="write a synthetic programme (JSONL) and its expected totals")
    generate.add_argument("--out", type=Path, default=Path(".ledger/synthetic"))
    generate.add_argument("--seed", type=int, default=2015)
    generate.add_argument("--beneficiaries", type=int, default=None)

    replay = commands.add_parser("replay", help="recompute the ledger from the Kafka history under another rulebook "
                                                "into a separate database, and print the differences per contract")
    replay.add_argument("--rulebook", type=Path, required=True, help="the rulebook file (rules/*.toml)")
    replay.add_argument("--database", help="target database (default: <database>_replay_<version>)")

    kafka = commands.add_parser("kafka", help="a local Apache Kafka broker (KRaft, 127.0.0.1)")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--data-dir", type=Path, default=Path(".ledger/kafka"))
    kafka.add_argument("--port", type=int, default=9092)

    from streams.gateway.commands import add_parsers as add_gateway_parsers  # gateway, token, openapi
    add_gateway_parsers(commands)

    reconcile = commands.add_parser("reconcile", help="recompute totals from the Kafka ledger topic and compare "
                                                      "them with ClickHouse; exit 1 on any difference")
    reconcile.add_argument("--timeout", type=float, default=300, help="seconds to read the topics to their end")

    sql = commands.add_parser("sql", help="run one read-only query on the store and print a table (SELECT, WITH, "
                                          "SHOW, DESCRIBE, EXPLAIN; no file, network or settings access: "
                                          "docs/security.md)")
    sql.add_argument("query", help='one statement, e.g. "SELECT * FROM contract_progress"')
    sql.add_argument("--csv", action="store_true", help="print CSV (header row, then one line a row)")

    report = commands.add_parser("report", help="progress vs trajectory: a self-contained HTML page, the buyer's "
                                                "workbook (xlsx) and the per-contract CSV, in any combination")
    report.add_argument("--html", type=Path, default=None, help="the HTML page to write")
    report.add_argument("--xlsx", type=Path, default=None, help="the buyer's workbook to write (one sheet a table)")
    report.add_argument("--csv", type=Path, default=None, help="the per-contract table as CSV")
    report.add_argument("--programme", default=None, help="workbook: this programme only (default: every one)")
    report.add_argument("--from", dest="date_from", type=_date, default=None,
                        help="workbook: first work date of the period (YYYY-MM-DD; default 2000-01-01)")
    report.add_argument("--to", dest="date_to", type=_date, default=None,
                        help="workbook: last work date of the period (default: the store's reference date)")

    export = commands.add_parser("export", help="counted hours as open data: a Frictionless Data Package "
                                                "(docs/open-data.md)")
    export.add_argument("--open-data", type=Path, required=True, metavar="DIR",
                        help="directory to write datapackage.json and its CSV files into")

    args = parser.parse_args(argv)
    if args.command == "report":
        if not (args.html or args.xlsx or args.csv):
            report.error("give at least one of --html, --xlsx, --csv")
        if not args.xlsx and (args.programme or args.date_from or args.date_to):
            report.error("--programme, --from and --to choose the workbook's content: they need --xlsx")
        if args.date_from and args.date_to and args.date_from > args.date_to:
            report.error(f"--from {args.date_from} is after --to {args.date_to}")
    level = logging.WARNING if not args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python warns about its own slow I/O loop turns on a busy 2-core machine: not actionable.
    logging.getLogger("kafka").setLevel(max(level, logging.ERROR))
    return COMMANDS[args.command](args)


def _demo(args) -> int:
    from streams.demo import run_demo

    return run_demo(args.dir, seed=args.seed, beneficiaries=args.beneficiaries)


def _worker(args) -> int:
    from streams import metrics
    from streams.kafka.topics import check_worker_topics, ensure_topics

    cfg = settings()
    ensure_topics(cfg)
    allowed = check_worker_topics(cfg)
    if allowed < cfg.worker_batch_bytes:
        log.warning("the worker's producer batches are cut to %d bytes (LEDGER_WORKER_BATCH_BYTES=%d): what the "
                    "topics it writes accept (max.message.bytes) and a share of a request for %d partitions "
                    "(docs/scaling.md)", allowed, cfg.worker_batch_bytes, cfg.partitions)
        cfg = cfg.model_copy(update={"worker_batch_bytes": allowed})
    metrics.serve(cfg.metrics_port, cfg.metrics_addr)
    from streams.worker.app import build_worker

    faust_worker(build_worker(cfg).app, "info" if args.verbose else cfg.log_level).execute_from_commandline()
    return 0


def faust_worker(app, loglevel: str):
    import faust

    worker = faust.Worker(app, loglevel=loglevel)
    # Faust's terminal spinner turns on every record of every library: it sets the root logger to
    # DEBUG, so each message aiokafka sent built a log record to drop (7.6 % of a worker's samples).
    worker.spinner = None
    return worker


def _loader(args) -> int:
    from streams import metrics
    from streams.loader.app import Loader
    from streams.store import Store
    from streams.kafka.topics import check_retention, ensure_topics

    cfg = settings()
    ensure_topics(cfg)
    check_retention(cfg)  # the loader reads the topics of record whole: they must keep their history
    store = Store.from_settings(cfg)
    store.apply_schema()
    metrics.serve(cfg.metrics_port, cfg.metrics_addr)
    loader = Loader(cfg, store)
    # The process that owns the store answers for it: the live page, the figures, the auditors' SQL.
    from streams.live.server import LiveConfigError, LiveServer

    live = LiveServer(cfg, store)
    try:
        url = live.start()
    except LiveConfigError as error:
        print(f"ledger loader: {error}", file=sys.stderr)
        return 2
    if url:
        print(f"ledger loader: live view at {url}/ (database {cfg.clickhouse_database})", file=sys.stderr, flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loader.stop())
    try:
        loader.run()
    finally:
        live.stop()
    return 0


def _topics(args) -> int:
    from streams.kafka.topics import ensure_topics

    cfg = settings()
    ensure_topics(cfg)
    print(cfg.intake_topic, cfg.ledger_topic, cfg.rejections_topic)
    return 0


def _progress(args) -> int:
    from streams.live.access import live_client
    from streams.audit.report import progress_tables, render_progress
    from streams.store import Store

    cfg = settings()
    remote = live_client(cfg)  # the loader's live view when it owns the embedded store
    if remote is not None:
        tables = remote.progress_tables()
    else:
        # Read only: an auditor's or Grafana's read-only user may run it against a server.
        store = Store.from_settings(cfg, create=False)
        tables = progress_tables(store)
    if args.json:
        print(json.dumps(tables, default=str, indent=2))  # Decimal (exact hours) and dates as text
    else:
        print(render_progress(tables))
    return 0


def _post(args) -> int:
    from tqdm import tqdm

    from streams.contractor.producer import ContractorProducer, post_lines, read_lines

    if not args.file.exists():
        print(f"ledger post: no such file {args.file}", file=sys.stderr)
        return 2
    lines = list(read_lines(args.file))
    with ContractorProducer(settings()) as producer, \
            tqdm(total=len(lines), unit="event", disable=args.no_progress, desc=args.file.name) as bar:
        report = post_lines(producer, lines, progress=bar)
    for refusal in report.refused:
        print(f"{args.file}:{refusal.line}: refused ({refusal.reason}) {refusal.detail}", file=sys.stderr)
    print(f"posted {report.sent} events, refused {len(report.refused)} lines")
    return 1 if report.refused else 0


def _schemas(args) -> int:
    from ledger.events import json_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        path = args.out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        print(path)
    return 0


def _generate(args) -> int:
    from streams.demo import write_programme

    paths = write_programme(args.out, seed=args.seed, beneficiaries=args.beneficiaries)
    for path in paths:
        print(path)
    return 0


def _replay(args) -> int:
    from ledger.rulebook import Rulebook
    from streams.audit.report import table
    from streams.audit.replay import compare, replay, total
    from streams.store import Store

    cfg = settings()
    if not _retention_ok(cfg, "replay"):  # replay reads the intake topic from offset 0
        return 2
    rulebook = Rulebook.from_toml(args.rulebook.read_text())
    database = args.database or f"{cfg.clickhouse_database}_replay_{rulebook.version.replace('.', '_')}"
    result = replay(cfg, rulebook, database)
    rows = compare(Store.from_settings(cfg, create=False), database)
    print(f"replayed {result.messages} intake messages under rulebook {rulebook.version} into {database}")
    print(table([r for r in rows if r["difference"]], [("contract_id", "contract"), ("current", "current h"),
                                                     ("replayed", f"{rulebook.version} h"), ("difference", "difference h")]))
    print(f"total: {total(rows, 'current'):,.2f} h now, {total(rows, 'replayed'):,.2f} h under {rulebook.version}")
    return 0


def _kafka(args) -> int:
    from streams.kafka.localkafka import LocalKafka

    cfg = settings()
    broker = LocalKafka(args.data_dir, cfg.kafka_version, cfg.kafka_cache, port=args.port)
    if args.action == "start":
        print(broker.start())
    elif args.action == "stop":
        broker.stop()
    else:
        pid = broker.pid()
        print(f"running, pid {pid}, {broker.dsn}" if pid else "not running")
        return 0 if pid else 1
    return 0


def _retention_ok(cfg, command: str) -> bool:
    """False (and why, on stderr) if a topic of record would delete history: the command refuses to run."""
    from streams.kafka.topics import RetentionError, check_retention

    try:
        check_retention(cfg)
    except RetentionError as error:
        print(f"ledger {command}: refused: {error}", file=sys.stderr)
        return False
    return True


def _reconcile(args) -> int:
    from streams.audit.tools import open_store, reconcile

    cfg = settings()
    if not _retention_ok(cfg, "reconcile"):  # it reads the ledger topics from offset 0
        return 2
    store = open_store(cfg)
    try:
        result = reconcile(cfg, store, timeout=args.timeout)
    finally:
        store.close()
    print(result.render())
    return 0 if result.ok else 1


def _sql(args) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from streams.audit.tools import SqlRefused, check_read_only, open_store, read_only_query, render_csv, render_table
    from streams.audit.report import printable

    try:
        check_read_only(args.query)  # refused before the store is even opened
    except SqlRefused as error:
        print(f"ledger sql: refused: {printable(str(error))}", file=sys.stderr)
        return 2
    from streams.live.access import RemoteRefused, live_client

    cfg = settings()
    remote = live_client(cfg)  # the loader's live view when it owns the embedded store
    if remote is not None:
        try:
            result = remote.sql(args.query)
        except RemoteRefused as error:
            refused = error.error == "refused"
            print(f"ledger sql: {'refused: ' if refused else ''}{printable(error.message)}", file=sys.stderr)
            return 2 if refused else 1
        sys.stdout.write(render_csv(result) if args.csv else render_table(result) + "\n")
        return 0
    store = open_store(cfg)
    try:
        result = read_only_query(store, args.query)
    except SqlRefused as error:
        print(f"ledger sql: refused: {printable(str(error))}", file=sys.stderr)
        return 2
    except ClickHouseError as error:
        # The engine's message quotes the query: escaped, like every text shown on the terminal.
        print(f"ledger sql: {printable(str(error))}", file=sys.stderr)
        return 1
    finally:
        store.close()
    sys.stdout.write(render_csv(result) if args.csv else render_table(result) + "\n")
    return 0


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _report(args) -> int:
    from streams.audit.tools import open_store
    from streams.live.access import live_client
    from streams.audit.report_html import write_report

    cfg = settings()
    remote = live_client(cfg)  # the loader's live view when it owns the embedded store
    if remote is not None:
        from streams.audit.report_html import write_report_data

        written = write_report_data(remote.report_data(), args.html, csv_path=args.csv) \
            if args.html or args.csv else []
        if args.xlsx:
            args.xlsx.parent.mkdir(parents=True, exist_ok=True)
            args.xlsx.write_bytes(remote.workbook(args.programme, args.date_from, args.date_to))
            written.append(args.xlsx)
        for path in written:
            print(path)
        return 0
    store = open_store(cfg)
    try:
        written = write_report(store, args.html, csv_path=args.csv) if args.html or args.csv else []
        if args.xlsx:
            from streams.audit.workbook import write_workbook

            written.append(write_workbook(store, args.xlsx, programme=args.programme, date_from=args.date_from,
                                          date_to=args.date_to))
    finally:
        store.close()
    for path in written:
        print(path)
    return 0


def _export(args) -> int:
    from streams.audit.tools import open_store
    from streams.audit.open_data import write_open_data

    store = open_store(settings())
    try:
        written = write_open_data(store, args.open_data)
    finally:
        store.close()
    for path in written:
        print(path)
    return 0



COMMANDS = {"demo": _demo, "worker": _worker, "loader": _loader, "topics": _topics, "progress": _progress,
            "post": _post, "schemas": _schemas, "generate": _generate, "replay": _replay, "kafka": _kafka,
            "reconcile": _reconcile, "sql": _sql, "report": _report, "export": _export}

from streams.gateway.commands import COMMANDS as GATEWAY_COMMANDS  # noqa: E402  (gateway, token, openapi)
COMMANDS.update(GATEWAY_COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
