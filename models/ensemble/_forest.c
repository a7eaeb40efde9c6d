/* Branch-free tree-ensemble margins: the scorer's hot loop (models/ensemble/native.py builds the
 * input).
 *
 * Every tree is flattened into one array of 12-byte nodes, children next to each other
 * (right = left + 1), so a step is `n = next[n] + !(x[slot] < threshold)` with no branch on
 * the data. Missing values need no test either: each row is copied into a block twice, NaN as
 * +inf in slots [0, F) and as -inf in slots [F, 2F); a node whose missing values go right
 * reads the first copy, one whose missing values go left the second. A leaf points at itself
 * (next = self - 1, threshold NaN: `x < NaN` is false), so every row of a block walks exactly
 * `depth` steps of a tree and the rows advance independently — the CPU overlaps their loads
 * instead of waiting on one row's mispredicted branch at a time. Numbers follow XGBoost's CPU
 * predictor exactly: features cast to float32, `x < threshold` goes left, NaN takes the node's
 * default, float32 leaf values added in tree order onto the base margin.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float threshold;  /* NaN on a leaf */
    int32_t next;     /* left child; the right child is next + 1; a leaf: itself - 1 */
    int32_t slot;     /* feature, + F when missing values go left */
} node_t;

#define BLOCK 16  /* rows per block: 16 chains to overlap; 2 x 16 x F floats stay in L1 */

typedef struct {
    const node_t *nodes;
    const float *mean;  /* per node: its cover-weighted mean leaf value; a leaf's own value */
    const int32_t *roots, *depths, *groups;
    Py_ssize_t n_trees, n_groups, n_features;
    const float *base;
    const char *x;
    Py_ssize_t x_row_stride, x_col_stride;
    int x_is_double;
    float *out;
} job_t;

static inline float as_float(const job_t *job, const char *p) {
    return job->x_is_double ? (float)*(const double *)p : *(const float *)p;
}

/* rows [row0, row0 + rows) as float32, twice: NaN as +inf (slots < F) and -inf (slots >= F) */
static void load_block(const job_t *job, Py_ssize_t row0, Py_ssize_t rows, float *xb) {
    const Py_ssize_t F = job->n_features, rs = job->x_row_stride, cs = job->x_col_stride;
    const char *x = job->x + row0 * rs;
    /* walk the input in its own memory order: a pandas float block is column-major */
    if (rs >= cs) {
        for (Py_ssize_t r = 0; r < rows; r++)
            for (Py_ssize_t f = 0; f < F; f++) xb[r * 2 * F + f] = as_float(job, x + r * rs + f * cs);
    } else {
        for (Py_ssize_t f = 0; f < F; f++)
            for (Py_ssize_t r = 0; r < rows; r++) xb[r * 2 * F + f] = as_float(job, x + r * rs + f * cs);
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        float *row = xb + r * 2 * F;
        for (Py_ssize_t f = 0; f < F; f++) {
            const float v = row[f];
            row[F + f] = v == v ? v : -INFINITY;
            row[f] = v == v ? v : INFINITY;
        }
    }
}

/* predict_rows and contrib_rows walk the trees with the same loop, written out twice on
 * purpose: one walker shared through an always-inlined function with a constant `record` flag
 * measured 10-15 % slower margins (alternating A/B, 8 runs each). */
static void predict_rows(const job_t *job, Py_ssize_t start, Py_ssize_t stop, float *xb) {
    const Py_ssize_t F = job->n_features, G = job->n_groups;
    const node_t *restrict nodes = job->nodes;
    const float *restrict mean = job->mean;
    int32_t at[BLOCK];
    for (Py_ssize_t row0 = start; row0 < stop; row0 += BLOCK) {
        const Py_ssize_t rows = stop - row0 < BLOCK ? stop - row0 : BLOCK;
        float *restrict out = job->out + row0 * G;
        load_block(job, row0, rows, xb);
        const float *restrict x = xb;
        for (Py_ssize_t r = 0; r < rows; r++)
            for (Py_ssize_t g = 0; g < G; g++) out[r * G + g] = job->base[g];
        for (Py_ssize_t t = 0; t < job->n_trees; t++) {
            const int32_t root = job->roots[t], depth = job->depths[t];
            const Py_ssize_t g = job->groups[t];
            for (Py_ssize_t r = 0; r < rows; r++) at[r] = root;
            for (int32_t d = 0; d < depth; d++) {
                for (Py_ssize_t r = 0; r < rows; r++) {
                    const node_t nd = nodes[at[r]];
                    /* x < NaN is false: a leaf always goes "right", onto itself */
                    at[r] = nd.next + !(x[r * 2 * F + nd.slot] < nd.threshold);
                }
            }
            for (Py_ssize_t r = 0; r < rows; r++) out[r * G + g] += mean[at[r]];
        }
    }
}

