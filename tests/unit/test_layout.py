"""The direction of the data shows in the imports: the domain knows no I/O, each process's room
imports only what sits below it (README, Architecture). Read from the source with `ast`, so an
import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"faust", "kafka", "aiokafka", "clickhouse_connect", "chdb", "fastapi", "uvicorn", "starlette",
                "prometheus_client", "httpx", "requests", "urllib", "socket", "subprocess", "sqlite3", "rocksdict",
                "mode"}


def room(module: str) -> str:
    """`streams.worker.app` -> `streams.worker`; `streams.settings` stays itself; `ledger.desk` -> `ledger`."""
    parts = module.split(".")
    if parts[0] == "streams" and len(parts) > 2:
        return ".".join(parts[:2])
    return module if parts[0] == "streams" else parts[0]


def imports(top_level_only: bool = False) -> dict[str, set[str]]:
    """Each module of ledger/ and streams/ -> the modules it imports (absolute names): all of its
    imports, or with `top_level_only` those run when it is imported (not inside a function)."""
    found: dict[str, set[str]] = defaultdict(set)
    for package in ("ledger", "streams"):
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            tree = ast.parse(path.read_text(), str(path))
            found[module]  # a module that imports nothing is a module all the same
            for node in tree.body if top_level_only else ast.walk(tree):
                if isinstance(node, ast.Import):
                    found[module] |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    assert node.level == 0, f"{module}: relative import"
                    found[module].add(node.module)
                    found[module] |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


IMPORTS = imports()


def rooms_imported_by(prefix: str) -> set[str]:
    return {room(name) for module, names in IMPORTS.items() if room(module) == prefix for name in names
            if name.split(".")[0] in ("ledger", "streams", "bench", "tests")} - {prefix}


def test_the_domain_imports_no_stream_no_store_and_no_io():
    domain = {m: names for m, names in IMPORTS.items() if m.startswith("ledger")}
    assert len(domain) >= 10
    for module, names in domain.items():
        tops = {name.split(".")[0] for name in names}
        assert not tops & {"streams", "bench", "tests"}, (module, tops & {"streams", "bench", "tests"})
        assert not tops & IO_LIBRARIES, (module, tops & IO_LIBRARIES)


def test_no_product_code_imports_the_bench_or_the_tests():
    for module, names in IMPORTS.items():
        assert not {n for n in names if n.split(".")[0] in ("bench", "tests")}, module


@pytest.mark.parametrize(("process", "may_import"), [
    # The worker decides and writes to Kafka: it never reads or writes the store. (It logs which of
    # its modules run compiled: streams.compiled.)
    ("streams.worker", {"ledger", "streams", "streams.compiled", "streams.kafka", "streams.metrics",
                        "streams.settings"}),
    # The loader copies Kafka records into the store: it decides nothing.
    ("streams.loader", {"streams", "streams.kafka", "streams.metrics", "streams.settings", "streams.store"}),
    ("streams.kafka", {"ledger", "streams", "streams.metrics", "streams.settings"}),
    ("streams.contractor", {"ledger", "streams.kafka", "streams.settings"}),
    # The store creates its schema, on one server or as its cluster variant (pure text: streams.cluster).
    ("streams.store", {"streams.settings", "streams.cluster"}),
    ("streams.cluster", set()),
    # The gateway validates and produces: it neither decides nor reads the store. (Its simulator takes
    # the demo's synthetic programme; `ledger openapi` writes the live view's document too.)
    ("streams.gateway", {"ledger", "streams.contractor", "streams.kafka", "streams.settings", "streams.demo",
                         "streams.live"}),
])
def test_each_process_imports_only_what_sits_below_it(process, may_import):
    assert any(room(m) == process for m in IMPORTS), f"no module in {process}"
    assert rooms_imported_by(process) <= may_import, rooms_imported_by(process) - may_import


def test_only_the_command_line_imports_the_command_line():
    users = {m for m, names in IMPORTS.items() if "streams.cli" in names or any(n == "streams.cli" for n in names)}
    assert users <= {"streams.cli"}, users


def test_no_import_cycle_at_module_level():
    """A cycle makes the import order matter (one side sees the other half-built): none, by the
    imports at the top of each module (an import inside a function runs later, when both are built)."""
    top_level = imports(top_level_only=True)
    graph = {m: {n for n in names if n in top_level and n != m} for m, names in top_level.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join(path[path.index(module):] + [module])
        if module not in done:
            for imported in sorted(graph[module]):
                visit(imported, path + [module])
            done.add(module)

    for module in sorted(graph):
        visit(module, [])
