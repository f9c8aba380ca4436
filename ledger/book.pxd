cimport cython

cdef dict _DAY

cpdef _day_of(dict people, person, day, default=*)
cpdef _put_day(dict people, person, day, ids)
cpdef Py_ssize_t _at(dict index, list values, value) except -1


cdef class Records:
    cdef public dict memos, claims, cold, counts
    cdef public list values
    cdef public dict index
    cdef public object marks
    cdef public Py_ssize_t hot_limit

    cpdef hold(self, str name, key, value)
    @cython.locals(cold=dict, memos=dict, claims=dict, of=dict, v=list, memo=str, prefix=str, rest=bytes, stamp=bytes,
                   cut=Py_ssize_t, new_memos=Py_ssize_t, new_claims=Py_ssize_t, fields=tuple)
    cpdef pack(self)

cdef class Book:
    cdef public Records records
    cdef public object memos, claims, days
    cdef public dict contracts, enrolments, programmes, training, people, parked, clock, dirty, _days_put, _widths, _day_map

    cpdef put(self, name, key, value)
    cpdef put_record(self, name, event_id, value)
    cpdef memo(self, event_id)
    cpdef day_of(self, person, day, default=*)
    cpdef put_day(self, person, day, ids)
