cimport cython

from ledger.book cimport Book
from ledger.desk cimport Desk, Outcome

cdef class Outputs:
    cdef public list outcomes, records, rejections
    cdef public bytearray learned

    cpdef extend(self, Outputs other)
    @cython.locals(o=Outcome, records=list)
    cpdef add(self, list outcomes)


cdef class PartitionProcessor:
    cdef public Book book
    cdef public Desk desk
    cdef public object sources
    cdef public dict _latest

    cpdef _time(self, source, at)


cpdef str _source_head(str origin)
cpdef source_of(str origin)
