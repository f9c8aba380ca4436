cimport cython


@cython.locals(data=bytes, out=list, at=Py_ssize_t, size=Py_ssize_t, head=Py_ssize_t, length=Py_ssize_t,
               raw_length=Py_ssize_t, posted=Py_ssize_t)
cpdef list lines(value)
cpdef _append(bytearray batch, bytes where, stamp_ms, raw)
