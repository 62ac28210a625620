/* embedfs.c, continued: the WASI calls on the image's descriptors and paths. codegen joins
 * embedfs.c and this file into one translation unit, as they share its static state; this part
 * is not compiled on its own. */
/* ---- descriptor calls ---------------------------------------------------------------------- */

int32_t pywasm_image_fd_advise(int32_t fd, int64_t offset, int64_t len, int32_t advice) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_allocate(int32_t fd, int64_t offset, int64_t len) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_fd_close(int32_t fd) {
    struct open_file *f = open_file_of_fd(fd);
    if (f == NULL)
        /* Mount descriptors belong to libc's preopen table for the life of the module. */
        return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_NOTSUP;
    if (f->inflated != NULL) {
        /* Zeroed first: a snapshot keeps every non-zero byte, freed ones too, and imports at
         * build time would otherwise leave their inflated bytecode in it. */
        memset(f->inflated, 0, (size_t)nodes[f->node].size);
        free(f->inflated);
        f->inflated = NULL;
    }
    f->in_use = 0;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_datasync(int32_t fd) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_fd_sync(int32_t fd) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_fd_fdstat_get(int32_t fd, int32_t out) {
    int64_t node = node_of_fd(fd);
    if (node < 0)
        return __WASI_ERRNO_BADF;
    __wasi_fdstat_t *st = (__wasi_fdstat_t *)(uintptr_t)out;
    memset(st, 0, sizeof *st);
    st->fs_filetype = filetype_of((uint32_t)node);
    st->fs_rights_base = READ_RIGHTS;
    /* Write rights are inherited on purpose: libc then asks for them when a program opens a file
     * for writing, and path_open can refuse with EROFS instead of a confusing EBADF later. */
    st->fs_rights_inheriting = READ_RIGHTS | WRITE_RIGHTS | __WASI_RIGHTS_FD_SYNC;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_fdstat_set_flags(int32_t fd, int32_t flags) {
    if (node_of_fd(fd) < 0)
        return __WASI_ERRNO_BADF;
    return (flags & __WASI_FDFLAGS_APPEND) ? __WASI_ERRNO_ROFS : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_fdstat_set_rights(int32_t fd, int64_t base, int64_t inheriting) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_filestat_get(int32_t fd, int32_t out) {
    int64_t node = node_of_fd(fd);
    if (node < 0)
        return __WASI_ERRNO_BADF;
    fill_filestat((uint32_t)node, (__wasi_filestat_t *)(uintptr_t)out);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_filestat_set_size(int32_t fd, int64_t size) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_fd_filestat_set_times(int32_t fd, int64_t atim, int64_t mtim, int32_t flags) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_fd_pread(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                              int32_t nread) {
    struct open_file *f = open_file_of_fd(fd);
    if (f == NULL)
        return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    if (nodes[f->node].kind == NODE_DIR)
        return __WASI_ERRNO_ISDIR;
    if (offset < 0)
        return __WASI_ERRNO_INVAL;
    size_t n;
    __wasi_errno_t err = copy_out(f, (uint64_t)offset, (const __wasi_iovec_t *)(uintptr_t)iovs,
                                  (size_t)iovs_len, &n);
    if (err == __WASI_ERRNO_SUCCESS)
        *(__wasi_size_t *)(uintptr_t)nread = n;
    return err;
}

int32_t pywasm_image_fd_prestat_get(int32_t fd, int32_t out) {
    return __WASI_ERRNO_BADF;
}

int32_t pywasm_image_fd_prestat_dir_name(int32_t fd, int32_t path, int32_t len) {
    return __WASI_ERRNO_BADF;
}

int32_t pywasm_image_fd_pwrite(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                               int32_t nwritten) {
    /* Embedded files are never opened with write rights. */
    return __WASI_ERRNO_BADF;
}

int32_t pywasm_image_fd_read(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread) {
    struct open_file *f = open_file_of_fd(fd);
    if (f == NULL)
        return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    if (nodes[f->node].kind == NODE_DIR)
        return __WASI_ERRNO_ISDIR;
    size_t n;
    __wasi_errno_t err = copy_out(f, f->offset, (const __wasi_iovec_t *)(uintptr_t)iovs,
                                  (size_t)iovs_len, &n);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    f->offset += n;
    *(__wasi_size_t *)(uintptr_t)nread = n;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_readdir(int32_t fd, int32_t buf, int32_t buf_len, int64_t cookie,
                                int32_t bufused) {
    int64_t node = node_of_fd(fd);
    if (node < 0)
        return __WASI_ERRNO_BADF;
    const struct image_node *dir = &nodes[node];
    if (dir->kind != NODE_DIR)
        return __WASI_ERRNO_NOTDIR;
    /* Cookies 0 and 1 are "." and ".."; child i has cookie i + 2, and each entry's d_next is the
     * cookie of the one after it. A full buffer holds a truncated entry, as the spec asks. */
    uint8_t *out = (uint8_t *)(uintptr_t)buf;
    size_t capacity = (size_t)(uint32_t)buf_len, used = 0;
    uint64_t total = (uint64_t)dir->child_count + 2;
    for (uint64_t c = (uint64_t)cookie; c < total && used < capacity; c++) {
        uint32_t target;
        const char *name;
        size_t name_len;
        if (c == 0) {
            target = (uint32_t)node, name = ".", name_len = 1;
        } else if (c == 1) {
            target = dir->parent, name = "..", name_len = 2;
        } else {
            target = dir->first_child + (uint32_t)(c - 2);
            if (nodes[target].kind == NODE_DROPPED)
                continue;
            name = names + nodes[target].name_offset;
            name_len = nodes[target].name_len;
        }
        __wasi_dirent_t entry = {
            .d_next = c + 1,
            .d_ino = (uint64_t)target + 1,
            .d_namlen = (__wasi_dirnamlen_t)name_len,
            .d_type = filetype_of(target),
        };
        size_t chunk = sizeof entry < capacity - used ? sizeof entry : capacity - used;
        memcpy(out + used, &entry, chunk);
        used += chunk;
        chunk = name_len < capacity - used ? name_len : capacity - used;
        memcpy(out + used, name, chunk);
        used += chunk;
    }
    *(__wasi_size_t *)(uintptr_t)bufused = (__wasi_size_t)used;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_renumber(int32_t fd, int32_t to) {
    return __WASI_ERRNO_NOTSUP;
}

int32_t pywasm_image_fd_seek(int32_t fd, int64_t offset, int32_t whence, int32_t newoffset) {
    struct open_file *f = open_file_of_fd(fd);
    if (f == NULL)
        return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    if (nodes[f->node].kind == NODE_DIR)
        return __WASI_ERRNO_ISDIR;
    int64_t base;
    switch (whence) {
    case __WASI_WHENCE_SET:
        base = 0;
        break;
    case __WASI_WHENCE_CUR:
        base = (int64_t)f->offset;
        break;
    case __WASI_WHENCE_END:
        base = (int64_t)nodes[f->node].size;
        break;
    default:
        return __WASI_ERRNO_INVAL;
    }
    if ((offset < 0 && base + offset < 0) || (offset > 0 && base > INT64_MAX - offset))
        return __WASI_ERRNO_INVAL;
    f->offset = (uint64_t)(base + offset);
    *(__wasi_filesize_t *)(uintptr_t)newoffset = f->offset;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_tell(int32_t fd, int32_t out) {
    struct open_file *f = open_file_of_fd(fd);
    if (f == NULL)
        return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    *(__wasi_filesize_t *)(uintptr_t)out = f->offset;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_fd_write(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten) {
    /* Embedded files are never opened with write rights. */
    return __WASI_ERRNO_BADF;
}

/* ---- path calls ---------------------------------------------------------------------------- */

/* Resolves `path` below the directory behind `fd`. */
static __wasi_errno_t lookup(int32_t fd, int32_t path, int32_t path_len, uint32_t *out) {
    int64_t dir = node_of_fd(fd);
    if (dir < 0)
        return __WASI_ERRNO_BADF;
    if (nodes[dir].kind != NODE_DIR)
        return __WASI_ERRNO_NOTDIR;
    return resolve((uint32_t)dir, (const char *)(uintptr_t)path, (size_t)(uint32_t)path_len, out);
}

/* Calls that would change the tree: EROFS when the descriptor is ours and valid. */
static int32_t refuse_write(int32_t fd) {
    return node_of_fd(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ROFS;
}

int32_t pywasm_image_path_create_directory(int32_t fd, int32_t path, int32_t len) {
    uint32_t node;
    if (lookup(fd, path, len, &node) == __WASI_ERRNO_SUCCESS)
        return __WASI_ERRNO_EXIST;
    return refuse_write(fd);
}

int32_t pywasm_image_path_filestat_get(int32_t fd, int32_t flags, int32_t path, int32_t len,
                                       int32_t out) {
    uint32_t node;
    __wasi_errno_t err = lookup(fd, path, len, &node);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    fill_filestat(node, (__wasi_filestat_t *)(uintptr_t)out);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_path_filestat_set_times(int32_t fd, int32_t flags, int32_t path, int32_t len,
                                             int64_t atim, int64_t mtim, int32_t fst_flags) {
    return refuse_write(fd);
}

int32_t pywasm_image_path_link(int32_t old_fd, int32_t old_flags, int32_t old_path,
                               int32_t old_len, int32_t new_fd, int32_t new_path,
                               int32_t new_len) {
    return refuse_write(new_fd);
}

int32_t pywasm_image_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t len,
                               int32_t oflags, int64_t rights_base, int64_t rights_inheriting,
                               int32_t fdflags, int32_t opened) {
    uint32_t node;
    __wasi_errno_t err = lookup(fd, path, len, &node);
    if (err == __WASI_ERRNO_NOENT && (oflags & __WASI_OFLAGS_CREAT))
        return __WASI_ERRNO_ROFS;
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if ((oflags & __WASI_OFLAGS_CREAT) && (oflags & __WASI_OFLAGS_EXCL))
        return __WASI_ERRNO_EXIST;
    if ((oflags & __WASI_OFLAGS_DIRECTORY) && nodes[node].kind != NODE_DIR)
        return __WASI_ERRNO_NOTDIR;
    int wants_write = ((uint64_t)rights_base & WRITE_RIGHTS) != 0 ||
                      (oflags & __WASI_OFLAGS_TRUNC) != 0 ||
                      (fdflags & __WASI_FDFLAGS_APPEND) != 0;
    if (wants_write)
        return nodes[node].kind == NODE_DIR ? __WASI_ERRNO_ISDIR : __WASI_ERRNO_ROFS;
    int32_t newfd;
    err = allocate_fd(node, &newfd);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    *(__wasi_fd_t *)(uintptr_t)opened = (__wasi_fd_t)newfd;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_image_path_readlink(int32_t fd, int32_t path, int32_t len, int32_t buf,
                                   int32_t buf_len, int32_t used) {
    uint32_t node;
    __wasi_errno_t err = lookup(fd, path, len, &node);
    return err != __WASI_ERRNO_SUCCESS ? err : __WASI_ERRNO_INVAL;
}

int32_t pywasm_image_path_remove_directory(int32_t fd, int32_t path, int32_t len) {
    return refuse_write(fd);
}

int32_t pywasm_image_path_rename(int32_t fd, int32_t old_path, int32_t old_len, int32_t new_fd,
                                 int32_t new_path, int32_t new_len) {
    return refuse_write(fd);
}

int32_t pywasm_image_path_symlink(int32_t old_path, int32_t old_len, int32_t fd, int32_t new_path,
                                  int32_t new_len) {
    return refuse_write(fd);
}

int32_t pywasm_image_path_unlink_file(int32_t fd, int32_t path, int32_t len) {
    return refuse_write(fd);
}
