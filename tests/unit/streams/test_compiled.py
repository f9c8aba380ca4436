"""The hot modules compiled by Cython (setup.py) decide as their sources do, run when built, and
never when older than their source (streams/compiled.py)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SUFFIX = EXTENSION_SUFFIXES[0]


def compiled_sources() -> list[str]:
    """setup.py's COMPILED, read without running setup()."""
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMPILED":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no COMPILED")


def module_of(source: str) -> str:
    return source.removesuffix(".py").removesuffix(".pyx").replace("/", ".")


def built(source: str) -> bool:
    return (ROOT / source).with_name(Path(source).stem + SUFFIX).exists()


needs_build = pytest.mark.skipif(not all(built(s) for s in compiled_sources()),
                                 reason="the hot modules are not compiled here (no C compiler, or LEDGER_NO_EXTENSIONS "
                                        "at setup): python setup.py build_ext --inplace")


def run(code: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LEDGER_NO_EXTENSIONS"} | env
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


IMPORT_ALL = ("import json, importlib, streams\n"
              "from streams.compiled import compiled, install\n"
              "for name in {modules!r}: importlib.import_module(name)\n"
              "print(json.dumps([compiled(), install().sources]))")


def test_the_modules_setup_compiles_are_the_projects_and_exist():
    sources = compiled_sources()
    assert sources and all((ROOT / s).is_file() and s.startswith(("ledger/", "streams/")) for s in sources)
    # A module written for Cython (.pyx) has its Python source beside it, which runs where it is not built.
    assert all((ROOT / s).with_suffix(".py").is_file() for s in sources)
    assert "streams/compiled.py" not in sources and not any(s.endswith("__init__.py") for s in sources)


@needs_build
def test_every_compiled_module_runs_compiled_when_built():
    modules = [module_of(s) for s in compiled_sources()]
    found, sources = json.loads(run(IMPORT_ALL.format(modules=modules)).stdout)
    assert set(modules) <= set(found)
    assert sources == {}


@needs_build
def test_no_extension_runs_with_ledger_no_extensions():
    modules = [module_of(s) for s in compiled_sources()]
    found, sources = json.loads(run(IMPORT_ALL.format(modules=modules), LEDGER_NO_EXTENSIONS="1").stdout)
    assert found == []
    assert sources == {m: "LEDGER_NO_EXTENSIONS" for m in modules}


def stale_copy(tmp_path: Path, changed: str) -> Path:
    """A copy of the domain whose file `changed` was edited after its compile."""
    shutil.copytree(ROOT / "ledger", tmp_path / "ledger", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "streams").mkdir()
    for name in ("__init__.py", "compiled.py"):
        shutil.copy(ROOT / "streams" / name, tmp_path / "streams" / name)
    edited = tmp_path / "ledger" / changed
    later = (tmp_path / "ledger" / f"{edited.stem}{SUFFIX}").stat().st_mtime_ns + 1_000_000_000
    os.utime(edited, ns=(later, later))
    return edited


@needs_build
@pytest.mark.parametrize("changed", ["rules.py", "book.pxd", "hashes.pyx"])
def test_no_extension_is_imported_while_one_is_older_than_its_source(tmp_path, changed):
    """One source (or the .pxd declaring its classes) edited after its compile: every module runs
    from its source (the desk's extension types know the book's layout), and a warning names it."""
    edited = stale_copy(tmp_path, changed)
    done = run(IMPORT_ALL.format(modules=["ledger.desk", "ledger.book", "ledger.rules"]), cwd=tmp_path)
    found, sources = json.loads(done.stdout)
    assert found == []
    stale = f"{edited.stem}{SUFFIX}"
    assert sources[f"ledger.{edited.stem}"] == "compiled before its source last changed"
    assert sources["ledger.desk"] == f"another extension is stale: {stale}"
    assert {"ledger.desk", "ledger.book", "ledger.rules"} <= set(sources)
    assert f"{stale} is older than" in done.stderr


@needs_build
def test_the_python_beside_a_pyx_is_not_what_it_is_built_from(tmp_path):
    """ledger/hashes.py runs where hashes.pyx is not built: editing it leaves the extensions fresh."""
    stale_copy(tmp_path, "hashes.py")
    done = run(IMPORT_ALL.format(modules=["ledger.desk", "ledger.hashes"]), cwd=tmp_path)
    found, sources = json.loads(done.stdout)
    assert {"ledger.desk", "ledger.hashes"} <= set(found) and sources == {}
    assert "older than" not in done.stderr


DECIDE_TINY = """
import hashlib, json, streams
from bench.harness import SIZES, intake_messages, messages
from streams.compiled import compiled
from streams.kafka.codec import encode_ledger, encode_rejection
from streams.settings import Settings, load_rulebook
from streams.worker.processor import PartitionProcessor
from streams.worker.routing import EVENTS, TICK, route

msgs = messages(SIZES["tiny"])
processor = PartitionProcessor(load_rulebook(Settings()))
digest, counts = hashlib.sha256(), {"records": 0, "rejections": 0}

def decided(out):
    for value, headers in encode_ledger(out.records):
        digest.update(value + repr(headers).encode())
    for rejection in out.rejections:
        digest.update(encode_rejection(rejection))
    counts["records"] += len(out.records)
    counts["rejections"] += len(out.rejections)

for n, value in enumerate(intake_messages(msgs.reference + msgs.activity, 100)):
    routed = route(value, "intake", 0, n, 1_767_225_600_000 + n, 1)
    for batch in routed.values():
        decided(processor.process(EVENTS, bytes(batch), None, routed.keys_unique))
decided(processor.process(TICK, b"0:%d" % (4_102_444_800_000), None))  # 2100: whatever waits expires
print(json.dumps([digest.hexdigest(), counts, compiled()]))
"""


@needs_build
def test_compiled_and_source_modules_decide_a_programme_alike():
    """The tiny programme (reference data, timesheets, corrections, over-claims, resolutions,
    malformed lines), every output byte for byte."""
    compiled_run = json.loads(run(DECIDE_TINY).stdout)
    source_run = json.loads(run(DECIDE_TINY, LEDGER_NO_EXTENSIONS="1").stdout)
    assert "ledger.desk" in compiled_run[2] and source_run[2] == []
    assert compiled_run[1]["records"] > 10_000 and compiled_run[1]["rejections"] > 0
    assert compiled_run[:2] == source_run[:2]


def declared_attributes(pxd: Path) -> dict[str, set[str]]:
    """The attributes each `cdef class` of a .pxd declares (`cdef [public] TYPE a, b`)."""
    classes: dict[str, set[str]] = {}
    current = None
    for line in pxd.read_text().splitlines():
        if line.startswith("cdef class "):
            current = classes.setdefault(line.removeprefix("cdef class ").rstrip(":").strip(), set())
        elif not line.startswith((" ", "\t")) and line.strip():
            current = None
        elif current is not None and line.strip().startswith("cdef "):
            words = line.strip().removeprefix("cdef ").removeprefix("public ").split(None, 1)[1]
            current.update(name.strip() for name in words.split(","))
    return classes


def assigned_attributes(source: Path, name: str) -> set[str]:
    """The attributes the methods of class `name` assign on `self`."""
    (cls,) = [n for n in ast.parse(source.read_text()).body if isinstance(n, ast.ClassDef) and n.name == name]
    found = set()
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for item in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) and item.value.id == "self":
                    found.add(item.attr)
    return found


def test_every_attribute_an_extension_type_sets_is_declared_in_its_pxd():
    """Compiled, a class a .pxd makes an extension type has only the attributes declared there (an
    undeclared one raises AttributeError where the source would run): each one its methods set."""
    pxds = sorted(p for s in compiled_sources() if (p := (ROOT / s).with_suffix(".pxd")).exists())
    assert pxds, "no .pxd beside the compiled modules"
    checked = 0
    for pxd in pxds:
        for name, declared in declared_attributes(pxd).items():
            assigned = assigned_attributes(pxd.with_suffix(".py"), name)
            assert assigned <= declared, f"{pxd.name}: {name} sets {sorted(assigned - declared)} undeclared"
            checked += 1
    assert checked >= 6
