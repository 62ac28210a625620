/*
 * pywasm's file systems below wasi-libc (templates/wasi_fs.c routes each call):
 * - the embedded image, read-only (templates/embedfs.c);
 * - a writable in-memory tree at /tmp (templates/memfs.c);
 * - everything else goes to the host.
 */
#ifndef PYWASM_FS_H
#define PYWASM_FS_H

#include <stddef.h>
#include <stdint.h>

/* Registers every mount point of the embedded image with wasi-libc's preopen table. Call it
 * before anything opens a file; returns 0 on success. */
int pywasm_embedfs_mount(void);

/* Drops the embedded file at the absolute `path` from the image: its bytes are zeroed (so a
 * pre-initialised snapshot, which keeps only non-zero memory, leaves them out) and it reads as
 * absent from then on. For bytecode whose module the snapshot already holds. Returns 0 when the
 * file was dropped, -1 when `path` is no embedded file or is open. */
int pywasm_embedfs_drop(const char *path);

/* A pre-initialised module's image, read from the directory the build preopens while it takes
 * the snapshot (templates/build_image.c): a heap block, or NULL when there is none. */
unsigned char *pywasm_build_image(void);

/* Inflates the raw DEFLATE stream `in` into exactly `out_len` bytes at `out`
 * (templates/inflate.c). Returns 0, or -1 when the stream is corrupt or of another size. */
int pywasm_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);

/* Registers the in-memory tree at `path`, holding at most `limit` bytes of file data, unless the
 * host preopened a directory at that path itself (the host's wins) or `limit` is 0. Its contents
 * live in linear memory, so a pre-initialised snapshot keeps what was written at build time.
 * Returns 0 on success. */
int pywasm_memfs_mount(const char *path, uint64_t limit);

/* Registers /dev with `null` in it, unless the host preopened /dev itself. Returns 0 on success. */
int pywasm_devfs_mount(void);

/* ---- internal: the calls every file system serves ------------------------------------------ */

/* Descriptor ranges, far above anything a host hands out. */
#define PYWASM_IMAGE_FD_BASE 0x40000000u
#define PYWASM_MEMFS_FD_BASE 0x50000000u
#define PYWASM_FS_FD_END 0x60000000u

/* X(name, parameters, arguments) for each preview1 call that takes one descriptor named `fd`. */
#define PYWASM_FD_CALLS(X)                                                                         \
    X(fd_advise, (int32_t fd, int64_t offset, int64_t len, int32_t advice), (fd, offset, len, advice)) \
    X(fd_allocate, (int32_t fd, int64_t offset, int64_t len), (fd, offset, len))                   \
    X(fd_close, (int32_t fd), (fd))                                                                \
    X(fd_datasync, (int32_t fd), (fd))                                                             \
    X(fd_sync, (int32_t fd), (fd))                                                                 \
    X(fd_fdstat_get, (int32_t fd, int32_t out), (fd, out))                                         \
    X(fd_fdstat_set_flags, (int32_t fd, int32_t flags), (fd, flags))                               \
    X(fd_fdstat_set_rights, (int32_t fd, int64_t base, int64_t inheriting), (fd, base, inheriting)) \
    X(fd_filestat_get, (int32_t fd, int32_t out), (fd, out))                                       \
    X(fd_filestat_set_size, (int32_t fd, int64_t size), (fd, size))                                \
    X(fd_filestat_set_times, (int32_t fd, int64_t atim, int64_t mtim, int32_t flags),              \
      (fd, atim, mtim, flags))                                                                     \
    X(fd_pread, (int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset, int32_t nread),       \
      (fd, iovs, iovs_len, offset, nread))                                                         \
    X(fd_prestat_get, (int32_t fd, int32_t out), (fd, out))                                        \
    X(fd_prestat_dir_name, (int32_t fd, int32_t path, int32_t len), (fd, path, len))               \
    X(fd_pwrite, (int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset, int32_t nwritten),   \
      (fd, iovs, iovs_len, offset, nwritten))                                                      \
    X(fd_read, (int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread), (fd, iovs, iovs_len, nread)) \
    X(fd_readdir, (int32_t fd, int32_t buf, int32_t buf_len, int64_t cookie, int32_t used),        \
      (fd, buf, buf_len, cookie, used))                                                            \
    X(fd_seek, (int32_t fd, int64_t offset, int32_t whence, int32_t out), (fd, offset, whence, out)) \
    X(fd_tell, (int32_t fd, int32_t out), (fd, out))                                               \
    X(fd_write, (int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten),                    \
      (fd, iovs, iovs_len, nwritten))                                                              \
    X(path_create_directory, (int32_t fd, int32_t path, int32_t len), (fd, path, len))             \
    X(path_filestat_get, (int32_t fd, int32_t flags, int32_t path, int32_t len, int32_t out),      \
      (fd, flags, path, len, out))                                                                 \
    X(path_filestat_set_times,                                                                     \
      (int32_t fd, int32_t flags, int32_t path, int32_t len, int64_t atim, int64_t mtim,           \
       int32_t fst_flags),                                                                         \
      (fd, flags, path, len, atim, mtim, fst_flags))                                               \
    X(path_open,                                                                                   \
      (int32_t fd, int32_t dirflags, int32_t path, int32_t len, int32_t oflags,                    \
       int64_t rights_base, int64_t rights_inheriting, int32_t fdflags, int32_t opened),           \
      (fd, dirflags, path, len, oflags, rights_base, rights_inheriting, fdflags, opened))          \
    X(path_readlink, (int32_t fd, int32_t path, int32_t len, int32_t buf, int32_t buf_len, int32_t used), \
      (fd, path, len, buf, buf_len, used))                                                         \
    X(path_remove_directory, (int32_t fd, int32_t path, int32_t len), (fd, path, len))             \
    X(path_symlink, (int32_t old_path, int32_t old_len, int32_t fd, int32_t path, int32_t len),    \
      (old_path, old_len, fd, path, len))                                                          \
    X(path_unlink_file, (int32_t fd, int32_t path, int32_t len), (fd, path, len))

/* Calls between two descriptors; each file system serves them only when both are its own. */
#define PYWASM_TWO_FD_CALLS(X)                                                                     \
    X(path_link,                                                                                   \
      (int32_t fd, int32_t old_flags, int32_t old_path, int32_t old_len, int32_t new_fd,           \
       int32_t new_path, int32_t new_len),                                                         \
      (fd, old_flags, old_path, old_len, new_fd, new_path, new_len))                               \
    X(path_rename,                                                                                 \
      (int32_t fd, int32_t old_path, int32_t old_len, int32_t new_fd, int32_t new_path,            \
       int32_t new_len),                                                                           \
      (fd, old_path, old_len, new_fd, new_path, new_len))                                          \
    X(fd_renumber, (int32_t fd, int32_t new_fd), (fd, new_fd))

#define PYWASM_DECLARE(prefix, name, params, args) int32_t prefix##name params;
#define PYWASM_DECLARE_IMAGE(name, params, args) PYWASM_DECLARE(pywasm_image_, name, params, args)
#define PYWASM_DECLARE_MEMFS(name, params, args) PYWASM_DECLARE(pywasm_memfs_, name, params, args)
PYWASM_FD_CALLS(PYWASM_DECLARE_IMAGE)
PYWASM_TWO_FD_CALLS(PYWASM_DECLARE_IMAGE)
PYWASM_FD_CALLS(PYWASM_DECLARE_MEMFS)
PYWASM_TWO_FD_CALLS(PYWASM_DECLARE_MEMFS)

#endif
