/*
 * sensor.capture._walk: the two per-record loops of the classic-pcap block path, in C.
 *
 * walk()    finds the record starts of a block of a classic pcap file (PcapReader.blocks). Classic
 *           pcap has no index: every record's captured length must be read to find the next one,
 *           and in Python that is ~0.6 us per record, one of the largest items of an audit.
 * headers() reads the record headers, Ethernet, up to two VLAN tags, IPv4/IPv6 and TCP of every
 *           record of a block (sensor.decode.headers.BlockHeaders). numpy needs some sixty passes
 *           over the block's records for it; one pass here touches each header once and needs no
 *           padded copy of the block.
 * gather()  rebuilds a block's kept records with new headers in one bytes object, for the
 *           evidence pass (sensor/outputs/flowpcap.py) that spools alerted flows' frames.
 *
 * Both are optional: without a C compiler the install still succeeds and the Python versions run
 * (EGRESS_NATIVE_WALK=0 forces them). tests/test_walk.py compares both on odd captures. The rules
 * (what stops a walk, what a fast-path TCP record is) are those of the Python code, which stays
 * the reference; change both together.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_HEADER_LEN 16

static inline uint32_t u32(const unsigned char *p, int big) {
    if (big) return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static inline int64_t be16(const unsigned char *p) { return ((int64_t)p[0] << 8) | p[1]; }

static inline int64_t be32(const unsigned char *p) { return (be16(p) << 16) | be16(p + 2); }

/* walk(buf, limit, max_sane, big) -> (starts, pos, absurd, over)

   Records of ``buf`` from offset 0 while whole ones fit: ``starts`` the native int64 offsets of
   their headers (bytes), ``pos`` where the walk stopped. A captured length above ``max_sane``
   stops it at that record (``absurd`` is that length, else -1); ``over`` lists (record number in
   the block, captured length) of whole records whose length is above ``limit`` but not absurd
   (caplen > snaplen: counted by the caller, the record kept). */
static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer view;
    unsigned long long limit, max_sane;
    int big;
    if (!PyArg_ParseTuple(args, "y*KKp", &view, &limit, &max_sane, &big)) return NULL;
    const unsigned char *buf = (const unsigned char *)view.buf;
    const int64_t last = (int64_t)view.len - RECORD_HEADER_LEN; /* a header starts at or before */
    int64_t pos = 0, n = 0, cap = 1024;
    long long absurd = -1;
    int64_t *starts = (int64_t *)malloc((size_t)cap * sizeof *starts);
    PyObject *over = PyList_New(0);
    PyObject *result = NULL;
    if (starts == NULL || over == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    while (pos <= last) {
        const uint64_t caplen = u32(buf + pos + 8, big);
        if (caplen > limit) {
            if (caplen > max_sane) {
                absurd = (long long)caplen;
                break;
            }
            if (pos + (int64_t)caplen > last) break;
            PyObject *item = Py_BuildValue("(LK)", (long long)n, (unsigned long long)caplen);
            if (item == NULL || PyList_Append(over, item) < 0) {
                Py_XDECREF(item);
                goto done;
            }
            Py_DECREF(item);
        } else if (pos + (int64_t)caplen > last) {
            break;
        }
        if (n == cap) {
            int64_t *grown = (int64_t *)realloc(starts, (size_t)(cap *= 2) * sizeof *starts);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            starts = grown;
        }
        starts[n++] = pos;
        pos += RECORD_HEADER_LEN + (int64_t)caplen;
    }
    PyObject *packed = PyBytes_FromStringAndSize((const char *)starts, (Py_ssize_t)(n * 8));
    if (packed != NULL) result = Py_BuildValue("(NLLO)", packed, (long long)pos, absurd, over);
done:
    free(starts);
    Py_XDECREF(over);
    PyBuffer_Release(&view);
    return result;
}

/* Columns of the int64 output of headers(), in this order (sensor/decode/headers.py names them). */
enum {
    C_SEC, C_FRAC, C_SPORT, C_DPORT, C_SEQ, C_ACK, C_FLAGS, C_PSTART, C_PLEN, C_TAGS, C_VLAN1,
    C_VLAN2, COLUMNS
};

