"""Which of the worker's hot modules run compiled, and never one compiled from an older source.

setup.py compiles a few modules (its COMPILED) with Cython into extension modules placed beside
their sources. Python imports an extension before a source of the same name, so an extension built
before its source (or the `.pxd` declaring its classes' attributes) last changed would run the old
code: `SourcesWhenStale`, installed by `import streams` and by the tests' conftest, then imports the
sources of every compiled module instead, and warns (`make` compiles again). Every one, not only the
stale: the desk's, the book's and the processor's classes are extension types that know each other's
layout (their `.pxd` files cimport one another), so a compiled desk cannot run on a source book.
LEDGER_NO_EXTENSIONS=1 imports every source, for a py-spy profile of their lines or to compare:
read here, at import, before any setting can be (the same variable stops setup.py compiling).

`ledger/` does not install it: the domain imports nothing of the stream layer. Whatever imports
`streams` first (every process, the benchmark, the tests) has it before the domain's modules load.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, PathFinder
from importlib.util import spec_from_file_location

PACKAGES = ("ledger.", "streams.")


def extensions_wanted() -> bool:
    return os.environ.get("LEDGER_NO_EXTENSIONS", "") in ("", "0")


class SourcesWhenStale(MetaPathFinder):
    """Finds the project's modules as Python would, but for an extension module when any of the
    project's extensions is older than its source, or when extensions are unwanted: then the
    source. `sources` says which, and why."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self._stale: dict[str, list[str]] = {}  # project root -> its stale extensions, found once

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(PACKAGES):
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
            return spec
        source = os.path.join(os.path.dirname(spec.origin), name.rpartition(".")[2] + ".py")
        if not os.path.exists(source):  # an extension without its source (an installed wheel): as built
            return spec
        if not extensions_wanted():
            self.sources[name] = "LEDGER_NO_EXTENSIONS"
        else:
            stale = self.stale_extensions(spec.origin, name)
            if not stale:
                return spec
            self.sources[name] = ("compiled before its source last changed" if spec.origin in stale
                                  else "another extension is stale: " + ", ".join(map(os.path.basename, stale)))
        return spec_from_file_location(name, source)

    def stale_extensions(self, origin: str, name: str) -> list[str]:
        """The project's extensions older than their source or `.pxd` (the project found from one of
        them: `origin`, the file of module `name`), each named in a warning once: every module runs
        from its source then, whichever is imported."""
        root = os.path.dirname(origin)
        for _ in range(name.count(".")):
            root = os.path.dirname(root)
        if root not in self._stale:
            newer = {found: edited for package in PACKAGES
                     for found in _extensions(os.path.join(root, package.rstrip(".")))
                     if (edited := _edited_since(found)) is not None}
            for extension, edited in sorted(newer.items()):
                warnings.warn(f"{extension} is older than {edited}: the sources run, slower, until it is compiled "
                              f"again (make setup, or python setup.py build_ext --inplace)", RuntimeWarning,
                              stacklevel=3)
            self._stale[root] = sorted(newer)
        return self._stale[root]


def _extensions(top: str):
    for folder, subfolders, files in os.walk(top):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        for file in files:
            if file.endswith(tuple(EXTENSION_SUFFIXES)):
                yield os.path.join(folder, file)


def _edited_since(extension: str) -> str | None:
    """Its source or its declarations (`.pxd`), if changed after it was built (no source: as built).
    Its source is the `.pyx` of a module written for Cython (ledger/hashes.pyx: the `.py` beside it
    is what runs where it is not built, not what it is built from), else its `.py`."""
    stem = os.path.join(os.path.dirname(extension), os.path.basename(extension).split(".")[0])
    built = os.stat(extension).st_mtime_ns
    source = stem + ".pyx" if os.path.exists(stem + ".pyx") else stem + ".py"
    return next((f for f in (source, stem + ".pxd") if os.path.exists(f) and os.stat(f).st_mtime_ns > built), None)


def install() -> SourcesWhenStale:
    """The finder, first on sys.meta_path (once)."""
    for finder in sys.meta_path:
        if isinstance(finder, SourcesWhenStale):
            return finder
    finder = SourcesWhenStale()
    sys.meta_path.insert(0, finder)
    return finder


def compiled() -> list[str]:
    """The project's modules imported so far that run compiled."""
    return sorted(name for name, module in list(sys.modules.items())
                  if name.startswith(PACKAGES) and (getattr(module, "__file__", None) or "").endswith(
                      tuple(EXTENSION_SUFFIXES)))
