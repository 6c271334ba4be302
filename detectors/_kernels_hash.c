/*
 * detectors._kernels, third file: the steps after the scan on a dense object that numpy did by
 * sorting or in several passes: the distinct values of a fixed-width bytes array by hashing, the
 * people count's rows and aliases, the longest valid span per start, the merge of the accepted
 * spans of all identifiers by start (see _kernels.c for the module as a whole and the reference
 * code of each).
 */
#include "_kernels.h"

/* 64-bit hash of one string: its 8-byte words folded by multiply-xorshift. Only speed depends on
   it; equality is always decided by memcmp. */
static uint64_t hash_row(const unsigned char *p, Py_ssize_t width) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)width;
    Py_ssize_t j = 0;
    for (; j + 8 <= width; j += 8) {
        uint64_t w;
        memcpy(&w, p + j, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (j < width) {
        uint64_t w = 0;
        memcpy(&w, p + j, (size_t)(width - j));
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
        h ^= h >> 32;
    }
    h *= 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 29);
}

#define PREFETCH 16 /* strings ahead whose table slot is fetched early */

/* One slot of the table: the group number + 1 of a string (0: empty) and high bits of its hash. */
typedef struct {
    uint32_t tag;
    int32_t group;
} Slot;

/* distinct_strings(values, n, width, inverse, firsts, max_probes) -> count

   Numbers the distinct strings of ``values`` (n fixed-width strings of ``width`` bytes) in order
   of first appearance: inverse[i] is the number of string i, firsts[g] the index of the first
   string of number g; returns how many distinct strings there are. An open-addressing table of
   at least 2n slots keyed by a 64-bit hash; two strings are the same only when memcmp says so,
   so the numbering is exact whatever the hash does. O(n) where a sort is O(n * passes).

   The hash is not keyed, so traffic could be crafted to collide: a lookup that needs more than
   ``max_probes`` slots stops the loop and the call returns -1 (the caller then sorts, which
   costs the same for any input). At load 1/2 the expected probe count is 1.5. */
PyObject *kernels_distinct_strings(PyObject *self, PyObject *args) {
    PyObject *objs[3];
    Py_ssize_t n, width;
    Py_ssize_t max_probes;
    if (!PyArg_ParseTuple(args, "OnnOOn", &objs[0], &n, &width, &objs[1], &objs[2], &max_probes))
        return NULL;
    if (n < 0 || width < 0 || n >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "size out of range");
        return NULL;
    }
    const BufferArg spec[3] = {{"values", 0, n * width, 0, 0},
                               {"inverse", 1, n * 8, 0, 0},
                               {"firsts", 1, n * 8, 0, 0}};
    Py_buffer b[3];
    Py_ssize_t unused;
    PyObject *result = NULL;
    Slot *slots = NULL;
    uint64_t *hashes = NULL;
    if (get_buffers(objs, b, spec, 3, &unused) < 0) return NULL;
    const unsigned char *v = b[0].buf;
    int64_t *inverse = b[1].buf, *firsts = b[2].buf;
    size_t size = 16;
    while (size < 2 * (size_t)n) size *= 2;
    slots = PyMem_Calloc(size, sizeof(Slot));
    hashes = PyMem_Malloc(((size_t)n + 1) * sizeof(uint64_t));
    if (slots == NULL || hashes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    size_t mask = size - 1;
    for (Py_ssize_t i = 0; i < n; i++) hashes[i] = hash_row(v + i * width, width);
    int64_t groups = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* the slot a later string starts at is fetched while this one is placed: the table is
           larger than the cache, and waiting for each slot in turn is most of the time */
        if (i + PREFETCH < n) __builtin_prefetch(&slots[hashes[i + PREFETCH] & mask], 1);
        uint64_t h = hashes[i];
        uint32_t tag = (uint32_t)(h >> 32);
        size_t at = (size_t)h & mask;
        const unsigned char *row = v + i * width;
        for (Py_ssize_t probes = 0;; probes++) {
            if (probes > max_probes) { /* crafted collisions: the caller sorts instead */
                result = PyLong_FromLong(-1);
                goto done;
            }
            Slot *slot = &slots[at];
            if (slot->group == 0) { /* a new string */
                slot->group = (int32_t)(groups + 1);
                slot->tag = tag;
                firsts[groups] = i;
                inverse[i] = groups++;
                break;
            }
            if (slot->tag == tag &&
                memcmp(v + firsts[slot->group - 1] * width, row, (size_t)width) == 0) {
                inverse[i] = slot->group - 1;
                break;
            }
            at = (at + 1) & mask;
        }
    }
    result = PyLong_FromLongLong(groups);
