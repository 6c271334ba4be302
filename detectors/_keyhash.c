/*
 * detectors._keyhash: the person keys (HMAC-SHA256, truncated, hex) of many values in one call.
 *
 * A dense export names 10 000 people per megabyte and every one of them is hashed. In Python each
 * key is six method calls on two copied hashlib states (0.75 us); here the two key-pad states are
 * plain SHA256_CTX structs, copied by assignment, and the loop runs without the interpreter. The
 * compression itself is OpenSSL's (SHA extensions where the CPU has them), the same code hashlib
 * uses. detectors/individuals.py (KeyedHasher) uses this module when it was built and falls back to
 * hashlib when it was not (no libssl-dev) or when EGRESS_NATIVE_HASH=0; the tests compare both with
 * hmac.digest.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX and friends: deprecated in 3.0, still there */
#include <Python.h>
#include <openssl/sha.h>
#include <string.h>

#define BLOCK 64

typedef struct {
    PyObject_HEAD
    SHA256_CTX inner; /* SHA-256 state after (key ^ ipad) */
    SHA256_CTX outer; /* SHA-256 state after (key ^ opad) */
} Hasher;

static int Hasher_init(Hasher *self, PyObject *args, PyObject *kwargs) {
    Py_buffer secret;
    static char *names[] = {"secret", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*", names, &secret)) return -1;
    unsigned char key[BLOCK] = {0};
    unsigned char pad[BLOCK];
    if (secret.len > BLOCK) {
        SHA256((const unsigned char *)secret.buf, (size_t)secret.len, key); /* RFC 2104 */
    } else {
        memcpy(key, secret.buf, (size_t)secret.len);
    }
    PyBuffer_Release(&secret);
    for (int i = 0; i < BLOCK; i++) pad[i] = key[i] ^ 0x36;
    SHA256_Init(&self->inner);
    SHA256_Update(&self->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++) pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&self->outer);
    SHA256_Update(&self->outer, pad, BLOCK);
    memset(key, 0, sizeof key);
    memset(pad, 0, sizeof pad);
    return 0;
}

static const char HEX[] = "0123456789abcdef";

/* many(prefix, values, size) -> list[str]: hex of the first ``size`` bytes of
   HMAC-SHA256(secret, prefix + value) for every bytes object in ``values``. */
static PyObject *Hasher_many(Hasher *self, PyObject *args) {
    Py_buffer prefix;
    PyObject *values;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*On", &prefix, &values, &size)) return NULL;
    if (size < 1 || size > SHA256_DIGEST_LENGTH) {
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, "size must be 1..32 bytes");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(values, "values must be a sequence of bytes");
    if (seq == NULL) {
        PyBuffer_Release(&prefix);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(n);
    if (out == NULL) goto fail;
    SHA256_CTX base = self->inner;
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH];
    for (Py_ssize_t i = 0; i < n; i++) {
        char *data;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(items[i], &data, &len) < 0) goto fail;
        SHA256_CTX ctx = base;
        SHA256_Update(&ctx, data, (size_t)len);
        SHA256_Final(digest, &ctx);
        ctx = self->outer;
        SHA256_Update(&ctx, digest, SHA256_DIGEST_LENGTH);
        SHA256_Final(digest, &ctx);
        for (Py_ssize_t j = 0; j < size; j++) {
            hex[2 * j] = HEX[digest[j] >> 4];
            hex[2 * j + 1] = HEX[digest[j] & 15];
        }
        PyObject *text = PyUnicode_FromStringAndSize(hex, 2 * size);
        if (text == NULL) goto fail;
        PyList_SET_ITEM(out, i, text);
    }
    Py_DECREF(seq);
    PyBuffer_Release(&prefix);
    return out;
fail:
    Py_XDECREF(out);
    Py_DECREF(seq);
    PyBuffer_Release(&prefix);
    return NULL;
}

/* digests(prefix, values, width, size) -> bytes: the first ``size`` bytes of
   HMAC-SHA256(secret, prefix + value), concatenated, for every ``width``-byte row of the buffer
   ``values`` (a numpy fixed-width bytes array); a row's value ends before its trailing NUL bytes,
   as numpy reads it. The raw form of ``many``: the engine sorts the keys as numbers and writes
   the hex of each once, in sorted order. */
static PyObject *Hasher_digests(Hasher *self, PyObject *args) {
    Py_buffer prefix, values;
    Py_ssize_t width, size;
    if (!PyArg_ParseTuple(args, "y*y*nn", &prefix, &values, &width, &size)) return NULL;
    PyObject *out = NULL;
    if (size < 1 || size > SHA256_DIGEST_LENGTH || width < 1 || values.len % width) {
        PyErr_SetString(PyExc_ValueError, "size must be 1..32 bytes, values whole rows of width");
        goto done;
    }
    Py_ssize_t n = values.len / width;
    out = PyBytes_FromStringAndSize(NULL, n * size);
    if (out == NULL) goto done;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    SHA256_CTX base = self->inner;
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *row = (const unsigned char *)values.buf + i * width;
        Py_ssize_t len = width;
        while (len > 0 && row[len - 1] == 0) len--;
        SHA256_CTX ctx = base;
        SHA256_Update(&ctx, row, (size_t)len);
        SHA256_Final(digest, &ctx);
        ctx = self->outer;
        SHA256_Update(&ctx, digest, SHA256_DIGEST_LENGTH);
        SHA256_Final(digest, &ctx);
        memcpy(dst + i * size, digest, (size_t)size);
    }
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&values);
    return out;
}

static PyMethodDef Hasher_methods[] = {
    {"many", (PyCFunction)Hasher_many, METH_VARARGS,
     "many(prefix, values, size) -> list[str]: truncated hex HMAC-SHA256 of prefix + value"},
    {"digests", (PyCFunction)Hasher_digests, METH_VARARGS,
     "digests(prefix, values, width, size) -> bytes: truncated HMAC-SHA256 of every row"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detectors._keyhash.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Hasher_init,
    .tp_methods = Hasher_methods,
    .tp_doc = "Hasher(secret): HMAC-SHA256 with the key pads hashed once.",
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "detectors._keyhash",
                                        "HMAC-SHA256 person keys, many per call.", -1, NULL};

PyMODINIT_FUNC PyInit__keyhash(void) {
    if (PyType_Ready(&HasherType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&HasherType);
    if (PyModule_AddObject(m, "Hasher", (PyObject *)&HasherType) < 0) {
        Py_DECREF(&HasherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
