/*
 * detectors._kernels, second file: array steps of the dense path that numpy does in several
 * passes or with Python objects (see _kernels.c for the module as a whole and its reference code).
 */
#include "_kernels.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SORT_BUCKETS 2048 /* counts of one pass: 16 KB, in L1 */

/* sort_strings(values, n, width, order)

   ``order`` (n int64) receives the stable ascending order of the n fixed-width byte strings of
   ``values`` (n * width bytes), compared byte by byte: an LSD radix sort. One pass counts the
   bytes of every column; columns where all strings agree are left out, and neighbouring columns
   are sorted together when the product of their distinct byte counts fits SORT_BUCKETS
   (the dense CSV's resident IDs take 4 passes, not 18; its e-mails 13, not 30). */
PyObject *kernels_sort_strings(PyObject *self, PyObject *args) {
    PyObject *objs[2];
    Py_ssize_t n, width;
    if (!PyArg_ParseTuple(args, "OnnO", &objs[0], &n, &width, &objs[1])) return NULL;
    if (n < 0 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    const BufferArg spec[2] = {{"values", 0, n * width, 0, 0}, {"order", 1, n * 8, 0, 0}};
    Py_buffer b[2];
    Py_ssize_t unused;
    PyObject *result = NULL;
    int64_t *tmp = NULL, *hist = NULL, *kinds = NULL;
    uint16_t *rank = NULL, *key = NULL;
    if (get_buffers(objs, b, spec, 2, &unused) < 0) return NULL;
    const unsigned char *v = b[0].buf;
    int64_t *order = b[1].buf;
    Py_ssize_t rows = n > 0 ? n : 1, cols = width > 0 ? width : 1;
    tmp = PyMem_Malloc((size_t)rows * sizeof(int64_t));
    key = PyMem_Malloc((size_t)rows * sizeof(uint16_t));
    hist = PyMem_Calloc((size_t)cols * 256, sizeof(int64_t));
    rank = PyMem_Malloc((size_t)cols * 256 * sizeof(uint16_t));
    kinds = PyMem_Malloc((size_t)cols * sizeof(int64_t));
    if (tmp == NULL || key == NULL || hist == NULL || rank == NULL || kinds == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *row = v + i * width;
        for (Py_ssize_t c = 0; c < width; c++) hist[c * 256 + row[c]]++;
    }
    /* per column: the rank of each byte among the bytes present, and how many there are */
    for (Py_ssize_t c = 0; c < width; c++) {
        uint16_t r = 0;
        for (int byte = 0; byte < 256; byte++) {
            rank[c * 256 + byte] = r;
            if (hist[c * 256 + byte]) r++;
        }
        kinds[c] = r;
    }
    for (Py_ssize_t i = 0; i < n; i++) order[i] = i;
    int64_t *src = order, *dst = tmp;
    Py_ssize_t c = width - 1;
    while (c >= 0) {
        if (kinds[c] <= 1) { /* every string has the same byte here: nothing to order */
            c--;
            continue;
        }
        /* the group: columns [first, c] (constant ones inside are harmless: one symbol) */
        Py_ssize_t first = c;
        int64_t buckets = kinds[c];
        while (first > 0 && buckets * kinds[first - 1] <= SORT_BUCKETS) {
            first--;
            buckets *= kinds[first];
        }
        /* keys in index order (a sequential read), so the scatter below reads a small array */
        int64_t count[SORT_BUCKETS + 1];
        memset(count, 0, sizeof(int64_t) * (size_t)(buckets + 1));
        for (Py_ssize_t i = 0; i < n; i++) {
            const unsigned char *row = v + i * width;
            int64_t k = 0;
            for (Py_ssize_t j = first; j <= c; j++) k = k * kinds[j] + rank[j * 256 + row[j]];
            key[i] = (uint16_t)k;
            count[k + 1]++;
        }
        for (int64_t k = 1; k <= buckets; k++) count[k] += count[k - 1];
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t idx = src[i];
            dst[count[key[idx]]++] = idx;
        }
        int64_t *t = src;
        src = dst;
        dst = t;
        c = first - 1;
    }
    if (src != order) memcpy(order, src, (size_t)n * sizeof(int64_t));
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(tmp);
    PyMem_Free(key);
    PyMem_Free(hist);
    PyMem_Free(rank);
    PyMem_Free(kinds);
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* group_sorted(values, n, width, order, inverse, firsts) -> count

   After sort_strings: numbers the distinct strings in sorted order. inverse[i] is the number of
   string i, firsts[g] the index of the first string (in ``order``) of number g; returns how many
   distinct strings there are. Neighbours in ``order`` are compared with memcmp: no gathered copy
   of the strings and no string comparison array. */
PyObject *kernels_group_sorted(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    Py_ssize_t n, width;
    if (!PyArg_ParseTuple(args, "OnnOOO", &objs[0], &n, &width, &objs[1], &objs[2], &objs[3]))
        return NULL;
    if (n < 0 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    const BufferArg spec[4] = {{"values", 0, n * width, 0, 0},
                               {"order", 0, n * 8, 0, 0},
                               {"inverse", 1, n * 8, 0, 0},
                               {"firsts", 1, n * 8, 0, 0}};
    Py_buffer b[4];
    Py_ssize_t unused;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 4, &unused) < 0) return NULL;
    const unsigned char *v = b[0].buf;
    const int64_t *order = b[1].buf;
    int64_t *inverse = b[2].buf, *firsts = b[3].buf;
    int64_t groups = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t idx = order[i];
        if (idx < 0 || idx >= n) {
            PyErr_SetString(PyExc_ValueError, "order holds an index outside the values");
            goto done;
        }
        if (i == 0 || memcmp(v + idx * width, v + order[i - 1] * width, (size_t)width) != 0)
            firsts[groups++] = idx;
        inverse[idx] = groups - 1;
    }
    result = PyLong_FromLongLong(groups);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* hex_rows(raw, width, rows) -> tuple[str]

   The lower-case hex of the ``width``-byte rows ``rows`` (int64 indices) of ``raw``, in that
   order: the sorted person keys, made as the strings they are returned as and nothing else. */