done:
    PyMem_Free(slots);
    PyMem_Free(hashes);
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* row_minimum(codes, rows, bounds, primary) -> rivals

   The steps of detectors/individuals.py's _rows that walk every occurrence: primary[r] (n_rows
   int64, filled by the caller with INT64_MAX) becomes the lowest node code on row r, as
   np.minimum.at does; then counts the occurrences of another node of the same namespace as
   their row's primary (``bounds``: first node of each namespace, then the node count), the rows
   the caller must re-decide by byte order. */
PyObject *kernels_row_minimum(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    static const BufferArg spec[4] = {{"codes", 0, 0, 0, 8},
                                      {"rows", 0, 0, 8, 0},
                                      {"bounds", 0, 8, 0, 0},
                                      {"primary", 1, 0, 0, 0}};
    Py_buffer b[4];
    Py_ssize_t n;
    if (get_buffers(objs, b, spec, 4, &n) < 0) return NULL;
    const int64_t *codes = b[0].buf, *rows = b[1].buf, *bounds = b[2].buf;
    int64_t *primary = b[3].buf;
    Py_ssize_t n_rows = b[3].len / 8, n_bounds = b[2].len / 8;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= n_rows) {
            PyErr_SetString(PyExc_ValueError, "row outside primary");
            goto done;
        }
        if (codes[i] < primary[rows[i]]) primary[rows[i]] = codes[i];
    }
    Py_ssize_t rivals = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t first = primary[rows[i]];
        if (codes[i] == first) continue;
        Py_ssize_t k = 1; /* the namespace after the primary's: codes below its first are rivals */
        while (k < n_bounds - 1 && bounds[k] <= first) k++;
        if (codes[i] < bounds[k]) rivals++;
    }
    result = PyLong_FromSsize_t(rivals);
done:
    release_buffers(b, 4);
    return result;
}

/* row_aliases(codes, rows, primary, rounds, alias)

   The rest of _rows: alias (n_nodes int64) becomes, for every node, the node it stands for. A
   node seen on rows whose primary is another node is a weak alias of that primary when all
   those rows name the same one (a mailbox shared by two resident IDs is not followed); then
   ``rounds`` times alias = alias[alias]. What the numpy code does with a sort of the (weak,
   strong) pairs, here with one partner slot per node. */
PyObject *kernels_row_aliases(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    int rounds;
    if (!PyArg_ParseTuple(args, "OOOiO", &objs[0], &objs[1], &objs[2], &rounds, &objs[3]))
        return NULL;
    static const BufferArg spec[4] = {
        {"codes", 0, 0, 0, 8}, {"rows", 0, 0, 8, 0}, {"primary", 0, 0, 0, 0}, {"alias", 1, 0, 0, 0}};
    Py_buffer b[4];
    Py_ssize_t n;
    if (get_buffers(objs, b, spec, 4, &n) < 0) return NULL;
    const int64_t *codes = b[0].buf, *rows = b[1].buf, *primary = b[2].buf;
    int64_t *alias = b[3].buf;
    Py_ssize_t n_rows = b[2].len / 8, n_nodes = b[3].len / 8;
    PyObject *result = NULL;
    int64_t *next = NULL;
    for (Py_ssize_t x = 0; x < n_nodes; x++) alias[x] = -1; /* -1: no partner, -2: several */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t code = codes[i], row = rows[i];
        if (row < 0 || row >= n_rows || code < 0 || code >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "row or code out of range");
            goto done;
        }
        int64_t strong = primary[row];
        if (code == strong) continue;
        if (alias[code] == -1) alias[code] = strong;
        else if (alias[code] != strong) alias[code] = -2;
    }
    for (Py_ssize_t x = 0; x < n_nodes; x++)
        if (alias[x] < 0) alias[x] = x;
    next = PyMem_Malloc((size_t)(n_nodes ? n_nodes : 1) * sizeof(int64_t));
    if (next == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (int r = 0; r < rounds; r++) {
        for (Py_ssize_t x = 0; x < n_nodes; x++) next[x] = alias[alias[x]];
        memcpy(alias, next, (size_t)n_nodes * sizeof(int64_t));
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(next);
    release_buffers(b, 4);
    return result;
}

/* longest_valid(starts, ends, valid, keep) -> count

   detectors/engine.py's _longest_valid in one pass: the indices (into ``keep``, int64) of the
   valid spans that are the longest valid span at their start and reach past every earlier such
   span. Spans arrive sorted by (start, end), so the last valid span of a start is its longest. */
PyObject *kernels_longest_valid(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    static const BufferArg spec[4] = {
        {"starts", 0, 0, 0, 8}, {"ends", 0, 0, 8, 0}, {"valid", 0, 0, 1, 0}, {"keep", 1, 0, 8, 0}};
    Py_buffer b[4];
    Py_ssize_t n;
    if (get_buffers(objs, b, spec, 4, &n) < 0) return NULL;
    const int64_t *starts = b[0].buf, *ends = b[1].buf;
    const unsigned char *valid = b[2].buf;
    int64_t *keep = b[3].buf;
    Py_ssize_t count = 0, pending = -1;
    int64_t reach = -1; /* furthest end of the longest spans of the earlier starts */
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i < n && !valid[i]) continue;
        if (pending >= 0 && (i == n || starts[i] != starts[pending])) {
            if (ends[pending] > reach) {
                keep[count++] = pending;
                reach = ends[pending];
            }
        }
        if (i < n) pending = i;
    }
    release_buffers(b, 4);
    return PyLong_FromSsize_t(count);
}

