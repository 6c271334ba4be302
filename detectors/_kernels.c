/*
 * detectors._kernels: the validators of the four identifiers a dense export is made of (resident ID,
 * mobile, e-mail, personal name) and of the credit code every resident ID also looks like, as one
 * loop over the candidates instead of a few dozen numpy passes over a (candidates x width) byte
 * matrix, the payment-card check, and the walk back to an e-mail's start (this file); the sort
 * behind unique_strings, ``np.searchsorted`` for ascending offsets (rows and columns), the
 * offsets of one byte value (line ends, delimiters), the hex of the sorted person keys and the
 * grouping of hyperscan's matches by expression (detectors/_kernels_arrays.c); the distinct
 * values by hashing, the rows and aliases of the people count, the longest valid span per start
 * and the merge of the accepted spans by start (detectors/_kernels_hash.c).
 *
 * On a dense export (a person every ~85 bytes) each of these runs over 125,000 candidates per
 * 10 MB, and in numpy every step (byte-class lookups, argmax, case folding, compaction) allocates
 * and walks a fresh matrix: 0.08 s for the e-mails, 0.03 for the resident IDs, 0.025 and 0.02 for
 * mobiles and names. The loops here read each candidate's bytes once.
 *
 * They compute exactly what the numpy code computes: check_email and check_cn_mobile in
 * detectors/validators_contact.py, check_gb11643 in detectors/validators.py,
 * check_cn_person_name in detectors/validators_text.py, check_cn_uscc in
 * detectors/validators_documents.py, _cards_numpy in detectors/validators_finance.py (card),
 * run_before, unique_strings (sort_strings, group_sorted), distinct_strings_python
 * (distinct_strings), search_sorted and offsets_of (positions) in detectors/vectors.py, the key
 * strings of detectors/individuals.py's _SortedKeys (hex_rows) and its _rows_python (row_minimum,
 * row_aliases), detectors/engine.py's _longest_valid_python (longest_valid) and
 * _merge_spans_python (merge_spans). That code stays the reference and the path without this module
 * (not built, or EGRESS_NATIVE_KERNELS=0); tests/test_detectors_kernels.py compares both.
 *
 * No numpy headers: the caller passes the buffer, the int64 offsets and the (already allocated)
 * output arrays through the buffer protocol; the tables (byte classes, check characters,
 * provinces, segments, denied TLDs) come from the Python side, so there is one copy of each.
 */
#include "_kernels.h"

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
    const BufferArg spec[8] = {{"buf", 0, 0, 0, 0},     {"starts", 0, 0, 0, 8},
                               {"ends", 0, 0, 8, 0},    {"local", 0, 256, 0, 0},
                               {"domain", 0, 256, 0, 0}, {"denied", 0, 0, 0, 0},
                               {"valid", 1, 0, 1, 0},   {"values", 1, 0, width, 0}};
    Py_buffer b[8];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 8, &n) < 0) return NULL;
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
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
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
    static const BufferArg spec[7] = {
        {"buf", 0, 0, 0, 0},     {"starts", 0, 0, 0, 8},       {"check", 0, 11, 0, 0},
        {"provinces", 0, 100, 0, 0}, {"weights", 0, 17 * 8, 0, 0}, {"valid", 1, 0, 1, 0},
        {"values", 1, 0, 18, 0}};
    Py_buffer b[7];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 7, &n) < 0) return NULL;
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
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* uscc(buf, starts, first, second, provinces, value, weights, chars, valid, values)

   Unified social credit codes (GB 32100): 18 bytes from each start, upper-cased into values[i];
   valid[i] when byte 0 is in the 256-byte table ``first`` (registration authority), byte 1 in
   ``second`` (type), bytes 2-3 digits naming a province in the 100-byte ``provinces``, every byte
   has a value >= 0 in the 256 int64 ``value`` table, bytes 2-7 are digits, and byte 17 is
   ``chars[(31 - sum(value * weight) % 31) % 31]`` over the first 17 (``weights``: 17 int64).
   On a dense export every resident ID is also a credit-code candidate. */
