/* detectors/_kernels.h: what the two source files of detectors._kernels share (see _kernels.c). */
#ifndef EGRESS_KERNELS_H
#define EGRESS_KERNELS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A C-contiguous view of ``obj`` (writable if asked) of at least ``min_len`` bytes. */
static inline int get(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t min_len, const char *what) {
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

/* One buffer argument of a kernel: its name, whether the kernel writes it, and the least size in
   bytes it must have, ``fixed + per_item * n``, where n is the item count. The argument with
   ``divisor`` > 0 sets n to its own size / divisor (8 for an int64 array of offsets); arguments
   before it have no ``per_item``. */
typedef struct {
    const char *name;
    int writable;
    Py_ssize_t fixed, per_item, divisor;
} BufferArg;

static inline void release_buffers(Py_buffer *views, int count) {
    for (int k = 0; k < count; k++) PyBuffer_Release(&views[k]);
}

/* The views of objs[0..count) as ``spec`` says, and the item count in *n (0 when no argument
   sets it). Returns 0, or -1 with an error set and no view held. */
static inline int get_buffers(PyObject *const *objs, Py_buffer *views, const BufferArg *spec,
                              int count, Py_ssize_t *n) {
    Py_ssize_t items = 0;
    for (int k = 0; k < count; k++) {
        const BufferArg *a = &spec[k];
        if (get(objs[k], &views[k], a->writable, a->fixed + a->per_item * items, a->name) < 0) {
            release_buffers(views, k);
            return -1;
        }
        if (a->divisor > 0) items = views[k].len / a->divisor;
    }
    *n = items;
    return 0;
}

/* detectors/_kernels_arrays.c */
PyObject *kernels_sort_strings(PyObject *self, PyObject *args);
PyObject *kernels_group_sorted(PyObject *self, PyObject *args);
PyObject *kernels_hex_rows(PyObject *self, PyObject *args);
PyObject *kernels_search_sorted(PyObject *self, PyObject *args);
PyObject *kernels_positions(PyObject *self, PyObject *args);

/* detectors/_kernels_hash.c */
PyObject *kernels_distinct_strings(PyObject *self, PyObject *args);
PyObject *kernels_row_minimum(PyObject *self, PyObject *args);
PyObject *kernels_row_aliases(PyObject *self, PyObject *args);
PyObject *kernels_longest_valid(PyObject *self, PyObject *args);
PyObject *kernels_merge_spans(PyObject *self, PyObject *args);

#endif
