/*
 * detectors._hsscan: hyperscan block scans whose matches are collected in C.
 *
 * The python-hyperscan binding calls a Python function for every match. On dense personal data
 * (a person every 80 bytes, five or six matches per person) that call is most of the cost, so this
 * module compiles the same expressions with the system libhs and appends each match, in C, to the
 * growing `from` and `to` arrays of its expression. Python receives them per expression, as
 * buffers numpy views without a copy, already grouped: no table of triples to sort by id. The
 * matcher compiles the catalogue into a few such databases (the main one, the patterns with no
 * literal to anchor on, the run groups) whose expression ids it numbers in one sequence.
 * detectors/matcher.py uses this module when it was built and falls back to the binding when it
 * was not (no compiler or no libhyperscan-dev on the machine).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <hs/hs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct {
    PyObject_HEAD
    hs_database_t *db;
    hs_scratch_t *scratch;
} Database;

/* The matches of one expression: the `from` and `to` offsets, in match order. */
typedef struct {
    int64_t *froms, *tos;
    size_t used, size;
} Column;

/* The matches of a scan, one column per expression id, grown as ids and matches arrive. */
typedef struct {
    Column *columns;
    size_t count; /* columns allocated: ids below this have one */
    int failed;
} Matches;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *context) {
    Matches *m = (Matches *)context;
    (void)flags;
    if (id >= m->count) {
        size_t count = (size_t)id + 16;
        Column *grown = PyMem_RawRealloc(m->columns, count * sizeof(Column));
        if (grown == NULL) {
            m->failed = 1;
            return 1; /* stop scanning */
        }
        memset(grown + m->count, 0, (count - m->count) * sizeof(Column));
        m->columns = grown;
        m->count = count;
    }
    Column *c = &m->columns[id];
    if (c->used == c->size) {
        size_t size = c->size ? c->size * 2 : 256;
        int64_t *froms = PyMem_RawRealloc(c->froms, size * sizeof(int64_t));
        if (froms != NULL) c->froms = froms;
        int64_t *tos = froms ? PyMem_RawRealloc(c->tos, size * sizeof(int64_t)) : NULL;
        if (tos == NULL) {
            m->failed = 1;
            return 1;
        }
        c->tos = tos;
        c->size = size;
    }
    c->froms[c->used] = (int64_t)from;
    c->tos[c->used] = (int64_t)to;
    c->used++;
    return 0;
}

static void free_matches(Matches *m) {
    for (size_t k = 0; k < m->count; k++) {
        PyMem_RawFree(m->columns[k].froms);
        PyMem_RawFree(m->columns[k].tos);
    }
    PyMem_RawFree(m->columns);
}

/* Offsets: int64 values a scan collected, handed to Python without a copy (buffer protocol,
 * read-only; np.frombuffer(offsets, np.int64) views them). */
typedef struct {
    PyObject_HEAD
    int64_t *values;
    Py_ssize_t count;
} Offsets;

static void Offsets_dealloc(Offsets *self) {
    PyMem_RawFree(self->values);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Offsets_getbuffer(Offsets *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->values,
                             self->count * (Py_ssize_t)sizeof(int64_t), 1, flags);
}

static PyBufferProcs Offsets_as_buffer = {(getbufferproc)Offsets_getbuffer, NULL};

static PyTypeObject OffsetsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detectors._hsscan.Offsets",
    .tp_basicsize = sizeof(Offsets),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Offsets_dealloc,
    .tp_as_buffer = &Offsets_as_buffer,
    .tp_doc = "int64 match offsets collected by a scan (a read-only buffer).",
};

/* An Offsets owning `values` (freed with it, or now if this fails). */
static PyObject *offsets(int64_t *values, size_t count) {
    Offsets *self = PyObject_New(Offsets, &OffsetsType);
    if (self == NULL) {
        PyMem_RawFree(values);
        return NULL;
    }
    self->values = values;
    self->count = (Py_ssize_t)count;
    return (PyObject *)self;
}