/* merge_spans(starts, ends, bounds, merged, reach) -> disjoint

   The accepted spans of several identifiers, each run (bounds[k] .. bounds[k + 1] of ``starts``
   and ``ends``) ascending by start, merged by start as a stable argsort of the concatenation
   orders them (equal starts in run order): merged[i] is the i-th start, reach[i] the furthest
   end among the first i + 1 spans. Returns 1 when no span starts before the previous ones end
   (no two spans share a byte), else 0. */
PyObject *kernels_merge_spans(PyObject *self, PyObject *args) {
    PyObject *objs[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4]))
        return NULL;
    static const BufferArg spec[5] = {{"starts", 0, 0, 0, 8},
                                      {"ends", 0, 0, 8, 0},
                                      {"bounds", 0, 8, 0, 0},
                                      {"merged", 1, 0, 8, 0},
                                      {"reach", 1, 0, 8, 0}};
    Py_buffer b[5];
    Py_ssize_t n;
    if (get_buffers(objs, b, spec, 5, &n) < 0) return NULL;
    const int64_t *starts = b[0].buf, *ends = b[1].buf, *bounds = b[2].buf;
    int64_t *merged = b[3].buf, *reach = b[4].buf;
    Py_ssize_t runs = b[2].len / 8 - 1;
    PyObject *result = NULL;
    Py_ssize_t *head = PyMem_Malloc((size_t)(runs > 0 ? runs : 1) * sizeof(Py_ssize_t));
    int64_t *next = PyMem_Malloc((size_t)(runs > 0 ? runs : 1) * sizeof(int64_t));
    if (head == NULL || next == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < runs; k++) {
        if (bounds[k] < 0 || bounds[k] > bounds[k + 1] || bounds[k + 1] > n) {
            PyErr_SetString(PyExc_ValueError, "bounds outside the spans");
            goto done;
        }
        head[k] = bounds[k];
        next[k] = head[k] < bounds[k + 1] ? starts[head[k]] : INT64_MAX;
    }
    if (runs == 0 ? n != 0 : bounds[runs] != n) {
        PyErr_SetString(PyExc_ValueError, "bounds do not cover the spans");
        goto done;
    }
    int disjoint = 1;
    int64_t furthest = INT64_MIN;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* the run with the lowest next start (the first such run on a tie); ``next`` holds each
           run's next start, INT64_MAX when it is used up, so the scan reads one small array */
        Py_ssize_t best = 0;
        int64_t low = next[0];
        for (Py_ssize_t k = 1; k < runs; k++) {
            int64_t v = next[k];
            best = v < low ? k : best;
            low = v < low ? v : low;
        }
        Py_ssize_t at = head[best]++;
        next[best] = head[best] < bounds[best + 1] ? starts[head[best]] : INT64_MAX;
        if (i > 0 && starts[at] < furthest) disjoint = 0;
        if (ends[at] > furthest) furthest = ends[at];
        merged[i] = starts[at];
        reach[i] = furthest;
    }
    result = PyBool_FromLong(disjoint);
done:
    PyMem_Free(next);
    PyMem_Free(head);
    release_buffers(b, 5);
    return result;
}
