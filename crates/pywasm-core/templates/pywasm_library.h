/* Between main.c (generated: the exports and host imports of one library) and library.c. */
#ifndef PYWASM_LIBRARY_H
#define PYWASM_LIBRARY_H

#include <stdint.h>

/* The host functions of `[tool.pywasm.imports]`, in order, and their Python names. */
extern int64_t (*const pywasm_host_functions[])(int32_t, int32_t);
extern const char *const pywasm_host_names[];
extern const int pywasm_host_count;

/* After the exports are registered: finds the Python side of the calls. 0 on success. */
int pywasm_library_ready(void);

/* Export `index` called with the argument bytes at (ptr, len): the packed result, or -1. */
int64_t pywasm_library_call(int32_t index, int32_t ptr, int32_t len);

#endif