static void Database_dealloc(Database *self) {
    if (self->scratch) hs_free_scratch(self->scratch);
    if (self->db) hs_free_database(self->db);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The collected matches as a list of (id, froms, tos) in id order, ids with no match left out,
 * the offsets handed over as Offsets; or the error the scan ran into. Frees the columns. */
static PyObject *collected(Matches *m, int no_memory, hs_error_t err) {
    if (no_memory || m->failed) {
        free_matches(m);
        return PyErr_NoMemory();
    }
    if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
        free_matches(m);
        return PyErr_Format(PyExc_RuntimeError, "hs_scan failed with error %d", (int)err);
    }
    PyObject *out = PyList_New(0);
    for (size_t k = 0; k < m->count && out != NULL; k++) {
        Column *c = &m->columns[k];
        if (!c->used) continue;
        PyObject *froms = offsets(c->froms, c->used);
        PyObject *tos = offsets(c->tos, c->used);
        c->froms = c->tos = NULL; /* owned by the Offsets now */
        PyObject *row = froms && tos ? Py_BuildValue("(nOO)", (Py_ssize_t)k, froms, tos) : NULL;
        Py_XDECREF(froms);
        Py_XDECREF(tos);
        if (row == NULL || PyList_Append(out, row) < 0) Py_CLEAR(out);
        Py_XDECREF(row);
    }
    free_matches(m);
    return out;
}

static PyObject *Database_scan(Database *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Matches m = {NULL, 0, 0};
    hs_error_t err;
    Py_BEGIN_ALLOW_THREADS
    err = hs_scan(self->db, (const char *)data.buf, (unsigned int)data.len, 0, self->scratch,
                  on_match, &m);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return collected(&m, 0, err);
}

static PyObject *Database_serialize(Database *self, PyObject *unused) {
    char *bytes = NULL;
    size_t length = 0;
    (void)unused;
    if (hs_serialize_database(self->db, &bytes, &length) != HS_SUCCESS) {
        return PyErr_Format(PyExc_RuntimeError, "hs_serialize_database failed");
    }
    PyObject *out = PyBytes_FromStringAndSize(bytes, (Py_ssize_t)length);
    free(bytes); /* hyperscan allocates with the misc allocator, malloc by default */
    return out;
}

/* A byte class as up to MAX_RANGES ranges of byte values, so SSE2 can test 16 bytes at a time
 * (digits are one range, digits and separators three). A class with more ranges is tested a
 * byte at a time through its table. */
#define MAX_RANGES 8
typedef struct {
    const unsigned char *table;
    int ranges; /* 0: use the table */
    unsigned char low[MAX_RANGES], span[MAX_RANGES]; /* byte b is in range r if b - low <= span */
} ByteClass;

static void byte_class(ByteClass *c, const unsigned char *table) {
    c->table = table;
    c->ranges = 0;
    for (int b = 0; b < 256;) {
        if (!table[b]) {
            b++;
            continue;
        }
        int low = b;
        while (b < 256 && table[b]) b++;
        if (c->ranges == MAX_RANGES) {
            c->ranges = 0;
            return;
        }
        c->low[c->ranges] = (unsigned char)low;
        c->span[c->ranges] = (unsigned char)(b - 1 - low);
        c->ranges++;
    }
}

#ifdef __SSE2__
/* Bit k set when byte k of the 16 at p is in the class. */
static inline unsigned int class_mask(const ByteClass *c, const unsigned char *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)p), hit = _mm_setzero_si128();
    for (int r = 0; r < c->ranges; r++) {
        __m128i t = _mm_sub_epi8(x, _mm_set1_epi8((char)c->low[r]));
        __m128i span = _mm_set1_epi8((char)c->span[r]);
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(t, span), t));
    }
    return (unsigned int)_mm_movemask_epi8(hit);
}
#endif

