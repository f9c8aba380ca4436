"""The worker's hot modules compiled by Cython, from their own Python sources.

Each `.py` stays plain Python, run as it is where nothing is compiled. Beside some of them a `.pxd`
declares, for the compiled module only, what Cython cannot tell from the source: which classes are
extension types and the types of their attributes (`Desk`, `Book`, `Records`, `Outcome`,
`PartitionProcessor`, `Outputs`), which methods and functions other compiled code calls in C
(`cpdef`), and the `str`, `bytes` and `dict` of a few hot locals. An attribute read becomes a struct
read and such a call a C call, where untyped compiled code looked each up by name at every use
(docs/scaling.md, "Typed by .pxd files"). The price: an extension type's methods cannot be patched
(tests override them in subclasses), and a `.pxd` must follow its class's attributes.

Three modules are written for Cython instead: `ledger/hashes.pyx` calls libcrypto's SHA-1 and
SHA-256 in C (OpenSSL's headers needed to build it, `libssl-dev`) and checks an id's text in a C
loop, `ledger/tuples.pyx` makes a NamedTuple in C, untracked by the garbage collector, and
`streams/kafka/partitioner.pyx` computes Kafka's murmur2 in C; the `.py` beside each, the same
functions in Python, runs where it is not built.

pyproject.toml says everything else; this file exists for the extension modules, which setuptools
only takes from setup.py. They are built in place, beside their sources, by

    python setup.py build_ext --inplace      # make setup does it, again whenever a source changed

with the Cython of the `compile` extra (a `pip install` builds none: its isolated build has no
Cython, and the project stays pure Python). Each is optional: without a C compiler (or with
LEDGER_NO_EXTENSIONS=1) the sources run as they are, slower by what docs/scaling.md measures
("Compiled by Cython"). While any extension is older than its source or its `.pxd`, none is
imported (streams/compiled.py): the sources run, with a warning.
"""

import os

from setuptools import setup

# The modules every timesheet goes through in the worker: routing, deciding, the book, encoding.
COMPILED = [
    "ledger/sheets.py",
    "ledger/desk.py",
    "ledger/book.py",
    "ledger/rules.py",
    "ledger/registry.py",
    "streams/worker/routing.py",
    "streams/worker/processor.py",
    "streams/kafka/codec.py",
    # Not compiled from their .py: each .pyx does in C what its .py does in Python (hashes.py and
    # partitioner.py say why), the .py runs where it is not built.
    "ledger/hashes.pyx",
    "ledger/tuples.pyx",
    "streams/kafka/partitioner.pyx",
]


def extensions() -> list:
    if os.environ.get("LEDGER_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:  # pip's isolated build: pure Python
        return []
    # The generated C stays out of the source tree (build/ is ignored by git). annotation_typing off:
    # the annotations stay documentation, as in Python (on, `key_of(item: dict)` raised TypeError for None).
    modules = cythonize(COMPILED, build_dir="build/cython", quiet=True,
                        compiler_directives={"language_level": 3, "annotation_typing": False})
    for module in modules:
        module.optional = True  # a failed compile leaves the source to run, with a warning
        # After Python's own flags (-O3 -g): half the compile time (desk.c alone 35 -> 18 s here), the
        # same instructions per event (109,658 against 109,926 at -O3; -O1: 8 s, 111,150).
        module.extra_compile_args = ["-O2", "-g0"]
        if module.name == "ledger.hashes":
            module.libraries = ["crypto"]  # OpenSSL's, as Python's hashlib links it (headers: libssl-dev)
    return modules


setup(ext_modules=extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
