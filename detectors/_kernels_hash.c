/*
 * detectors._kernels, third file: the distinct values of a fixed-width bytes array by hashing
 * (see _kernels.c for the module as a whole and its reference code).
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

/* distinct_strings(values, n, width, inverse, firsts) -> count

   Numbers the distinct strings of ``values`` (n fixed-width strings of ``width`` bytes) in order
   of first appearance: inverse[i] is the number of string i, firsts[g] the index of the first
   string of number g; returns how many distinct strings there are. An open-addressing table of
   at least 2n slots keyed by a 64-bit hash; two strings are the same only when memcmp says so,
   so the numbering is exact whatever the hash does. O(n) where a sort is O(n * passes). */
PyObject *kernels_distinct_strings(PyObject *self, PyObject *args) {
    PyObject *objs[3];
    Py_ssize_t n, width;
    if (!PyArg_ParseTuple(args, "OnnOO", &objs[0], &n, &width, &objs[1], &objs[2])) return NULL;
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
        for (;;) {
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