/* Bit k set when byte i + k (k < 64, i + k < n) is in the class. */
static inline uint64_t class_bits(const ByteClass *c, const unsigned char *buf, size_t i,
                                  size_t n) {
    uint64_t bits = 0;
#ifdef __SSE2__
    if (c->ranges && i + 64 <= n) {
        for (int q = 0; q < 4; q++) bits |= (uint64_t)class_mask(c, buf + i + 16 * q) << (16 * q);
        return bits;
    }
#endif
    for (size_t k = 0; k < 64 && i + k < n; k++)
        if (c->table[buf[i + k]]) bits |= (uint64_t)1 << k;
    return bits;
}

/* The maximal runs of one byte class whose length a run group allows (detectors/runscan.py). */
typedef struct {
    int64_t *starts, *ends, *compact_ends; /* run i: [starts, ends) in the data, ends in compact */
    size_t count, size;
} Runs;

static int add_run(Runs *r, int64_t start, int64_t end) {
    if (r->count == r->size) {
        size_t size = r->size ? r->size * 2 : 4096;
        int64_t *s = PyMem_RawRealloc(r->starts, size * sizeof(int64_t));
        if (s == NULL) return 0;
        r->starts = s;
        int64_t *e = PyMem_RawRealloc(r->ends, size * sizeof(int64_t));
        if (e == NULL) return 0;
        r->ends = e;
        int64_t *c = PyMem_RawRealloc(r->compact_ends, size * sizeof(int64_t));
        if (c == NULL) return 0;
        r->compact_ends = c;
        r->size = size;
    }
    r->starts[r->count] = start;
    r->ends[r->count] = end;
    r->count++;
    return 1;
}

typedef struct {
    Matches matches;
    const Runs *runs;
    size_t cursor; /* the run of the last match: matches come in end order */
    int anchored;
} RunContext;

/* The run whose compact span [end - length, end] holds compact offset `at` (its end is the
 * newline after it): the cursor when matches come in end order, else a binary search. */
static size_t run_at(RunContext *c, unsigned long long at) {
    const Runs *r = c->runs;
    size_t k = c->cursor;
    if (k >= r->count || (unsigned long long)r->compact_ends[k] > at) {
        size_t hi = r->count;
        k = 0;
        while (k < hi) {
            size_t mid = k + (hi - k) / 2;
            if ((unsigned long long)r->compact_ends[mid] < at)
                k = mid + 1;
            else
                hi = mid;
        }
    }
    while (k < r->count && (unsigned long long)r->compact_ends[k] < at) k++;
    c->cursor = k;
    return k;
}

/* A match in the compact buffer, reported as the wrapped pattern would report it in the data.
 * Anchored (whole runs): (id, the byte before the run, the byte after it). Otherwise the offsets
 * move with the run: the newline before or after it stands for the byte before or after it. */
static int on_run_match(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void *context) {
    RunContext *c = (RunContext *)context;
    const Runs *r = c->runs;
    size_t k = run_at(c, c->anchored ? to : to - 1);
    if (k == r->count) return 0; /* cannot happen: every match ends inside a run or after it */
    int64_t length = r->ends[k] - r->starts[k];
    int64_t shift = r->starts[k] - (r->compact_ends[k] - length);
    if (c->anchored)
        return on_match(id, (unsigned long long)(r->starts[k] - 1),
                        (unsigned long long)(r->ends[k] + 1), flags, &c->matches);
    /* (without start-of-match tracking `from` means nothing; it is moved all the same) */
    return on_match(id, (unsigned long long)((int64_t)from + shift),
                    (unsigned long long)((int64_t)to + shift), flags, &c->matches);
}

