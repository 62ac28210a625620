/*
 * Routes wasi-libc's file calls to pywasm's file systems or the host.
 *
 * wasi-libc reaches the host through functions named `__imported_wasi_snapshot_preview1_<name>`.
 * Defining them here makes the linker bind libc to these definitions instead of creating imports.
 * Each call goes to the file system that owns its descriptor (by range, see pywasm_fs.h) and every
 * other descriptor to the real host function, imported under another C name. Because this sits
 * below libc, Python's importers, `open()` and C libraries using `fopen` all see the same files.
 */
#include <stdint.h>
#include <wasi/api.h>

#include "pywasm_fs.h"

#define HOST_IMPORT(name, params, args)                                                            \
    int32_t host_##name params                                                                     \
        __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)));
PYWASM_FD_CALLS(HOST_IMPORT)
PYWASM_TWO_FD_CALLS(HOST_IMPORT)

enum owner { HOST, IMAGE, MEMFS };

static enum owner owner_of(int32_t fd) {
    uint32_t u = (uint32_t)fd;
    if (u >= PYWASM_IMAGE_FD_BASE && u < PYWASM_MEMFS_FD_BASE)
        return IMAGE;
    if (u >= PYWASM_MEMFS_FD_BASE && u < PYWASM_FS_FD_END)
        return MEMFS;
    return HOST;
}

#define ROUTE_ONE(name, params, args)                                                              \
    int32_t __imported_wasi_snapshot_preview1_##name params {                                      \
        switch (owner_of(fd)) {                                                                    \
        case IMAGE:                                                                                \
            return pywasm_image_##name args;                                                       \
        case MEMFS:                                                                                \
            return pywasm_memfs_##name args;                                                       \
        default:                                                                                   \
            return host_##name args;                                                               \
        }                                                                                          \
    }
PYWASM_FD_CALLS(ROUTE_ONE)

/* Links, renames and renumbering stay within one file system. Between two, the image as the
 * target is read-only (EROFS); any other pair is another device (EXDEV), which makes Python's
 * `shutil.move` copy instead. */
#define ROUTE_TWO(name, params, args)                                                              \
    int32_t __imported_wasi_snapshot_preview1_##name params {                                      \
        enum owner from = owner_of(fd), to = owner_of(new_fd);                                     \
        if (from != to)                                                                            \
            return to == IMAGE ? __WASI_ERRNO_ROFS : __WASI_ERRNO_XDEV;                            \
        switch (from) {                                                                            \
        case IMAGE:                                                                                \
            return pywasm_image_##name args;                                                       \
        case MEMFS:                                                                                \
            return pywasm_memfs_##name args;                                                       \
        default:                                                                                   \
            return host_##name args;                                                               \
        }                                                                                          \
    }
PYWASM_TWO_FD_CALLS(ROUTE_TWO)
