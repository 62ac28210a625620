/*
 * The runtime of a library module (docs/abi.md): the buffer exports `pywasm_alloc` and
 * `pywasm_free`, `pywasm_error`, the call path from each generated export into
 * `pywasm._exports.call`, and the `_pywasm` built-in module through which Python calls the
 * host functions. Linked into library builds only; main.c generates the exports and imports.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pywasm_library.h"

/* `pywasm._exports.call`, looked up once the exports are registered. */
static PyObject *call_function;
/* The text of the last failed call, until the next one. */
static char *last_error;
static size_t last_error_len;

static int64_t pack(const void *ptr, size_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint64_t)(uint32_t)len);
}

/* A copy of `bytes` in a buffer the host frees with pywasm_free; (0, 0) when empty. */
static int64_t hand_over(const char *bytes, size_t len) {
    if (len == 0)
        return 0;
    char *out = malloc(len);
    if (out == NULL)
        return -1;
    memcpy(out, bytes, len);
    return pack(out, len);
}

static void set_error(const char *text, size_t len) {
    free(last_error);
    last_error = malloc(len ? len : 1);
    last_error_len = last_error ? len : 0;
    if (last_error)
        memcpy(last_error, text, len);
}

__attribute__((export_name("pywasm_alloc"))) int32_t pywasm_alloc(int32_t size) {
    if (size < 0)
        return 0;
    return (int32_t)(uintptr_t)malloc(size ? (size_t)size : 1);
}

__attribute__((export_name("pywasm_free"))) void pywasm_free(int32_t ptr, int32_t size) {
    (void)size;
    free((void *)(uintptr_t)ptr);
}

__attribute__((export_name("pywasm_error"))) int64_t pywasm_error(void) {
    if (last_error == NULL)
        return 0;
    return hand_over(last_error, last_error_len);
}

int pywasm_library_ready(void) {
    PyObject *module = PyImport_ImportModule("pywasm._exports");
    if (module == NULL)
        return -1;
    call_function = PyObject_GetAttrString(module, "call");
    Py_DECREF(module);
    return call_function == NULL ? -1 : 0;
}

/* What went wrong outside the Python function itself (no memory for the arguments, a broken
 * result), as error text: "pywasm: WHAT: DETAIL", joined without formatting. */
static int64_t internal_error(const char *what) {
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *detail = text ? PyUnicode_AsUTF8(text) : NULL;
    const char *parts[] = {"pywasm: ", what, detail ? ": " : "", detail ? detail : ""};
    size_t len = 0;
    for (size_t i = 0; i < 4; i++)
        len += strlen(parts[i]);
    char *message = malloc(len + 1);
    if (message != NULL) {
        char *at = message;
        for (size_t i = 0; i < 4; i++) {
            size_t n = strlen(parts[i]);
            memcpy(at, parts[i], n);
            at += n;
        }
        set_error(message, len);
        free(message);
    }
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(trace);
    PyErr_Clear();
    return -1;
}

int64_t pywasm_library_call(int32_t index, int32_t ptr, int32_t len) {
    if (call_function == NULL) {
        static const char text[] = "pywasm: the module was not initialised: call `_initialize` first";
        set_error(text, sizeof text - 1);
        return -1;
    }
    PyObject *data =
        PyBytes_FromStringAndSize(len > 0 ? (const char *)(uintptr_t)ptr : "", len > 0 ? len : 0);
    if (data == NULL)
        return internal_error("cannot take the argument");
    PyObject *result = PyObject_CallFunction(call_function, "iO", (int)index, data);
    Py_DECREF(data);
    if (result == NULL)
        return internal_error("the call failed");
    PyObject *ok = PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 2
                       ? PyTuple_GET_ITEM(result, 0)
                       : NULL;
    PyObject *payload = ok ? PyTuple_GET_ITEM(result, 1) : NULL;
    if (payload == NULL || !PyBytes_Check(payload)) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_TypeError, "pywasm._exports.call returned something else");
        return internal_error("the call failed");
    }
    int64_t packed;
    if (PyObject_IsTrue(ok)) {
        packed = hand_over(PyBytes_AS_STRING(payload), (size_t)PyBytes_GET_SIZE(payload));
        if (packed < 0) {
            static const char text[] = "MemoryError: no memory for the result";
            set_error(text, sizeof text - 1);
        }
    } else {
        set_error(PyBytes_AS_STRING(payload), (size_t)PyBytes_GET_SIZE(payload));
        packed = -1;
    }
    Py_DECREF(result);
    return packed;
}

/* ---- _pywasm: host functions for Python ----------------------------------------------------- */

static PyObject *call_host(PyObject *self, PyObject *args) {
    int index;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "iy*", &index, &data))
        return NULL;
    if (index < 0 || index >= pywasm_host_count) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_IndexError, "no such host function");
        return NULL;
    }
    /* The host reads the argument from the guest's memory; a buffer of our own keeps it still. */
    char *buffer = malloc(data.len ? (size_t)data.len : 1);
    if (buffer == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    memcpy(buffer, data.buf, (size_t)data.len);
    int32_t len = (int32_t)data.len;
    PyBuffer_Release(&data);
    int64_t answer = pywasm_host_functions[index]((int32_t)(uintptr_t)buffer, len);
    free(buffer);
    if (answer < 0)
        Py_RETURN_NONE;
    char *out = (char *)(uintptr_t)(uint32_t)((uint64_t)answer >> 32);
    size_t out_len = (size_t)(uint32_t)answer;
    PyObject *result = PyBytes_FromStringAndSize(out_len ? out : "", (Py_ssize_t)out_len);
    free(out);
    return result;
}

static PyMethodDef methods[] = {
    {"call_host", call_host, METH_VARARGS, "Calls host function INDEX with bytes; its answer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_pywasm", "pywasm's ABI, for the pywasm package.", -1, methods,
};

PyMODINIT_FUNC PyInit__pywasm(void) {
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    PyObject *names = PyTuple_New(pywasm_host_count);
    if (names == NULL) {
        Py_DECREF(module);
        return NULL;
    }
    for (int i = 0; i < pywasm_host_count; i++) {
        PyObject *name = PyUnicode_FromString(pywasm_host_names[i]);
        if (name == NULL) {
            Py_DECREF(names);
            Py_DECREF(module);
            return NULL;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    if (PyModule_AddObject(module, "HOST_NAMES", names) != 0) {
        Py_DECREF(names);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