static PyObject *uscc(PyObject *self, PyObject *args) {
    PyObject *objs[10];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5], &objs[6], &objs[7], &objs[8], &objs[9]))
        return NULL;
    static const BufferArg spec[10] = {
        {"buf", 0, 0, 0, 0},         {"starts", 0, 0, 0, 8},      {"first", 0, 256, 0, 0},
        {"second", 0, 256, 0, 0},    {"provinces", 0, 100, 0, 0}, {"value", 0, 256 * 8, 0, 0},
        {"weights", 0, 17 * 8, 0, 0}, {"chars", 0, 31, 0, 0},     {"valid", 1, 0, 1, 0},
        {"values", 1, 0, 18, 0}};
    Py_buffer b[10];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 10, &n) < 0) return NULL;
    const unsigned char *buf = b[0].buf, *first = b[2].buf, *second = b[3].buf;
    const unsigned char *provinces = b[4].buf, *chars = b[7].buf;
    const int64_t *starts = b[1].buf, *value = b[5].buf, *weights = b[6].buf;
    unsigned char *valid = b[8].buf, *values = b[9].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i];
        if (s < 0 || s + 18 > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        unsigned char *out = values + i * 18;
        for (int j = 0; j < 18; j++) {
            unsigned char c = buf[s + j];
            out[j] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
        }
#define DIGIT(c) ((c) >= '0' && (c) <= '9')
        int ok = first[out[0]] && second[out[1]] && DIGIT(out[2]) && DIGIT(out[3]) &&
                 provinces[(out[2] - '0') * 10 + (out[3] - '0')];
        if (ok) {
            int64_t total = 0;
            for (int j = 0; j < 18 && ok; j++) {
                int64_t v = value[out[j]];
                if (v < 0 || (j >= 2 && j < 8 && !DIGIT(out[j]))) ok = 0;
                else if (j < 17) total += v * weights[j];
            }
            ok = ok && out[17] == chars[(31 - total % 31) % 31];
        }
#undef DIGIT
        valid[i] = (unsigned char)ok;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* run_before(buf, ends, table, limit, run)

   run[i]: how many bytes right before ends[i] are in the 256-byte class ``table``, at most
   ``limit + 1``; bytes before the buffer count as 0 (as the zero-filled windows of
   detectors/vectors.py's run_before). The e-mail pattern matches from the '@' and its start is
   found this way. */
static PyObject *run_before(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "OOOnO", &objs[0], &objs[1], &objs[2], &limit, &objs[3]))
        return NULL;
    static const BufferArg spec[4] = {
        {"buf", 0, 0, 0, 0}, {"ends", 0, 0, 0, 8}, {"table", 0, 256, 0, 0}, {"run", 1, 0, 8, 0}};
    Py_buffer b[4];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 4, &n) < 0) return NULL;
    const unsigned char *buf = b[0].buf, *table = b[2].buf;
    const int64_t *ends = b[1].buf;
    int64_t *run = b[3].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t e = ends[i], k = 0;
        if (e < 0 || e > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
            goto done;
        }
        while (k <= limit && table[e - 1 - k >= 0 ? buf[e - 1 - k] : 0]) k++;
        run[i] = k;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* mobile(buf, starts, ends, prefixes, valid, values)

   The digits of each span (separators dropped); a leading 0086 (15 digits) or 86 (13 digits) is
   the country code. values[i]: the 11 digits after it (zero-padded when fewer); valid[i] when
   exactly 11 remain and their first three are an allocated segment in the 1000-byte table
   ``prefixes``. */