/* Saabas path attributions, as XGBoost's approx_contribs: each step credits the split's feature
 * with the change in the node's cover-weighted mean value (`mean`). Like XGBoost, a tree's
 * credits are summed per feature first and then added to out (n, G, F) — the same float32
 * roundings in the same order. A leaf's self-step credits feature 0 with 0. `path` holds
 * BLOCK x max depth steps (feature, credit); `tree_credit` and `mark` (F each, mark zeroed)
 * sum one tree's credits per feature without clearing F values per tree. */
static void contrib_rows(const job_t *job, Py_ssize_t start, Py_ssize_t stop, float *xb,
                         int32_t *path_feature, float *path_credit, int32_t max_depth,
                         float *tree_credit, int64_t *mark, int64_t *visit) {
    const Py_ssize_t F = job->n_features, G = job->n_groups;
    const node_t *restrict nodes = job->nodes;
    const float *restrict mean = job->mean;
    int32_t at[BLOCK];
    for (Py_ssize_t row0 = start; row0 < stop; row0 += BLOCK) {
        const Py_ssize_t rows = stop - row0 < BLOCK ? stop - row0 : BLOCK;
        float *restrict out = job->out + row0 * G * F;
        load_block(job, row0, rows, xb);
        const float *restrict x = xb;
        for (Py_ssize_t t = 0; t < job->n_trees; t++) {
            const int32_t root = job->roots[t], depth = job->depths[t];
            const Py_ssize_t g = job->groups[t];
            for (Py_ssize_t r = 0; r < rows; r++) at[r] = root;
            for (int32_t d = 0; d < depth; d++) {
                for (Py_ssize_t r = 0; r < rows; r++) {
                    const node_t nd = nodes[at[r]];
                    const int32_t next = nd.next + !(x[r * 2 * F + nd.slot] < nd.threshold);
                    path_feature[r * max_depth + d] = nd.slot < F ? nd.slot : nd.slot - F;
                    path_credit[r * max_depth + d] = mean[next] - mean[at[r]];
                    at[r] = next;
                }
            }
            for (Py_ssize_t r = 0; r < rows; r++) {
                const int32_t *pf = path_feature + r * max_depth;
                const float *pc = path_credit + r * max_depth;
                float *o = out + (r * G + g) * F;
                const int64_t stamp = ++*visit;  /* marks the features of this (row, tree) */
                for (int32_t k = 0; k < depth; k++) {
                    const int32_t f = pf[k];
                    if (mark[f] == stamp) {
                        tree_credit[f] += pc[k];
                    } else {
                        mark[f] = stamp;
                        tree_credit[f] = 0.0f + pc[k];
                    }
                }
                for (int32_t k = 0; k < depth; k++) {
                    const int32_t f = pf[k];
                    if (mark[f] == stamp) {
                        o[f] += tree_credit[f];
                        mark[f] = 0;  /* once per feature */
                    }
                }
            }
        }
    }
}

/* a 4-byte native scalar buffer of type `code` ('f' float32, 'i' int32) */
static int is_scalar(const Py_buffer *v, char code) {
    const char *f = v->format;
    if (!f || v->itemsize != 4) return 0;
    if (*f == '<' || *f == '=' || *f == '@') f++;
    return f[0] == code && f[1] == '\0';
}

#define MAX_FEATURES (1 << 24)

/* x (2-D float32/float64, any strides) and out (float32, C order, one value per row and group,
   or per row, group and feature) into `job`, rows [start, stop) in range; -1 with an error set */