static PyMethodDef Database_methods[] = {
    {"scan", (PyCFunction)Database_scan, METH_VARARGS,
     "scan(data) -> list of (id, froms, tos): each expression's matches in match order, ids "
     "ascending, offsets as int64 buffers"},
    {"serialize", (PyCFunction)Database_serialize, METH_NOARGS,
     "serialize() -> bytes: the compiled database, for load() on a machine of the same platform"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject DatabaseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detectors._hsscan.Database",
    .tp_basicsize = sizeof(Database),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Database_dealloc,
    .tp_methods = Database_methods,
    .tp_doc = "A compiled block-mode hyperscan database with its scratch space.",
};

/* Wrap a compiled database (taking ownership) with its scratch space; NULL with an error set. */
static PyObject *wrap(hs_database_t *db) {
    Database *self = PyObject_New(Database, &DatabaseType);
    if (self == NULL) {
        hs_free_database(db);
        return NULL;
    }
    self->db = db;
    self->scratch = NULL;
    if (hs_alloc_scratch(db, &self->scratch) != HS_SUCCESS) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

/* load(serialized: bytes) -> Database, or ValueError when the bytes are not a database this
 * libhs and CPU can run (another version or platform, damaged): the caller compiles instead. */
static PyObject *load(PyObject *module, PyObject *args) {
    Py_buffer data;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    hs_database_t *db = NULL;
    hs_error_t err = hs_deserialize_database((const char *)data.buf, (size_t)data.len, &db);
    PyBuffer_Release(&data);
    if (err != HS_SUCCESS) {
        return PyErr_Format(PyExc_ValueError, "not a usable serialized database (error %d)",
                            (int)err);
    }
    return wrap(db);
}

/* compile(expressions: list[bytes], flags: list[int]) -> Database; ids are list positions. */
static PyObject *compile(PyObject *module, PyObject *args) {
    PyObject *expressions, *flag_list;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &expressions, &PyList_Type, &flag_list))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(expressions);
    if (n == 0 || PyList_GET_SIZE(flag_list) != n) {
        PyErr_SetString(PyExc_ValueError, "need as many flags as expressions, at least one");
        return NULL;
    }
    const char **patterns = PyMem_Calloc((size_t)n, sizeof(char *));
    unsigned int *flags = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    unsigned int *ids = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    PyObject *result = NULL;
    if (!patterns || !flags || !ids) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *expr = PyList_GET_ITEM(expressions, i);
        if (!PyBytes_Check(expr)) {
            PyErr_SetString(PyExc_TypeError, "expressions must be bytes");
            goto done;
        }
        patterns[i] = PyBytes_AS_STRING(expr);
        flags[i] = (unsigned int)PyLong_AsUnsignedLong(PyList_GET_ITEM(flag_list, i));
        if (PyErr_Occurred()) goto done;
        ids[i] = (unsigned int)i;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *error = NULL;
    if (hs_compile_multi(patterns, flags, ids, (unsigned int)n, HS_MODE_BLOCK, NULL, &db, &error)
        != HS_SUCCESS) {
        PyErr_Format(PyExc_ValueError, "expression %d does not compile: %s",
                     error ? error->expression : -1, error ? error->message : "?");
        hs_free_compile_error(error);
        goto done;
    }
    result = wrap(db);
done:
    PyMem_Free(patterns);
    PyMem_Free(flags);
    PyMem_Free(ids);
    return result;
}

/* A whole-run pattern checked without hyperscan (runscan.LinearShape): a run of length L in
 * [shortest, longest] matches when its first `prefix` bytes, its last `suffix` bytes and the
 * ones between are each in their class. */
typedef struct {
    unsigned int id;
    Py_ssize_t shortest, longest, prefix, suffix;
    const unsigned char *tables; /* prefix, repeated, suffix classes: 256 bytes each */
} Linear;

static int linear_match(const Linear *p, const unsigned char *run, Py_ssize_t length) {
    if (length < p->shortest || length > p->longest) return 0;
    const unsigned char *repeated = p->tables + p->prefix * 256;
    Py_ssize_t middle = length - p->suffix;
    for (Py_ssize_t j = 0; j < p->prefix; j++)
        if (!p->tables[j * 256 + run[j]]) return 0;
    for (Py_ssize_t j = p->prefix; j < middle; j++)
        if (!repeated[run[j]]) return 0;
    for (Py_ssize_t j = middle; j < length; j++)
        if (!repeated[(1 + j - middle) * 256 + run[j]]) return 0;
    return 1;
}

