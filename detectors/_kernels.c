/*
 * detectors._kernels: two validator kernels as one loop over the candidates instead of a few dozen
 * numpy passes over a (candidates x width) byte matrix.
 *
 * On a dense export (a person every ~85 bytes) the e-mail and resident-ID validators run over
 * 125,000 candidates per 10 MB; in numpy each of their steps (byte-class lookups, argmax, case
 * folding) allocates and walks a fresh matrix, 0.08 s and 0.03 s in all. The loops here read each
 * candidate's bytes once. They compute exactly what the numpy kernels in
 * detectors/validators_contact.py (check_email) and detectors/validators.py (check_gb11643)
 * compute; those stay the reference and the path without this module (not built, or
 * EGRESS_NATIVE_KERNELS=0), and tests/test_detectors_kernels.py compares both on every identifier
 * the corpus holds and on random spans.
 *
 * No numpy headers: the caller passes the buffer, the int64 offsets and the (already allocated)
 * output arrays through the buffer protocol; the tables (byte classes, check characters,
 * provinces, denied TLDs) come from the Python side, so there is one copy of each.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int get(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t min_len, const char *what) {
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                               : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len < min_len) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, need %zd", what, view->len, min_len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int is_letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* email(buf, starts, ends, width, local, domain, denied, valid, values)

   ``local`` and ``domain`` are 256-byte class tables, ``denied`` the sorted big-endian uint64
   words of the file-extension TLDs (left-aligned, zero-padded; at most 8 bytes each). Writes
   valid[i] (0/1) and the lower-cased span bytes, zero-padded to ``width``, into values[i]. */
static PyObject *email(PyObject *self, PyObject *args) {
    PyObject *objs[9];
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OOOnOOOOO", &objs[0], &objs[1], &objs[2], &width, &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7]))
        return NULL;
    Py_buffer b[8];
    int got = 0;
    PyObject *result = NULL;
    if (get(objs[0], &b[0], 0, 0, "buf") < 0) goto done;
    got = 1;
    if (get(objs[1], &b[1], 0, 0, "starts") < 0) goto done;
    got = 2;
    Py_ssize_t n = b[1].len / 8;
    if (get(objs[2], &b[2], 0, n * 8, "ends") < 0) goto done;
    got = 3;
    if (get(objs[3], &b[3], 0, 256, "local") < 0) goto done;
    got = 4;
    if (get(objs[4], &b[4], 0, 256, "domain") < 0) goto done;
    got = 5;
    if (get(objs[5], &b[5], 0, 0, "denied") < 0) goto done;
    got = 6;
    if (get(objs[6], &b[6], 1, n, "valid") < 0) goto done;
    got = 7;
    if (get(objs[7], &b[7], 1, n * width, "values") < 0) goto done;
    got = 8;
    const unsigned char *buf = b[0].buf;
    const int64_t *starts = b[1].buf, *ends = b[2].buf;
    const unsigned char *local = b[3].buf, *domain = b[4].buf;
    const uint64_t *denied = b[5].buf;
    Py_ssize_t n_denied = b[5].len / 8;
    unsigned char *valid = b[6].buf, *values = b[7].buf;
    Py_ssize_t size = b[0].len;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i], e = ends[i], len = e - s;
        unsigned char *out = values + i * width;
        memset(out, 0, (size_t)width);
        if (s < 0 || len < 0 || len > width || e > size) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer or wider than width");
            goto done;
        }
        const unsigned char *p = buf + s;
        int64_t at = -1, ats = 0, first_nonlocal = -1, last_nondomain = -1;
        int doubled = 0;
        for (int64_t j = 0; j < len; j++) {
            unsigned char c = p[j];
            out[j] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
            if (c == '@') {
                if (at < 0) at = j;
                ats++;
            }
            if (first_nonlocal < 0 && !local[c]) first_nonlocal = j;
            if (!domain[c]) last_nondomain = j;
            if (c == '.' && j > 0 && p[j - 1] == '.' && at < 0) doubled = 1;
        }
        /* the numpy kernel's argmax reads the zero padding too: a span without a non-local byte
           has its first one at ``len`` when padded, else at 0 (no padding, no '@': fails anyway) */
        if (first_nonlocal < 0) first_nonlocal = len < width ? len : 0;
        int ok = ats == 1 && at >= 1 && at <= 64 && len <= 254 && first_nonlocal == at &&
                 last_nondomain == at && p[0] != '.' && p[at - 1] != '.' && !doubled;
        if (ok) { /* the TLD: trailing letters of the 9 bytes before the end (0 before the buffer) */
            int tld = 0;
            while (tld < 9 && e - 1 - tld >= 0 && is_letter(buf[e - 1 - tld])) tld++;
            if (tld <= 8) {
                uint64_t word = 0;
                for (int k = 0; k < 8; k++) {
                    unsigned char c = k < tld ? buf[e - tld + k] : 0;
                    if (c >= 'A' && c <= 'Z') c += 32;
                    word = (word << 8) | c;
                }
                Py_ssize_t lo = 0, hi = n_denied;
                while (lo < hi) {
                    Py_ssize_t mid = (lo + hi) / 2;
                    if (denied[mid] < word) lo = mid + 1;
                    else hi = mid;
                }
                if (lo < n_denied && denied[lo] == word) ok = 0;
            }
        }
        valid[i] = (unsigned char)ok;
    }
    result = Py_NewRef(Py_None);
