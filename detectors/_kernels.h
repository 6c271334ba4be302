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

/* detectors/_kernels_arrays.c */
PyObject *kernels_sort_strings(PyObject *self, PyObject *args);
PyObject *kernels_group_sorted(PyObject *self, PyObject *args);
PyObject *kernels_hex_rows(PyObject *self, PyObject *args);
PyObject *kernels_group_matches(PyObject *self, PyObject *args);
PyObject *kernels_search_sorted(PyObject *self, PyObject *args);
PyObject *kernels_positions(PyObject *self, PyObject *args);

#endif