/* The `linear` argument of scan_runs as Linear entries holding references to their tables;
 * NULL with an error set. */
static Linear *linear_patterns(PyObject *list, Py_ssize_t *count, PyObject ***owners) {
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "linear must be a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    Linear *out = PyMem_Calloc((size_t)n + 1, sizeof(Linear));
    PyObject **held = PyMem_Calloc((size_t)n + 1, sizeof(PyObject *));
    if (out == NULL || held == NULL) {
        PyMem_Free(out);
        PyMem_Free(held);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        Linear *p = &out[k];
        PyObject *tables;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, k), "InnnnO!", &p->id, &p->shortest,
                              &p->longest, &p->prefix, &p->suffix, &PyBytes_Type, &tables) ||
            p->prefix < 0 || p->suffix < 0 || p->shortest < p->prefix + p->suffix ||
            p->longest < p->shortest ||
            PyBytes_GET_SIZE(tables) != (p->prefix + 1 + p->suffix) * 256) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a linear pattern's lengths or tables are wrong");
            for (Py_ssize_t j = 0; j < k; j++) Py_DECREF(held[j]);
            PyMem_Free(out);
            PyMem_Free(held);
            return NULL;
        }
        p->tables = (const unsigned char *)PyBytes_AS_STRING(tables);
        held[k] = Py_NewRef(tables);
    }
    *count = n;
    *owners = held;
    return out;
}

/* scan_runs(database, data, table, required, shortest, longest, anchored, openers, linear): see
 * the method table. */