static PyObject *mobile(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    if (!PyArg_ParseTuple(args, "OOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5]))
        return NULL;
    static const BufferArg spec[6] = {
        {"buf", 0, 0, 0, 0},         {"starts", 0, 0, 0, 8}, {"ends", 0, 0, 8, 0},
        {"prefixes", 0, 1000, 0, 0}, {"valid", 1, 0, 1, 0},  {"values", 1, 0, 11, 0}};
    Py_buffer b[6];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 6, &n) < 0) return NULL;
    const unsigned char *buf = b[0].buf, *prefixes = b[3].buf;
    const int64_t *starts = b[1].buf, *ends = b[2].buf;
    unsigned char *valid = b[4].buf, *values = b[5].buf;
    unsigned char d[32];
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i], e = ends[i];
        if (s < 0 || e < s || e > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        int count = 0;
        memset(d, 0, sizeof d);
        for (int64_t j = s; j < e; j++) {
            unsigned char c = buf[j];
            if (c >= '0' && c <= '9') {
                if (count < (int)sizeof d) d[count] = c;
                count++;
            }
        }
        int shift = 0;
        if (count == 15 && memcmp(d, "0086", 4) == 0) shift = 4;
        else if (count == 13 && memcmp(d, "86", 2) == 0) shift = 2;
        unsigned char *out = values + i * 11;
        for (int j = 0; j < 11; j++) out[j] = shift + j < (int)sizeof d ? d[shift + j] : 0;
        int prefix = 0;
        for (int j = 0; j < 3; j++) prefix = prefix * 10 + (out[j] ? out[j] - '0' : 0);
        valid[i] = (unsigned char)(count - shift == 11 && prefixes[prefix]);
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* card(buf, starts, ends, ranges, valid, values)

   The digits of each span (separators dropped); values[i]: the first 19 of them, zero-padded.
   valid[i] when there are 13 to 19, Luhn's sum is a multiple of 10, and one row (low, high,
   lengths) of ``ranges`` (int64 triples; ``lengths`` a bit mask of the allowed digit counts)
   holds the first six digits between low and high and allows this count. */
static PyObject *card(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    if (!PyArg_ParseTuple(args, "OOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5]))
        return NULL;
    static const BufferArg spec[6] = {
        {"buf", 0, 0, 0, 0},       {"starts", 0, 0, 0, 8}, {"ends", 0, 0, 8, 0},
        {"ranges", 0, 0, 0, 0},    {"valid", 1, 0, 1, 0},  {"values", 1, 0, 19, 0}};
    Py_buffer b[6];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 6, &n) < 0) return NULL;
    const unsigned char *buf = b[0].buf;
    const int64_t *starts = b[1].buf, *ends = b[2].buf, *ranges = b[3].buf;
    Py_ssize_t n_ranges = b[3].len / 24;
    unsigned char *valid = b[4].buf, *values = b[5].buf;
    static const int doubled[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i], e = ends[i];
        if (s < 0 || e < s || e > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        unsigned char *out = values + i * 19;
        memset(out, 0, 19);
        int count = 0;
        for (int64_t j = s; j < e; j++) {
            unsigned char c = buf[j];
            if (c >= '0' && c <= '9') {
                if (count < 19) out[count] = c;
                count++;
            }
        }
        int ok = count >= 13 && count <= 19;
        if (ok) {
            int sum = 0;
            for (int j = 0; j < count; j++) { /* every second digit from the right doubled */
                int d = out[count - 1 - j] - '0';
                sum += (j & 1) ? doubled[d] : d;
            }
            ok = sum % 10 == 0;
        }
        if (ok) {
            int64_t prefix = 0;
            for (int j = 0; j < 6; j++) prefix = prefix * 10 + (out[j] - '0');
            ok = 0;
            for (Py_ssize_t r = 0; r < n_ranges && !ok; r++)
                ok = prefix >= ranges[3 * r] && prefix <= ranges[3 * r + 1] &&
                     ((ranges[3 * r + 2] >> count) & 1);
        }
        valid[i] = (unsigned char)ok;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

/* person_name(buf, starts, ends, valid, values)

   values[i]: the first 12 bytes of the span, zero-padded, or all zeros when the three bytes
   before the span are one ideograph (U+4000..U+9FFF: lead byte E4-E9, two continuation bytes);
   valid[i] when not so glued and every 3-byte character among the first four is in
   U+4E00..U+9FFF and the span's length is a multiple of 3. */
static PyObject *person_name(PyObject *self, PyObject *args) {
    PyObject *objs[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4]))
        return NULL;
    static const BufferArg spec[5] = {{"buf", 0, 0, 0, 0},
                                      {"starts", 0, 0, 0, 8},
                                      {"ends", 0, 0, 8, 0},
                                      {"valid", 1, 0, 1, 0},
                                      {"values", 1, 0, 12, 0}};
    Py_buffer b[5];
    Py_ssize_t n;
    PyObject *result = NULL;
    if (get_buffers(objs, b, spec, 5, &n) < 0) return NULL;
    const unsigned char *buf = b[0].buf;
    const int64_t *starts = b[1].buf, *ends = b[2].buf;
    unsigned char *valid = b[3].buf, *values = b[4].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i], e = ends[i], len = e - s;
        if (s < 0 || len < 0 || e > b[0].len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        unsigned char *out = values + i * 12;
        memset(out, 0, 12);
        int glued = s >= 3 && buf[s - 3] >= 0xE4 && buf[s - 3] <= 0xE9 && buf[s - 2] >= 0x80 &&
                    buf[s - 2] < 0xC0 && buf[s - 1] >= 0x80 && buf[s - 1] < 0xC0;
        if (glued) {
            valid[i] = 0;
            continue;
        }
        memcpy(out, buf + s, (size_t)(len < 12 ? len : 12));
        int64_t chars = len / 3 < 4 ? len / 3 : 4;
        int ok = 1;
        for (int64_t k = 0; k < chars && ok; k++) {
            unsigned char lead = out[3 * k], second = out[3 * k + 1];
            ok = (lead >= 0xE5 || (lead == 0xE4 && second >= 0xB8)) && lead <= 0xE9 && len % 3 == 0;
        }
        valid[i] = (unsigned char)ok;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, (int)(sizeof b / sizeof b[0]));
    return result;
}

