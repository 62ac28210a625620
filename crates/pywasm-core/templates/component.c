/*
 * The typed exports of a library built as a component (docs/abi.md, "Components"). Linked into
 * component library builds only, beside library.c.
 *
 * pywasm adds one core function per export after the snapshot (postprocess/typed.rs), with the
 * canonical ABI's flat signature of that export. It hands each flat argument to one of the
 * `pywasm_arg_*` functions here and then calls `pywasm_component_call(index)`, which runs
 * `pywasm._component.call` and returns the address of the `result<T, string>` it stored.
 * `cabi_post_<name>` calls `pywasm_component_post(index)` to free that result. The Python side
 * reads and writes memory through the `_pywasm_canon` built-in module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pywasm_library.h"

/* The canonical ABI passes at most 16 flat parameters; beyond that, one pointer. */
#define MAX_FLAT_PARAMS 16

static uint64_t flat_args[MAX_FLAT_PARAMS];
static PyObject *call_function, *post_function, *describe_function;

__attribute__((export_name("pywasm_arg_i32"))) void pywasm_arg_i32(int32_t k, int32_t value) {
    if ((uint32_t)k < MAX_FLAT_PARAMS)
        flat_args[k] = (uint32_t)value;
}

__attribute__((export_name("pywasm_arg_i64"))) void pywasm_arg_i64(int32_t k, int64_t value) {
    if ((uint32_t)k < MAX_FLAT_PARAMS)
        flat_args[k] = (uint64_t)value;
}

__attribute__((export_name("pywasm_arg_f32"))) void pywasm_arg_f32(int32_t k, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((uint32_t)k < MAX_FLAT_PARAMS)
        flat_args[k] = bits;
}

__attribute__((export_name("pywasm_arg_f64"))) void pywasm_arg_f64(int32_t k, double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((uint32_t)k < MAX_FLAT_PARAMS)
        flat_args[k] = bits;
}

/* A block of `size` bytes aligned to `align` (a power of two), freed with free(). */
static void *allocate(size_t size, size_t align) {
    if (size == 0)
        size = 1;
    if (align <= 8)
        return malloc(size);
    return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

/* The host allocates arguments and host-function answers in the guest's memory through this.
 * A failure traps: the canonical ABI has no way to report it. Nothing is allocated for zero
 * bytes (the host never reads or frees such a block). */
__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *old, size_t old_size,
                                                                 size_t align, size_t new_size) {
    if (new_size == 0) {
        if (old != NULL && old_size != 0)
            free(old);
        return (void *)align;
    }
    void *out;
    if (old == NULL || old_size == 0) {
        out = allocate(new_size, align);
    } else if (align <= 8) {
        out = realloc(old, new_size);
    } else {
        out = allocate(new_size, align);
        if (out != NULL) {
            memcpy(out, old, old_size < new_size ? old_size : new_size);
            free(old);
        }
    }
    if (out == NULL)
        __builtin_trap();
    return out;
}

int pywasm_component_ready(void) {
    PyObject *module = PyImport_ImportModule("pywasm._component");
    if (module == NULL)
        return -1;
    call_function = PyObject_GetAttrString(module, "call");
    post_function = PyObject_GetAttrString(module, "post");
    describe_function = PyObject_GetAttrString(module, "describe");
    Py_DECREF(module);
    return call_function && post_function && describe_function ? 0 : -1;
}

/* `pywasm._component.call` catches every exception into the result's `err`; what is left (no
 * memory for the result itself, an uninitialised module) cannot be expressed and traps. */
__attribute__((export_name("pywasm_component_call"))) int32_t pywasm_component_call(int32_t index) {
    if (call_function == NULL)
        __builtin_trap();
    PyObject *result = PyObject_CallFunction(call_function, "i", (int)index);
    if (result == NULL) {
        PyErr_Print();
        __builtin_trap();
    }
    unsigned long area = PyLong_AsUnsignedLong(result);
    Py_DECREF(result);
    if (PyErr_Occurred()) {
        PyErr_Print();
        __builtin_trap();
    }
    return (int32_t)area;
}

__attribute__((export_name("pywasm_component_post"))) void pywasm_component_post(int32_t index) {
    if (post_function == NULL)
        return;
    PyObject *result = PyObject_CallFunction(post_function, "i", (int)index);
    Py_XDECREF(result);
    PyErr_Clear();
}

/* The world and each export's flat parameters as JSON, packed as (ptr << 32) | len; the build
 * calls it once on a throwaway instance. -1 if Python failed (its traceback on stderr). */