static inline int is_vlan(int64_t et) { return et == 0x8100 || et == 0x88A8 || et == 0x9100; }

/* One record: the fast-path fields into column row ``i`` when it is a plain TCP segment (returns
   1), nothing when it is not (returns 0; the caller has written the defaults). */
static int tcp_record(const unsigned char *b, int64_t d, int64_t end, int64_t *ints, int64_t n,
                      int64_t i, unsigned char *src, unsigned char *dst, int *v6) {
    if (end - d < 54) return 0; /* Ethernet + IPv4 + TCP at the least */
    int64_t et = be16(b + d + 12), tags = 0, vlan1 = -1, vlan2 = -1;
    if (is_vlan(et)) {
        if (d + 14 + 4 + 40 > end) return 0;
        vlan1 = be16(b + d + 14) & 0x0FFF;
        et = be16(b + d + 16);
        tags = 1;
        if (is_vlan(et)) {
            if (d + 18 + 4 + 40 > end) return 0;
            vlan2 = be16(b + d + 18) & 0x0FFF;
            et = be16(b + d + 20);
            tags = 2;
            if (is_vlan(et)) return 0; /* a third tag: the per-packet walker handles it */
        }
    }
    const int64_t ip = d + 14 + 4 * tags;
    int64_t tcp, stop;
    if (et == 0x0800) {
        if (ip + 40 > end) return 0;
        const int64_t total = be16(b + ip + 2);
        if (b[ip] != 0x45 || total < 40 || ip + total > end) return 0;
        if ((be16(b + ip + 6) & 0x3FFF) != 0 || b[ip + 9] != 6) return 0;
        tcp = ip + 20;
        stop = ip + total;
        *v6 = 0;
    } else if (et == 0x86DD) {
        if (ip + 60 > end) return 0;
        const int64_t plen = be16(b + ip + 4);
        if ((b[ip] >> 4) != 6 || b[ip + 6] != 6 || plen < 20 || ip + 40 + plen > end) return 0;
        tcp = ip + 40;
        stop = ip + 40 + plen;
        *v6 = 1;
    } else {
        return 0;
    }
    const int64_t header_len = (int64_t)(b[tcp + 12] >> 4) * 4;
    if (header_len < 20 || tcp + header_len > stop) return 0;
    ints[C_SPORT * n + i] = be16(b + tcp);
    ints[C_DPORT * n + i] = be16(b + tcp + 2);
    ints[C_SEQ * n + i] = be32(b + tcp + 4);
    ints[C_ACK * n + i] = be32(b + tcp + 8);
    ints[C_FLAGS * n + i] = b[tcp + 13];
    ints[C_PSTART * n + i] = tcp + header_len;
    ints[C_PLEN * n + i] = stop - (tcp + header_len);
    ints[C_TAGS * n + i] = tags;
    ints[C_VLAN1 * n + i] = vlan1;
    ints[C_VLAN2 * n + i] = vlan2;
    if (*v6) {
        memcpy(src, b + ip + 8, 16);
        memcpy(dst, b + ip + 24, 16);
    } else {
        memcpy(src + 12, b + ip + 12, 4);
        memcpy(dst + 12, b + ip + 16, 4);
    }
    return 1;
}

/* headers(block, starts, big, ints, flags, addresses) -> None

   ``starts``: native int64 record-header offsets into ``block`` (whole records, as walk() finds
   them). Fills the caller's arrays: ``ints`` int64 [COLUMNS][n], ``flags`` bytes [2][n] (fast,
   v6), ``addresses`` bytes [2][n][16] (source, destination; IPv4 in the last four bytes). A record
   that is not a fast-path TCP segment gets zeros, tags 0, VLANs -1 and zero addresses. */