PyObject *kernels_hex_rows(PyObject *self, PyObject *args) {
    PyObject *objs[2];
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OnO", &objs[0], &width, &objs[1])) return NULL;
    if (width < 1) {
        PyErr_SetString(PyExc_ValueError, "width must be positive");
        return NULL;
    }
    static const BufferArg spec[2] = {{"raw", 0, 0, 0, 0}, {"rows", 0, 0, 0, 8}};
    Py_buffer b[2];
    Py_ssize_t n;
    PyObject *result = NULL, *out = NULL;
    if (get_buffers(objs, b, spec, 2, &n) < 0) return NULL;
    static const char HEX[] = "0123456789abcdef";
    const unsigned char *raw = b[0].buf;
    const int64_t *rows = b[1].buf;
    Py_ssize_t total = b[0].len / width;
    out = PyTuple_New(n);
    if (out == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= total) {
            PyErr_SetString(PyExc_ValueError, "row outside raw");
            goto done;
        }
        PyObject *text = PyUnicode_New(2 * width, 127);
        if (text == NULL) goto done;
        Py_UCS1 *dst = PyUnicode_1BYTE_DATA(text);
        const unsigned char *src = raw + rows[i] * width;
        for (Py_ssize_t j = 0; j < width; j++) {
            dst[2 * j] = (Py_UCS1)HEX[src[j] >> 4];
            dst[2 * j + 1] = (Py_UCS1)HEX[src[j] & 15];
        }
        PyTuple_SET_ITEM(out, i, text);
    }
    result = out;
    out = NULL;
