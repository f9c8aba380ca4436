# cython: language_level=3, boundscheck=False, wraparound=False
"""ledger.hashes compiled (setup.py): the functions of hashes.py, the same values, computed by
libcrypto's SHA-1 and SHA-256 called in C. hashlib builds an object for each hash, copies its
context (a namespace hashed once) through OpenSSL's provider layer and writes the hex digest as a
new string to be cut and joined again: two thirds of an id's ~880 ns. Here one context per
algorithm is kept and reset (safe: the GIL is held throughout, so no two calls interleave) and
the text is written once. hashes.py says what each function is; the tests hold the two equal.
"""

from cpython.unicode cimport PyUnicode_DecodeASCII

from ledger.entries import LEDGER_NAMESPACE


cdef extern from "openssl/evp.h":
    ctypedef struct EVP_MD_CTX:
        pass
    ctypedef struct EVP_MD:
        pass
    EVP_MD *EVP_MD_fetch(void *libctx, const char *algorithm, const char *properties)
    EVP_MD_CTX *EVP_MD_CTX_new()
    int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *kind, void *engine)
    int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *data, size_t count)
    int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size)


cdef enum:
    DIGEST_BYTES = 10
    _DIGEST_TEXT = 2 * DIGEST_BYTES
DIGEST_HEX = _DIGEST_TEXT

cdef const char *_HEX = b"0123456789abcdef"
cdef bytes _NAMESPACE = LEDGER_NAMESPACE.bytes
cdef const EVP_MD *_SHA1 = EVP_MD_fetch(NULL, b"SHA1", NULL)
cdef const EVP_MD *_SHA256 = EVP_MD_fetch(NULL, b"SHA256", NULL)
cdef EVP_MD_CTX *_CONTEXT = EVP_MD_CTX_new()
if _SHA1 is NULL or _SHA256 is NULL or _CONTEXT is NULL:
    raise ImportError("libcrypto has no SHA-1 or SHA-256 here: hashes.py runs instead")


cdef inline void _hex(const unsigned char *md, int count, char *out) noexcept:
    cdef int i
    for i in range(count):
        out[2 * i] = _HEX[md[i] >> 4]
        out[2 * i + 1] = _HEX[md[i] & 15]


cdef inline int _hash(const EVP_MD *kind, const char *head, size_t head_size, const char *data, size_t size,
                      unsigned char *md) noexcept:
    cdef unsigned int written
    return (EVP_DigestInit_ex(_CONTEXT, kind, NULL) and (head_size == 0 or EVP_DigestUpdate(_CONTEXT, head, head_size))
            and EVP_DigestUpdate(_CONTEXT, data, size) and EVP_DigestFinal_ex(_CONTEXT, md, &written))


cpdef str uuid5(str name):
    cdef bytes data = name.encode()
    cdef unsigned char md[64]
    cdef char text[36]
    if not _hash(_SHA1, _NAMESPACE, 16, data, len(data), md):
        raise ValueError("libcrypto's SHA-1 failed")
    md[6] = (md[6] & 0x0F) | 0x50  # the version: 5
    md[8] = (md[8] & 0x3F) | 0x80  # the variant: 10
    _hex(md, 4, text)
    text[8] = b"-"
    _hex(md + 4, 2, text + 9)
    text[13] = b"-"
    _hex(md + 6, 2, text + 14)
    text[18] = b"-"
    _hex(md + 8, 2, text + 19)
    text[23] = b"-"
    _hex(md + 10, 6, text + 24)
    return PyUnicode_DecodeASCII(text, 36, NULL)


cpdef str content_digest(bytes sorted_json):
    cdef unsigned char md[64]
    cdef char text[_DIGEST_TEXT]
    if not _hash(_SHA256, NULL, 0, sorted_json, len(sorted_json), md):
        raise ValueError("libcrypto's SHA-256 failed")
    _hex(md, DIGEST_BYTES, text)
    return PyUnicode_DecodeASCII(text, _DIGEST_TEXT, NULL)


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    const void *PyUnicode_DATA(object text)


cpdef bint is_canonical_uuid(str text):
    cdef Py_ssize_t i
    cdef unsigned char c
    cdef const unsigned char *data
    if len(text) != 36 or not PyUnicode_IS_ASCII(text):
        return False
    data = <const unsigned char *>PyUnicode_DATA(text)
    for i in range(36):
        c = data[i]
        if i == 8 or i == 13 or i == 18 or i == 23:
            if c != b"-":
                return False
        elif not (b"0" <= c <= b"9" or b"a" <= c <= b"f"):
            return False
    return True