static int bind_rows(job_t *job, const Py_buffer *x, const Py_buffer *out, int contributions,
                     Py_ssize_t start, Py_ssize_t stop) {
    if (x->ndim != 2 || !x->format || (strcmp(x->format, "d") && strcmp(x->format, "f"))) {
        PyErr_SetString(PyExc_ValueError, "x must be a 2-D float32 or float64 array");
        return -1;
    }
    job->n_features = x->shape[1];
    if (job->n_features < 1 || job->n_features > MAX_FEATURES) {
        PyErr_Format(PyExc_ValueError, "x has %zd features (1 to %d)", job->n_features,
                     MAX_FEATURES);
        return -1;
    }
    job->x_is_double = x->format[0] == 'd';
    job->x = (const char *)x->buf;
    job->x_row_stride = x->strides[0];
    job->x_col_stride = x->strides[1];
    Py_ssize_t per_row, out_len;
    if (__builtin_mul_overflow(job->n_groups, contributions ? job->n_features : 1, &per_row)
        || __builtin_mul_overflow(x->shape[0], per_row, &out_len)
        || __builtin_mul_overflow(out_len, (Py_ssize_t)sizeof(float), &out_len)
        || !is_scalar(out, 'f') || out->len != out_len) {
        PyErr_SetString(PyExc_ValueError, contributions
                        ? "out must be float32 (len(x), groups, features), C order"
                        : "out must be float32 (len(x), groups), C order");
        return -1;
    }
    job->out = (float *)out->buf;
    if (start < 0 || stop > x->shape[0] || start > stop) {
        PyErr_SetString(PyExc_ValueError, "rows out of range");
        return -1;
    }
    return 0;
}

/* Private copies of everything that indexes memory (nodes, roots, depths, groups), validated
   once: the caller's arrays may overlap `out` or change under another thread while the GIL is
   released. Sets *max_depth; -1 with an error set (the copies are the caller's to free). */
static int copy_forest(job_t *job, const Py_buffer *v, Py_ssize_t n_nodes, node_t **nodes,
                       int32_t **trees, int32_t *max_depth) {
    *nodes = PyMem_RawMalloc((size_t)n_nodes * sizeof(node_t));
    *trees = PyMem_RawMalloc((size_t)job->n_trees * 3 * sizeof(int32_t) + 1);
    if (!*nodes || !*trees) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*nodes, v[0].buf, (size_t)n_nodes * sizeof(node_t));
    for (int k = 0; k < 3; k++)
        memcpy(*trees + k * job->n_trees, v[2 + k].buf, (size_t)job->n_trees * sizeof(int32_t));
    job->nodes = *nodes;
    job->roots = *trees;
    job->depths = *trees + job->n_trees;
    job->groups = *trees + 2 * job->n_trees;
    for (Py_ssize_t i = 0; i < n_nodes; i++) {
        const node_t nd = job->nodes[i];
        if (nd.slot < 0 || nd.slot >= 2 * job->n_features) {
            PyErr_Format(PyExc_ValueError, "node %zd reads feature slot %d of 2 x %zd", i,
                         (int)nd.slot, job->n_features);
            return -1;
        }
        /* a split steps to next or next + 1; a leaf (NaN threshold) only to next + 1 */
        const Py_ssize_t lowest = nd.threshold != nd.threshold ? -1 : 0;
        if ((Py_ssize_t)nd.next < lowest || (Py_ssize_t)nd.next + 1 >= n_nodes) {
            PyErr_Format(PyExc_ValueError, "node %zd points outside the forest", i);
            return -1;
        }
    }
    *max_depth = 1;
    for (Py_ssize_t t = 0; t < job->n_trees; t++) {
        if (job->roots[t] < 0 || job->roots[t] >= n_nodes || job->groups[t] < 0
            || job->groups[t] >= job->n_groups || job->depths[t] < 0
            || job->depths[t] >= n_nodes) {
            PyErr_Format(PyExc_ValueError, "tree %zd is out of range", t);
            return -1;
        }
        if (job->depths[t] > *max_depth) *max_depth = job->depths[t];
    }
    return 0;
}