done:
    Py_XDECREF(out);
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* search_sorted(haystack, needles, right, out)

   np.searchsorted(haystack, needles, "right" if right else "left") for int64 arrays, haystack
   ascending. Each needle not below the previous one is found by galloping forward from the
   previous answer, so ascending needles (the usual case: a value's offsets) cost a walk through
   the haystack instead of a binary search each; a smaller needle starts a full binary search. */
PyObject *kernels_search_sorted(PyObject *self, PyObject *args) {
    PyObject *objs[3];
    int right;
    if (!PyArg_ParseTuple(args, "OOpO", &objs[0], &objs[1], &right, &objs[2])) return NULL;
    static const BufferArg spec[3] = {
        {"haystack", 0, 0, 0, 0}, {"needles", 0, 0, 0, 8}, {"out", 1, 0, 8, 0}};
    Py_buffer b[3];
    Py_ssize_t n;
    if (get_buffers(objs, b, spec, 3, &n) < 0) return NULL;
    Py_ssize_t m = b[0].len / 8;
    const int64_t *h = b[0].buf, *x = b[1].buf;
    int64_t *out = b[2].buf;
    Py_ssize_t at = 0; /* answer for the previous needle */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v = x[i];
        Py_ssize_t lo, hi;
        if (i > 0 && v >= x[i - 1]) { /* the answer is at or after the previous one */
            lo = at;
            Py_ssize_t step = 1;
            hi = lo;
            /* gallop until h[hi] is past v (or the end) */
            while (hi < m && (right ? h[hi] <= v : h[hi] < v)) {
                lo = hi + 1;
                hi = lo + step;
                step *= 2;
            }
            if (hi > m) hi = m;
        } else {
            lo = 0;
            hi = m;
        }
        while (lo < hi) { /* first index in [lo, hi) whose value is past v */
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (right ? h[mid] <= v : h[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        out[i] = at = lo;
    }
    release_buffers(b, 3);
    return Py_NewRef(Py_None);
}

/* positions(buf, byte, out) -> count

   The offsets of ``byte`` in ``buf``, ascending, written to ``out`` (int64, room for as many as
   there are) when it is not None; returns how many there are. SSE2 compares 64 bytes at a time
   and the hits are read off the bit mask, so a 10 MB table's newlines or delimiters cost one
   vectorised pass, not a comparison matrix and a np.flatnonzero over it (nor a memchr call per
   delimiter: 4 ms against 1 for the dense CSV's 600,000 commas). */
PyObject *kernels_positions(PyObject *self, PyObject *args) {
    PyObject *objs[2];
    int byte;
    if (!PyArg_ParseTuple(args, "OiO", &objs[0], &byte, &objs[1])) return NULL;
    Py_buffer b[2];
    int got = 0;
    PyObject *result = NULL;
    if (get(objs[0], &b[0], 0, 0, "buf") < 0) goto done;
    got = 1;
    int64_t *out = NULL;
    Py_ssize_t room = 0;
    if (objs[1] != Py_None) {
        if (get(objs[1], &b[1], 1, 0, "out") < 0) goto done;
        got = 2;
        out = b[1].buf;
        room = b[1].len / 8;
    }
    const unsigned char *start = b[0].buf;
    Py_ssize_t len = b[0].len, count = 0, i = 0;
#ifdef __SSE2__
    /* 64 bytes per step: four compares, a bit mask of the hits, one store per hit; memchr costs a
       call per hit, which on a table's delimiters (one byte in sixteen) is most of the time */
    const __m128i want = _mm_set1_epi8((char)byte);
    for (; i + 64 <= len; i += 64) {
        const __m128i *at = (const __m128i *)(start + i);
        uint64_t mask =
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(at), want)) |
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(at + 1), want))
                << 16 |
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(at + 2), want))
                << 32 |
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(at + 3), want))
                << 48;
        if (mask == 0) continue;
        if (out == NULL) {
            count += __builtin_popcountll(mask);
            continue;
        }
        while (mask) {
            if (count >= room) goto too_small;
            out[count++] = i + __builtin_ctzll(mask);
            mask &= mask - 1;
        }
    }
#endif
    for (; i < len; i++) {
        if (start[i] != (unsigned char)byte) continue;
        if (out != NULL) {
            if (count >= room) goto too_small;
            out[count] = i;
        }
        count++;
    }
    result = PyLong_FromSsize_t(count);
    goto done;
too_small:
    PyErr_SetString(PyExc_ValueError, "out is too small");
done:
    for (int k = 0; k < got; k++) PyBuffer_Release(&b[k]);
    return result;
}

