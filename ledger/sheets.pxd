cpdef _moment(str text)
cpdef fast_sheet(raw, keys_unique=*)

cdef dict _CONTRACTS, _KEYS, _SIRETS, _DAYS, _HUNDREDTHS
cpdef _day(str text)
cpdef _hundredths(value)
