/*
 * Where a pre-initialised module's image comes from: not from the module's own data (no image is
 * linked in) but from the build, which preopens a directory holding it while it runs the module
 * to take the snapshot (crates/pywasm-core/src/module/preinit.rs). The bytes land in the heap, and the
 * snapshot carries them from there on: every run finds the image where the build left it.
 *
 * This keeps the linked module the same for every edit of the app, so the build reuses its link
 * and its compiled code. Only raw WASI calls are made here, below wasi-libc's preopen table, and
 * the directory is closed once read, before Python starts: what runs at build time sees no
 * directory, as before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#include "pywasm_fs.h"

#define BUILD_DIR PYWASM_BUILD_IMAGE_DIR
#define BUILD_DIR_LEN (sizeof(BUILD_DIR) - 1)
#define IMAGE_FILE PYWASM_BUILD_IMAGE_FILE

/* The first preopened directory named BUILD_DIR, or -1. */
static int64_t build_dir(void) {
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t prestat;
        __wasi_errno_t err = __wasi_fd_prestat_get(fd, &prestat);
        if (err == __WASI_ERRNO_BADF)
            return -1;
        if (err != __WASI_ERRNO_SUCCESS || prestat.tag != __WASI_PREOPENTYPE_DIR ||
            prestat.u.dir.pr_name_len != BUILD_DIR_LEN)
            continue;
        char name[BUILD_DIR_LEN];
        if (__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, BUILD_DIR_LEN) ==
                __WASI_ERRNO_SUCCESS &&
            memcmp(name, BUILD_DIR, BUILD_DIR_LEN) == 0)
            return fd;
    }
}

unsigned char *pywasm_build_image(void) {
    int64_t dir = build_dir();
    if (dir < 0)
        return NULL;
    __wasi_fd_t fd;
    __wasi_errno_t opened = __wasi_path_open((__wasi_fd_t)dir, 0, IMAGE_FILE, 0,
                                             __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_FILESTAT_GET,
                                             0, 0, &fd);
    /* The app's code, which runs next, sees no directory at build time. */
    __wasi_fd_close((__wasi_fd_t)dir);
    if (opened != __WASI_ERRNO_SUCCESS)
        return NULL;
    __wasi_filestat_t stat;
    unsigned char *image = NULL;
    /* The image's header and nodes are read in place as structs of 8-byte fields. */
    if (__wasi_fd_filestat_get(fd, &stat) == __WASI_ERRNO_SUCCESS && stat.size > 0 &&
        stat.size < SIZE_MAX)
        image = aligned_alloc(16, ((size_t)stat.size + 15) & ~(size_t)15);
    size_t done = 0;
    while (image != NULL && done < stat.size) {
        __wasi_iovec_t iov = {image + done, (size_t)stat.size - done};
        size_t got = 0;
        if (__wasi_fd_read(fd, &iov, 1, &got) != __WASI_ERRNO_SUCCESS || got == 0) {
            free(image);
            image = NULL;
        }
        done += got;
    }
    __wasi_fd_close(fd);
    return image;
}