static PyMethodDef methods[] = {
    {"card", card, METH_VARARGS, "card(buf, starts, ends, ranges, valid, values) -> None"},
    {"distinct_strings", kernels_distinct_strings, METH_VARARGS,
     "distinct_strings(values, n, width, inverse, firsts, max_probes) -> int: number by first sight"},
    {"email", email, METH_VARARGS,
     "email(buf, starts, ends, width, local, domain, denied, valid, values) -> None"},
    {"gb11643", gb11643, METH_VARARGS,
     "gb11643(buf, starts, check, provinces, weights, min_year, max_year, valid, values) -> None"},
    {"group_sorted", kernels_group_sorted, METH_VARARGS,
     "group_sorted(values, n, width, order, inverse, firsts) -> int: number the distinct strings"},
    {"hex_rows", kernels_hex_rows, METH_VARARGS,
     "hex_rows(raw, width, rows) -> tuple[str]: lower-case hex of the given rows"},
    {"longest_valid", kernels_longest_valid, METH_VARARGS,
     "longest_valid(starts, ends, valid, keep) -> int: longest valid span per start, not inside"},
    {"merge_spans", kernels_merge_spans, METH_VARARGS,
     "merge_spans(starts, ends, bounds, merged, reach) -> bool: ascending runs merged, disjoint"},
    {"mobile", mobile, METH_VARARGS,
     "mobile(buf, starts, ends, prefixes, valid, values) -> None"},
    {"person_name", person_name, METH_VARARGS,
     "person_name(buf, starts, ends, valid, values) -> None"},
    {"positions", kernels_positions, METH_VARARGS,
     "positions(buf, byte, out) -> int: offsets of byte (written to out unless None), count"},
    {"row_aliases", kernels_row_aliases, METH_VARARGS,
     "row_aliases(codes, rows, primary, rounds, alias) -> None: the node each node stands for"},
    {"row_minimum", kernels_row_minimum, METH_VARARGS,
     "row_minimum(codes, rows, bounds, primary) -> int: lowest node per row, rival count"},
    {"run_before", run_before, METH_VARARGS,
     "run_before(buf, ends, table, limit, run) -> None: class bytes before each offset"},
    {"uscc", uscc, METH_VARARGS,
     "uscc(buf, starts, first, second, provinces, value, weights, chars, valid, values) -> None"},
    {"search_sorted", kernels_search_sorted, METH_VARARGS,
     "search_sorted(haystack, needles, right, out) -> None: np.searchsorted for int64"},
    {"sort_strings", kernels_sort_strings, METH_VARARGS,
     "sort_strings(values, n, width, order) -> None: stable byte-wise order of fixed-width strings"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "detectors._kernels",
                                        "Validator kernels in C (see detectors/_kernels.c).", -1,
                                        methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module_def); }