static PyObject *headers(PyObject *self, PyObject *args) {
    Py_buffer block, starts_view, ints_view, flags_view, addr_view;
    int big;
    if (!PyArg_ParseTuple(args, "y*y*pw*w*w*", &block, &starts_view, &big, &ints_view, &flags_view,
                          &addr_view))
        return NULL;
    PyObject *result = NULL;
    const int64_t n = (int64_t)(starts_view.len / 8);
    if (starts_view.len % 8 || ints_view.len < n * COLUMNS * 8 || flags_view.len < n * 2 ||
        addr_view.len < n * 32) {
        PyErr_SetString(PyExc_ValueError, "headers: output buffers do not match the record count");
        goto done;
    }
    const unsigned char *b = (const unsigned char *)block.buf;
    const int64_t *starts = (const int64_t *)starts_view.buf;
    int64_t *ints = (int64_t *)ints_view.buf;
    unsigned char *fast = (unsigned char *)flags_view.buf, *v6 = fast + n;
    unsigned char *src = (unsigned char *)addr_view.buf, *dst = src + 16 * n;
    memset(addr_view.buf, 0, (size_t)(n * 32));
    for (int64_t i = 0; i < n; i++) {
        const int64_t at = starts[i];
        if (at < 0 || at > (int64_t)block.len - RECORD_HEADER_LEN) goto outside;
        const int64_t caplen = u32(b + at + 8, big);
        const int64_t d = at + RECORD_HEADER_LEN, end = d + caplen;
        if (end > (int64_t)block.len) goto outside;
        ints[C_SEC * n + i] = u32(b + at, big);
        ints[C_FRAC * n + i] = u32(b + at + 4, big);
        int is6 = 0;
        if (tcp_record(b, d, end, ints, n, i, src + 16 * i, dst + 16 * i, &is6)) {
            fast[i] = 1;
            v6[i] = (unsigned char)is6;
            continue;
        }
        fast[i] = v6[i] = 0;
        for (int c = C_SPORT; c <= C_PLEN; c++) ints[c * n + i] = 0;
        ints[C_TAGS * n + i] = 0;
        ints[C_VLAN1 * n + i] = ints[C_VLAN2 * n + i] = -1;
    }
    result = Py_None;
    Py_INCREF(result);
    goto done;
outside:
    PyErr_SetString(PyExc_ValueError, "headers: a record lies outside the block");
done:
    PyBuffer_Release(&block);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&ints_view);
    PyBuffer_Release(&flags_view);
    PyBuffer_Release(&addr_view);
    return result;
}

/* gather(data, starts, sizes, heads) -> bytes

   Records rebuilt with new headers: for each k, the 16 bytes heads[16k:16k+16] and then the
   frame data[starts[k] + 16 : starts[k] + 16 + sizes[k]] (``starts``, ``sizes``: native int64).
   The evidence pass (sensor/outputs/flowpcap.py) spools a block's kept frames with it. */
static PyObject *gather(PyObject *self, PyObject *args) {
    Py_buffer data, starts_view, sizes_view, heads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &data, &starts_view, &sizes_view, &heads)) return NULL;
    PyObject *result = NULL;
    const int64_t n = (int64_t)(starts_view.len / 8);
    const int64_t *starts = (const int64_t *)starts_view.buf;
    const int64_t *sizes = (const int64_t *)sizes_view.buf;
    int64_t total = 0;
    if (starts_view.len % 8 || sizes_view.len != starts_view.len || heads.len != 16 * n) {
        PyErr_SetString(PyExc_ValueError, "gather: starts, sizes and heads do not match");
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        if (starts[k] < 0 || sizes[k] < 0 ||
            starts[k] + RECORD_HEADER_LEN + sizes[k] > (int64_t)data.len) {
            PyErr_SetString(PyExc_ValueError, "gather: a record lies outside the block");
            goto done;
        }
        total += RECORD_HEADER_LEN + sizes[k];
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (result == NULL) goto done;
    char *out = PyBytes_AS_STRING(result);
    const char *src = (const char *)data.buf, *head = (const char *)heads.buf;
    for (int64_t k = 0; k < n; k++) {
        memcpy(out, head + 16 * k, 16);
        memcpy(out + 16, src + starts[k] + RECORD_HEADER_LEN, (size_t)sizes[k]);
        out += RECORD_HEADER_LEN + sizes[k];
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&sizes_view);
    PyBuffer_Release(&heads);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Record starts of a block of classic pcap records."},
    {"headers", headers, METH_VARARGS, "Fast-path TCP header fields of a block's records."},
    {"gather", gather, METH_VARARGS, "Records of a block rebuilt with new headers, as one bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sensor.capture._walk", "Classic-pcap block walk and header parsing.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
