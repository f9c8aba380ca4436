# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""streams.kafka.partitioner compiled (setup.py): Kafka's murmur2 in C over the key's UTF-8 bytes
as CPython holds them (no copy for an ASCII key). partitioner.py says what it is; the tests hold
the two equal, and to kafka-python's murmur2."""

from libc.stdint cimport uint32_t


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object text, Py_ssize_t *size) except NULL


cdef uint32_t _murmur2(const unsigned char *data, Py_ssize_t length) noexcept nogil:
    # As Kafka's Utils.murmur2 (Java, 32-bit arithmetic; >>> is an unsigned shift).
    cdef uint32_t m = 0x5bd1e995U
    cdef uint32_t h = 0x9747b28cU ^ <uint32_t>length
    cdef uint32_t k
    cdef Py_ssize_t i, whole = length & ~3
    for i in range(0, whole, 4):
        k = data[i] | (<uint32_t>data[i + 1] << 8) | (<uint32_t>data[i + 2] << 16) | (<uint32_t>data[i + 3] << 24)
        k *= m
        k ^= k >> 24
        k *= m
        h *= m
        h ^= k
    i = length & 3
    if i == 3:
        h ^= <uint32_t>data[whole + 2] << 16
    if i >= 2:
        h ^= <uint32_t>data[whole + 1] << 8
    if i >= 1:
        h ^= data[whole]
        h *= m
    h ^= h >> 13
    h *= m
    h ^= h >> 15
    return h


cpdef int partition_of(str key, int partitions) except -1:
    cdef Py_ssize_t size
    cdef const char *data = PyUnicode_AsUTF8AndSize(key, &size)
    if partitions <= 0:
        raise ValueError(f"{partitions} partitions")
    return (_murmur2(<const unsigned char *>data, size) & 0x7FFFFFFF) % partitions
