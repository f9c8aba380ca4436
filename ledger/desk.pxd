cimport cython
from ledger.book cimport Book
from ledger.rules cimport withheld_on
from ledger.sheets cimport fast_sheet


cpdef str entry_id(source_event_id, kind, subject=*)
cpdef list _opened(list outcomes)
cpdef str hours_text(hundredths)
cpdef str _date_text(ordinal)
cdef dict _HOURS_TEXT, _DATE_TEXT, _STAMPS
cdef Py_ssize_t _CONTRACT_START, _CONTRACT_END, _ELIGIBLE_FROM, _ELIGIBLE_UNTIL
cpdef str _stamp_at(at)

cdef class Outcome:
    cdef public object origin, event_id, event_type, state, learned
    cdef public list entries
    cdef public dict rejection, pending, reference


cdef class Desk:
    cdef public Book book
    cdef public object rulebook, version, _posted_at, _cause
    cdef public dict _awaiting, _param_cache, _timeouts, _shared, _counted, _under, _training_used
    cdef public list _deadlines
    cdef public set _arrived

    cpdef advance(self, stream_time)
    cpdef decide(self, raw, origin, stream_time=*, posted_at=*, keys_unique=*)
    cpdef _decide(self, raw, origin, keys_unique=*)
    cpdef _seen(self, memo, event_id, event_type, raw, origin, digest, content)
    @cython.locals(cached=dict)
    cpdef _param(self, name, contract_id, day)
    @cython.locals(fields=tuple)
    cpdef _first_of_its_day(self, sheet, origin)
    cpdef _withheld(self, claim, contract=*, enrolment=*)
    cpdef _worked_on(self, person, day)
    cpdef _on_day(self, person, day)
    cpdef _index(self, claim)
    cpdef _stand(self, claim, parts, credited_by)
    cpdef _counted_whole(self, hours)
    cpdef _share(self, value)
    cpdef _credited_under(self, contract)
    cpdef _entry(self, claim, entry_id_, kind, hours, status, reason, rule, cause_id, cause_type, under, reverses)
    cpdef _due(self)


@cython.locals(out=Outcome)
cpdef Outcome _accepted_outcome(origin, event_id, event_type, list entries)