__attribute__((export_name("pywasm_describe"))) int64_t pywasm_describe(void) {
    if (describe_function == NULL)
        return -1;
    PyObject *text = PyObject_CallNoArgs(describe_function);
    if (text == NULL || !PyBytes_Check(text)) {
        PyErr_Print();
        Py_XDECREF(text);
        return -1;
    }
    size_t len = (size_t)PyBytes_GET_SIZE(text);
    char *out = malloc(len ? len : 1);
    if (out == NULL) {
        Py_DECREF(text);
        return -1;
    }
    memcpy(out, PyBytes_AS_STRING(text), len);
    Py_DECREF(text);
    return (int64_t)(((uint64_t)(uintptr_t)out << 32) | (uint64_t)(uint32_t)len);
}

/* ---- _pywasm_canon: linear memory for pywasm._canon ------------------------------------------ */

/* Whether [ptr, ptr + len) lies inside linear memory; raises ValueError if not. */
static int in_memory(unsigned long long ptr, unsigned long long len) {
    unsigned long long size = (unsigned long long)__builtin_wasm_memory_size(0) * 65536ull;
    if (ptr > size || len > size - ptr) {
        PyErr_SetString(PyExc_ValueError, "address outside linear memory");
        return 0;
    }
    return 1;
}

static PyObject *peek(PyObject *self, PyObject *args) {
    unsigned long long ptr, len;
    if (!PyArg_ParseTuple(args, "KK", &ptr, &len) || !in_memory(ptr, len))
        return NULL;
    return PyBytes_FromStringAndSize(len ? (const char *)(uintptr_t)ptr : "", (Py_ssize_t)len);
}

static PyObject *poke(PyObject *self, PyObject *args) {
    unsigned long long ptr;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Ky*", &ptr, &data))
        return NULL;
    if (!in_memory(ptr, (unsigned long long)data.len)) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (data.len)
        memcpy((void *)(uintptr_t)ptr, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyObject *canon_malloc(PyObject *self, PyObject *args) {
    unsigned long long size, align;
    if (!PyArg_ParseTuple(args, "KK", &size, &align))
        return NULL;
    if (size > 0x7fffffffull || align == 0 || (align & (align - 1)) != 0 || align > 4096)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong((unsigned long)(uintptr_t)allocate((size_t)size, (size_t)align));
}

static PyObject *canon_free(PyObject *self, PyObject *args) {
    unsigned long long ptr;
    if (!PyArg_ParseTuple(args, "K", &ptr))
        return NULL;
    free((void *)(uintptr_t)ptr);
    Py_RETURN_NONE;
}

/* The flat arguments of the call in progress, read as the given core types ("i32", "i64",
 * "f32", "f64"): i32 and i64 as signed ints, floats from their bits. */
static PyObject *flat(PyObject *self, PyObject *types) {
    PyObject *seq = PySequence_Fast(types, "expected a sequence of core types");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_FLAT_PARAMS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "more than 16 flat parameters");
        return NULL;
    }
    PyObject *out = PyList_New(n);
    for (Py_ssize_t k = 0; out != NULL && k < n; k++) {
        const char *type = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, k));
        PyObject *value = NULL;
        if (type == NULL) {
        } else if (strcmp(type, "i32") == 0) {
            value = PyLong_FromLong((int32_t)(uint32_t)flat_args[k]);
        } else if (strcmp(type, "i64") == 0) {
            value = PyLong_FromLongLong((int64_t)flat_args[k]);
        } else if (strcmp(type, "f32") == 0) {
            uint32_t bits = (uint32_t)flat_args[k];
            float f;
            memcpy(&f, &bits, sizeof f);
            value = PyFloat_FromDouble(f);
        } else if (strcmp(type, "f64") == 0) {
            double d;
            memcpy(&d, &flat_args[k], sizeof d);
            value = PyFloat_FromDouble(d);
        } else {
            PyErr_SetString(PyExc_ValueError, "unknown core type");
        }
        if (value == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, k, value);
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef canon_methods[] = {
    {"peek", peek, METH_VARARGS, "peek(ptr, n): n bytes of linear memory at ptr."},
    {"poke", poke, METH_VARARGS, "poke(ptr, data): writes data at ptr."},
    {"malloc", canon_malloc, METH_VARARGS, "malloc(size, align): an address, 0 if none."},
    {"free", canon_free, METH_VARARGS, "free(ptr): releases what malloc gave."},
    {"args", flat, METH_O, "args(types): the flat arguments of the call in progress."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef canon_module_def = {
    PyModuleDef_HEAD_INIT, "_pywasm_canon", "Linear memory for pywasm's canonical ABI.", -1,
    canon_methods,
};

PyMODINIT_FUNC PyInit__pywasm_canon(void) { return PyModule_Create(&canon_module_def); }