static PyObject *scan_runs(PyObject *module, PyObject *args) {
    PyObject *database, *linear_list;
    Py_buffer data, table, required, openers;
    Py_ssize_t shortest, longest;
    int anchored;
    (void)module;
    if (!PyArg_ParseTuple(args, "Oy*y*y*nnpy*O", &database, &data, &table, &required, &shortest,
                          &longest, &anchored, &openers, &linear_list))
        return NULL;
    Database *self = database == Py_None ? NULL : (Database *)database;
    Py_ssize_t n_linear = 0;
    PyObject **owners = NULL;
    Linear *linear = NULL;
    if ((self != NULL && !PyObject_TypeCheck(database, &DatabaseType)) || table.len != 256 ||
        (required.len != 0 && required.len != 256) || shortest < 1 ||
        (openers.len != 0 && openers.len != (longest + 1) * 256) ||
        (linear = linear_patterns(linear_list, &n_linear, &owners)) == NULL) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&table);
        PyBuffer_Release(&required);
        PyBuffer_Release(&openers);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError,
                            "need a Database or None, 256-byte class tables and openers "
                            "(longest + 1) of them");
        return NULL;
    }
    /* openers[length * 256 + b]: some pattern of this length may start with byte b */
    const unsigned char *opens = openers.len ? (const unsigned char *)openers.buf : NULL;
    const unsigned char *buf = (const unsigned char *)data.buf;
    const unsigned char *in = (const unsigned char *)table.buf;
    const unsigned char *needed = required.len ? (const unsigned char *)required.buf : NULL;
    size_t n = (size_t)data.len, total = 1;
    Runs runs = {NULL, NULL, NULL, 0, 0};
    RunContext context = {{NULL, 0, 0}, &runs, 0, anchored};
    char *compact = NULL;
    int no_memory = 0;
    hs_error_t err = HS_SUCCESS;
    Py_BEGIN_ALLOW_THREADS
    ByteClass cls;
    byte_class(&cls, in);
    /* Runs from the class bits 64 bytes at a time: a run starts or ends where a bit differs from
     * the one before it (the byte before the data counts as outside); a run still open at the
     * end ends at n. */
    uint64_t before = 0; /* the last bit of the previous 64 */
    size_t start = 0, i = 0;
    for (size_t at = 0; at < n + 64 && !no_memory; at += 64) {
        uint64_t bits = at < n ? class_bits(&cls, buf, at, n) : 0;
        uint64_t edges = bits ^ ((bits << 1) | before);
        before = bits >> 63;
        for (; edges; edges &= edges - 1) {
            size_t edge = at + (size_t)__builtin_ctzll(edges);
            if (bits >> (edge - at) & 1) { /* a run starts */
                start = edge;
                continue;
            }
            i = edge < n ? edge : n; /* the run [start, i) ends */
            Py_ssize_t length = (Py_ssize_t)(i - start);
            if (length < shortest || length > longest) continue;
            if (needed != NULL) {
                size_t k = start;
                while (k < i && !needed[buf[k]]) k++;
                if (k == i) continue;
            }
            for (Py_ssize_t k = 0; k < n_linear; k++)
                if (linear_match(&linear[k], buf + start, length) &&
                    on_match(linear[k].id, start - 1, i + 1, 0, &context.matches))
                    no_memory = 1;
            if (no_memory) break;
            if (self == NULL) continue; /* every pattern is linear: nothing to copy out */
            if (opens != NULL && !opens[(size_t)length * 256 + buf[start]]) continue;
            if (!add_run(&runs, (int64_t)start, (int64_t)i)) {
                no_memory = 1;
                break;
            }
            total += (size_t)length + 1;
        }
    }
    if (!no_memory && runs.count && self != NULL) {
        compact = PyMem_RawMalloc(total);
        if (compact == NULL) no_memory = 1;
    }
    if (compact != NULL) {
        size_t at = 0;
        compact[at++] = '\n';
        for (size_t k = 0; k < runs.count; k++) {
            size_t length = (size_t)(runs.ends[k] - runs.starts[k]);
            memcpy(compact + at, buf + runs.starts[k], length);
            at += length;
            runs.compact_ends[k] = (int64_t)at;
            compact[at++] = '\n';
        }
        err = hs_scan(self->db, compact, (unsigned int)total, 0, self->scratch, on_run_match,
                      &context);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    PyBuffer_Release(&required);
    PyBuffer_Release(&openers);
    PyMem_RawFree(compact);
    PyMem_RawFree(runs.starts);
    PyMem_RawFree(runs.ends);
    PyMem_RawFree(runs.compact_ends);
    for (Py_ssize_t k = 0; k < n_linear; k++) Py_DECREF(owners[k]);
    PyMem_Free(owners);
    PyMem_Free(linear);
    return collected(&context.matches, no_memory, err);
}


static PyObject *version(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyUnicode_FromString(hs_version());
}

static PyMethodDef module_methods[] = {
    {"compile", compile, METH_VARARGS, "compile(expressions, flags) -> Database"},
    {"scan_runs", scan_runs, METH_VARARGS,
     "scan_runs(database, data, table, required, shortest, longest, anchored, openers, linear) "
     "-> list as Database.scan(): the maximal runs of table's bytes with a length in [shortest, "
     "longest] (and holding a byte of required, if given); each checked against the linear "
     "patterns [(id, shortest, longest, prefix, suffix, tables)], then, if database is not None, "
     "those of a length and first byte openers allows copied out and scanned with it; offsets "
     "in data"},
    {"load", load, METH_VARARGS, "load(serialized) -> Database (ValueError if unusable)"},
    {"version", version, METH_NOARGS, "the libhs version string"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "detectors._hsscan",
                                        "Hyperscan block scans collected in C.", -1,
                                        module_methods};

PyMODINIT_FUNC PyInit__hsscan(void) {
    if (PyType_Ready(&DatabaseType) < 0 || PyType_Ready(&OffsetsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&DatabaseType);
    if (PyModule_AddObject(m, "Database", (PyObject *)&DatabaseType) < 0) {
        Py_DECREF(&DatabaseType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