static PyObject *run(PyObject *args, int contributions) {
    PyObject *objs[8];
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnn", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &start, &stop))
        return NULL;
    Py_buffer v[8];
    int got = 0;
    PyObject *result = NULL;
    node_t *nodes = NULL;
    int32_t *trees = NULL, *path_feature = NULL;
    float *xb = NULL, *path_credit = NULL, *tree_credit = NULL;
    int64_t *mark = NULL;
    for (; got < 8; got++) {
        int flags = got == 6 ? PyBUF_STRIDED_RO | PyBUF_FORMAT
                  : got == 7 ? PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT
                  : PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
        if (PyObject_GetBuffer(objs[got], &v[got], flags) < 0) goto done;
    }
    if (v[0].itemsize != (Py_ssize_t)sizeof(node_t) || !is_scalar(&v[1], 'f')
        || !is_scalar(&v[2], 'i') || !is_scalar(&v[3], 'i') || !is_scalar(&v[4], 'i')
        || !is_scalar(&v[5], 'f')) {
        PyErr_SetString(PyExc_TypeError, "forest arrays: nodes of 12 bytes, mean and base "
                        "float32, roots, depths and groups int32");
        goto done;
    }
    job_t job;
    const Py_ssize_t n_nodes = v[0].len / (Py_ssize_t)sizeof(node_t);
    job.n_trees = v[2].len / 4;
    job.n_groups = v[5].len / 4;
    if (n_nodes < 1 || v[1].len != n_nodes * 4 || v[3].len != v[2].len
        || v[4].len != v[2].len || job.n_groups < 1) {
        PyErr_SetString(PyExc_ValueError, "inconsistent forest arrays");
        goto done;
    }
    job.mean = (const float *)v[1].buf;
    job.base = (const float *)v[5].buf;
    int32_t max_depth;
    if (bind_rows(&job, &v[6], &v[7], contributions, start, stop) < 0
        || copy_forest(&job, v, n_nodes, &nodes, &trees, &max_depth) < 0)
        goto done;
    xb = PyMem_RawMalloc((size_t)BLOCK * 2 * (size_t)job.n_features * sizeof(float));
    if (contributions) {
        path_feature = PyMem_RawMalloc((size_t)BLOCK * (size_t)max_depth * sizeof(int32_t));
        path_credit = PyMem_RawMalloc((size_t)BLOCK * (size_t)max_depth * sizeof(float));
        tree_credit = PyMem_RawMalloc((size_t)job.n_features * sizeof(float));
        mark = PyMem_RawCalloc((size_t)job.n_features, sizeof(int64_t));
    }
    if (!xb || (contributions && (!path_feature || !path_credit || !tree_credit || !mark))) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t visit = 0;
    Py_BEGIN_ALLOW_THREADS
    if (contributions)
        contrib_rows(&job, start, stop, xb, path_feature, path_credit, max_depth, tree_credit,
                     mark, &visit);
    else
        predict_rows(&job, start, stop, xb);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(nodes);
    PyMem_RawFree(trees);
    PyMem_RawFree(xb);
    PyMem_RawFree(path_feature);
    PyMem_RawFree(path_credit);
    PyMem_RawFree(tree_credit);
    PyMem_RawFree(mark);
    while (got-- > 0) PyBuffer_Release(&v[got]);
    return result;
}

PyDoc_STRVAR(predict_doc,
"predict(nodes, mean, roots, depths, groups, base, x, out, start, stop)\n\n"
"Add every tree's leaf to out[start:stop] (float32, (n, groups), C order) for rows\n"
"x[start:stop] (2-D float32 or float64, any strides); out starts from base. Releases the GIL.");

static PyObject *predict(PyObject *self, PyObject *args) { return run(args, 0); }

PyDoc_STRVAR(contributions_doc,
"contributions(nodes, mean, roots, depths, groups, base, x, out, start, stop)\n\n"
"Add every tree's per-feature path attributions to out[start:stop] (float32, (n, groups,\n"
"features), C order, zeros to start with); base only gives the number of groups.");

static PyObject *contributions(PyObject *self, PyObject *args) { return run(args, 1); }

PyDoc_STRVAR(logit_doc,
"logit(p)\n\n"
"-logf(1.0f / p - 1.0f) in float32, as XGBoost turns a logistic base_score into a margin\n"
"(numpy's float32 log can differ from libm's logf in the last bit).");

static PyObject *logit(PyObject *self, PyObject *arg) {
    const double p = PyFloat_AsDouble(arg);
    if (p == -1.0 && PyErr_Occurred()) return NULL;
    const float base = (float)p;
    return PyFloat_FromDouble((double)-logf(1.0f / base - 1.0f));
}

static PyMethodDef methods[] = {
    {"predict", predict, METH_VARARGS, predict_doc},
    {"contributions", contributions, METH_VARARGS, contributions_doc},
    {"logit", logit, METH_O, logit_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_forest",
    "Branch-free tree-ensemble margins (models.ensemble.native).", -1, methods,
};

PyMODINIT_FUNC PyInit__forest(void) { return PyModule_Create(&module); }
