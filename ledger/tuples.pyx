# cython: language_level=3, boundscheck=False, wraparound=False
"""ledger.tuples compiled (setup.py): `new` allocates the tuple subclass and fills it in C, and
leaves it untracked by the garbage collector. tuples.py says why; the tests hold the two equal."""

from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE


cdef extern from "Python.h":
    object PyType_GenericAlloc(type kind, Py_ssize_t items)
    void PyObject_GC_UnTrack(void *op)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, PyObject *item)


cdef set _KINDS = set()  # the classes checked: tuple's subclasses without a __dict__


cpdef new(type kind, tuple values):
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(values)
    cdef PyObject *item
    if kind not in _KINDS:
        if not issubclass(kind, tuple) or kind.__dictoffset__:
            raise TypeError(f"{kind.__name__} is not a subclass of tuple without a __dict__")
        _KINDS.add(kind)
    made = PyType_GenericAlloc(kind, n)
    for i in range(n):
        item = PyTuple_GET_ITEM(values, i)
        Py_INCREF(<object>item)
        PyTuple_SET_ITEM(made, i, item)
    PyObject_GC_UnTrack(<PyObject *>made)
    return made