done:
    for (int k = 0; k < got; k++) PyBuffer_Release(&b[k]);
    return result;
}

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* gb11643(buf, starts, check, provinces, weights, min_year, max_year, valid, values)

   18 bytes from each start, upper-cased into values[i]; valid[i] when the first 17 are digits,
   the 18th is the check character ``check[sum(digit * weight) % 11]``, the first two digits are
   a province in the 100-byte ``provinces`` table and digits 7-14 a calendar date with the year in
   [min_year, max_year]. ``weights``: 17 int64. */
static PyObject *gb11643(PyObject *self, PyObject *args) {
    PyObject *objs[7];
    long long min_year, max_year;
    if (!PyArg_ParseTuple(args, "OOOOOLLOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &min_year, &max_year, &objs[5], &objs[6]))
        return NULL;
    Py_buffer b[7];
    int got = 0;
    PyObject *result = NULL;
    if (get(objs[0], &b[0], 0, 0, "buf") < 0) goto done;
    got = 1;
    if (get(objs[1], &b[1], 0, 0, "starts") < 0) goto done;
    got = 2;
    Py_ssize_t n = b[1].len / 8;
    if (get(objs[2], &b[2], 0, 11, "check") < 0) goto done;
    got = 3;
    if (get(objs[3], &b[3], 0, 100, "provinces") < 0) goto done;
    got = 4;
    if (get(objs[4], &b[4], 0, 17 * 8, "weights") < 0) goto done;
    got = 5;
    if (get(objs[5], &b[5], 1, n, "valid") < 0) goto done;
    got = 6;
    if (get(objs[6], &b[6], 1, n * 18, "values") < 0) goto done;
    got = 7;
    static const int days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const unsigned char *buf = b[0].buf, *check = b[2].buf, *provinces = b[3].buf;
    const int64_t *starts = b[1].buf, *weights = b[4].buf;
    unsigned char *valid = b[5].buf, *values = b[6].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i];
        if (s < 0 || s + 18 > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        const unsigned char *p = buf + s;
        unsigned char *out = values + i * 18;
        int ok = 1;
        int64_t d[17], total = 0;
        for (int j = 0; j < 18; j++) {
            unsigned char c = p[j];
            out[j] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
            if (j < 17) {
                if (c < '0' || c > '9') {
                    ok = 0;
                    d[j] = 0;
                } else {
                    d[j] = c - '0';
                }
                total += d[j] * weights[j];
            }
        }
        if (ok) ok = out[17] == check[total % 11] && provinces[d[0] * 10 + d[1]];
        if (ok) {
            int64_t year = d[6] * 1000 + d[7] * 100 + d[8] * 10 + d[9];
            int64_t month = d[10] * 10 + d[11], day = d[12] * 10 + d[13];
            ok = year >= min_year && year <= max_year && month >= 1 && month <= 12 && day >= 1 &&
                 day <= days[month] - (month == 2 && !leap(year));
        }
        valid[i] = (unsigned char)ok;
    }
    result = Py_NewRef(Py_None);
done:
    for (int k = 0; k < got; k++) PyBuffer_Release(&b[k]);
    return result;
}

static PyMethodDef methods[] = {
    {"email", email, METH_VARARGS,
     "email(buf, starts, ends, width, local, domain, denied, valid, values) -> None"},
    {"gb11643", gb11643, METH_VARARGS,
     "gb11643(buf, starts, check, provinces, weights, min_year, max_year, valid, values) -> None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "detectors._kernels",
                                        "Validator kernels in C (see detectors/_kernels.c).", -1,
                                        methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module_def); }
