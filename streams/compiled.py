"""Which of the worker's hot modules run compiled, and never one compiled from an older source.

setup.py compiles a few modules (its COMPILED) with Cython into extension modules placed beside
their sources. Python imports an extension before a source of the same name, so an extension built
before its source last changed would run the old code: `SourcesWhenStale`, installed by `import
streams` and by the tests' conftest, imports the source instead and warns (`make` compiles again).
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
    """Finds the project's modules as Python would, but for an extension module that is older than
    its source, or unwanted: then the source. `sources` says which, and why."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(PACKAGES):
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
            return spec
        source = os.path.join(os.path.dirname(spec.origin), name.rpartition(".")[2] + ".py")
        try:
            stale = os.stat(spec.origin).st_mtime_ns < os.stat(source).st_mtime_ns
        except FileNotFoundError:  # an extension without its source (an installed wheel): as built
            return spec
        if extensions_wanted() and not stale:
            return spec
        if stale:
            self.sources[name] = "compiled before its source last changed"
            warnings.warn(f"{spec.origin} is older than {source}: the source runs, slower, until it is compiled "
                          f"again (make setup, or python setup.py build_ext --inplace)", RuntimeWarning, stacklevel=2)
        else:
            self.sources[name] = "LEDGER_NO_EXTENSIONS"
        return spec_from_file_location(name, source)


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
