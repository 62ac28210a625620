/* memfs.c, continued: the WASI calls on /tmp's descriptors and paths. codegen joins memfs.c and
 * this file into one translation unit, as they share its static state; this part is not
 * compiled on its own. */
/* ---- descriptor calls ----------------------------------------------------------------------- */

int32_t pywasm_memfs_fd_advise(int32_t fd, int64_t offset, int64_t len, int32_t advice) {
    return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_allocate(int32_t fd, int64_t offset, int64_t len) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 1, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (offset < 0 || len <= 0 || offset > INT64_MAX - len)
        return __WASI_ERRNO_INVAL;
    uint64_t end = (uint64_t)(offset + len);
    int grows = tree[f->node].kind == FILE_NODE && end > tree[f->node].size;
    return grows ? resize(f->node, end) : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_close(int32_t fd) {
    struct open_file *f = file_of(fd);
    if (f == NULL)
        /* The root belongs to libc's preopen table for the life of the module. */
        return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_NOTSUP;
    f->in_use = 0;
    tree[f->node].opened--;
    release(f->node);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_datasync(int32_t fd) {
    return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_sync(int32_t fd) {
    return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_fdstat_get(int32_t fd, int32_t out) {
    int64_t id = node_of(fd);
    if (id < 0)
        return __WASI_ERRNO_BADF;
    __wasi_fdstat_t *st = (__wasi_fdstat_t *)(uintptr_t)out;
    memset(st, 0, sizeof *st);
    st->fs_rights_inheriting = FILE_RIGHTS | DIR_RIGHTS;
    if (tree[id].kind == DIR_NODE) {
        st->fs_filetype = __WASI_FILETYPE_DIRECTORY;
        st->fs_rights_base = DIR_RIGHTS;
        return __WASI_ERRNO_SUCCESS;
    }
    struct open_file *f = file_of(fd);
    st->fs_filetype = filetype((uint32_t)id);
    st->fs_flags = f->append ? __WASI_FDFLAGS_APPEND : 0;
    /* libc's fcntl(F_GETFL) derives O_RDONLY/O_WRONLY/O_RDWR from these. */
    st->fs_rights_base = FILE_RIGHTS & ~((f->readable ? 0 : READ_ONLY) | (f->writable ? 0 : WRITE_ONLY));
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_fdstat_set_flags(int32_t fd, int32_t flags) {
    if (node_of(fd) < 0)
        return __WASI_ERRNO_BADF;
    struct open_file *f = file_of(fd);
    if (f != NULL)
        f->append = (flags & __WASI_FDFLAGS_APPEND) != 0;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_fdstat_set_rights(int32_t fd, int64_t base, int64_t inheriting) {
    return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_filestat_get(int32_t fd, int32_t out) {
    int64_t id = node_of(fd);
    if (id < 0)
        return __WASI_ERRNO_BADF;
    fill_filestat((uint32_t)id, (__wasi_filestat_t *)(uintptr_t)out);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_filestat_set_size(int32_t fd, int64_t size) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 1, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err == __WASI_ERRNO_BADF && file_of(fd) != NULL ? __WASI_ERRNO_INVAL : err;
    if (size < 0)
        return __WASI_ERRNO_INVAL;
    return tree[f->node].kind == NULL_NODE ? __WASI_ERRNO_SUCCESS : resize(f->node, (uint64_t)size);
}

int32_t pywasm_memfs_fd_filestat_set_times(int32_t fd, int64_t atim, int64_t mtim, int32_t flags) {
    int64_t id = node_of(fd);
    return id < 0 ? __WASI_ERRNO_BADF : set_times((uint32_t)id, atim, mtim, flags);
}

int32_t pywasm_memfs_fd_pread(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                              int32_t nread) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 0, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (offset < 0)
        return __WASI_ERRNO_INVAL;
    *(__wasi_size_t *)(uintptr_t)nread = (__wasi_size_t)read_at(
        f->node, (uint64_t)offset, (const __wasi_iovec_t *)(uintptr_t)iovs, (size_t)iovs_len);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_prestat_get(int32_t fd, int32_t out) { return __WASI_ERRNO_BADF; }

int32_t pywasm_memfs_fd_prestat_dir_name(int32_t fd, int32_t path, int32_t len) {
    return __WASI_ERRNO_BADF;
}

int32_t pywasm_memfs_fd_pwrite(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                               int32_t nwritten) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 1, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (offset < 0)
        return __WASI_ERRNO_INVAL;
    size_t done = 0;
    err = write_at(f->node, (uint64_t)offset, (const __wasi_ciovec_t *)(uintptr_t)iovs,
                   (size_t)iovs_len, &done);
    if (err == __WASI_ERRNO_SUCCESS)
        *(__wasi_size_t *)(uintptr_t)nwritten = (__wasi_size_t)done;
    return err;
}

int32_t pywasm_memfs_fd_read(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 0, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    size_t n = read_at(f->node, f->offset, (const __wasi_iovec_t *)(uintptr_t)iovs,
                       (size_t)iovs_len);
    f->offset += n;
    *(__wasi_size_t *)(uintptr_t)nread = (__wasi_size_t)n;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_readdir(int32_t fd, int32_t buf, int32_t buf_len, int64_t cookie,
                                int32_t bufused) {
    int64_t id = node_of(fd);
    if (id < 0)
        return __WASI_ERRNO_BADF;
    const struct node *dir = &tree[id];
    if (dir->kind != DIR_NODE)
        return __WASI_ERRNO_NOTDIR;
    /* Cookies 0 and 1 are "." and ".."; entry i has cookie i + 2. A full buffer ends with a
     * truncated entry, as the spec asks. */
    uint8_t *out = (uint8_t *)(uintptr_t)buf;
    size_t capacity = (size_t)(uint32_t)buf_len, used = 0;
    uint64_t total = (uint64_t)dir->count + 2;
    for (uint64_t c = (uint64_t)cookie; c < total && used < capacity; c++) {
        uint32_t target;
        const char *name;
        size_t name_len;
        if (c == 0) {
            target = (uint32_t)id, name = ".", name_len = 1;
        } else if (c == 1) {
            target = dir->parent, name = "..", name_len = 2;
        } else {
            const struct entry *e = &dir->entries[c - 2];
            target = e->node, name = e->name, name_len = e->len;
        }
        __wasi_dirent_t entry = {
            .d_next = c + 1,
            .d_ino = tree[target].ino,
            .d_namlen = (__wasi_dirnamlen_t)name_len,
            .d_type = filetype(target),
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

int32_t pywasm_memfs_fd_renumber(int32_t fd, int32_t to) { return __WASI_ERRNO_NOTSUP; }

int32_t pywasm_memfs_fd_seek(int32_t fd, int64_t offset, int32_t whence, int32_t out) {
    struct open_file *f = file_of(fd);
    if (f == NULL)
        return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    if (tree[f->node].kind == DIR_NODE)
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
        base = (int64_t)tree[f->node].size;
        break;
    default:
        return __WASI_ERRNO_INVAL;
    }
    if ((offset < 0 && base + offset < 0) || (offset > 0 && base > INT64_MAX - offset))
        return __WASI_ERRNO_INVAL;
    f->offset = (uint64_t)(base + offset);
    *(__wasi_filesize_t *)(uintptr_t)out = f->offset;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_tell(int32_t fd, int32_t out) {
    struct open_file *f = file_of(fd);
    if (f == NULL)
        return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    *(__wasi_filesize_t *)(uintptr_t)out = f->offset;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_fd_write(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten) {
    struct open_file *f;
    __wasi_errno_t err = usable(fd, 1, &f);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (f->append)
        f->offset = tree[f->node].size;
    size_t done = 0;
    err = write_at(f->node, f->offset, (const __wasi_ciovec_t *)(uintptr_t)iovs, (size_t)iovs_len,
                   &done);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    f->offset += done;
    *(__wasi_size_t *)(uintptr_t)nwritten = (__wasi_size_t)done;
    return __WASI_ERRNO_SUCCESS;
}

/* ---- path calls ----------------------------------------------------------------------------- */

int32_t pywasm_memfs_path_create_directory(int32_t fd, int32_t path, int32_t len) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (exists(&p))
        return __WASI_ERRNO_EXIST;
    if (p.dir == DEV)
        return __WASI_ERRNO_ROFS;
    int64_t id = new_node(DIR_NODE, p.dir);
    if (id < 0)
        return __WASI_ERRNO_NOSPC;
    err = add_entry(p.dir, p.name, p.len, (uint32_t)id);
    if (err != __WASI_ERRNO_SUCCESS)
        release((uint32_t)id);
    return err;
}

int32_t pywasm_memfs_path_filestat_get(int32_t fd, int32_t flags, int32_t path, int32_t len,
                                       int32_t out) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (!exists(&p))
        return __WASI_ERRNO_NOENT;
    if (p.trailing_slash && tree[p.node].kind != DIR_NODE)
        return __WASI_ERRNO_NOTDIR;
    fill_filestat(p.node, (__wasi_filestat_t *)(uintptr_t)out);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_path_filestat_set_times(int32_t fd, int32_t flags, int32_t path, int32_t len,
                                             int64_t atim, int64_t mtim, int32_t fst_flags) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    return exists(&p) ? set_times(p.node, atim, mtim, fst_flags) : __WASI_ERRNO_NOENT;
}

int32_t pywasm_memfs_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t len,
                               int32_t oflags, int64_t rights_base, int64_t rights_inheriting,
                               int32_t fdflags, int32_t opened) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    int readable = ((uint64_t)rights_base & READ_ONLY) != 0;
    int writable = ((uint64_t)rights_base & WRITE_ONLY) != 0;
    uint32_t id;
    if (exists(&p)) {
        if ((oflags & __WASI_OFLAGS_CREAT) && (oflags & __WASI_OFLAGS_EXCL))
            return __WASI_ERRNO_EXIST;
        id = p.node;
        int is_dir = tree[id].kind == DIR_NODE;
        if (!is_dir && ((oflags & __WASI_OFLAGS_DIRECTORY) || p.trailing_slash))
            return __WASI_ERRNO_NOTDIR;
        if (is_dir && (writable || (oflags & __WASI_OFLAGS_TRUNC)))
            return __WASI_ERRNO_ISDIR;
        if ((oflags & __WASI_OFLAGS_TRUNC) && tree[id].size > 0)
            resize(id, 0);
    } else {
        if (!(oflags & __WASI_OFLAGS_CREAT))
            return __WASI_ERRNO_NOENT;
        if (p.trailing_slash)
            return __WASI_ERRNO_ISDIR;
        if (oflags & __WASI_OFLAGS_DIRECTORY)
            return __WASI_ERRNO_INVAL;
        if (p.dir == DEV)
            return __WASI_ERRNO_ROFS;
        int64_t created = new_node(FILE_NODE, p.dir);
        if (created < 0)
            return __WASI_ERRNO_NOSPC;
        id = (uint32_t)created;
        err = add_entry(p.dir, p.name, p.len, id);
        if (err != __WASI_ERRNO_SUCCESS) {
            release(id);
            return err;
        }
    }
    int32_t newfd;
    err = open_fd(id, readable, writable, (fdflags & __WASI_FDFLAGS_APPEND) != 0, &newfd);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    *(__wasi_fd_t *)(uintptr_t)opened = (__wasi_fd_t)newfd;
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_path_readlink(int32_t fd, int32_t path, int32_t len, int32_t buf,
                                   int32_t buf_len, int32_t used) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    return exists(&p) ? __WASI_ERRNO_INVAL : __WASI_ERRNO_NOENT;
}

int32_t pywasm_memfs_path_remove_directory(int32_t fd, int32_t path, int32_t len) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (!exists(&p))
        return __WASI_ERRNO_NOENT;
    if (p.name == NULL)
        return p.node == ROOT ? __WASI_ERRNO_BUSY : __WASI_ERRNO_INVAL;
    if (fixed(&p))
        return __WASI_ERRNO_ROFS;
    if (tree[p.node].kind != DIR_NODE)
        return __WASI_ERRNO_NOTDIR;
    if (tree[p.node].count > 0)
        return __WASI_ERRNO_NOTEMPTY;
    remove_entry(p.dir, (uint32_t)p.entry);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_path_symlink(int32_t old_path, int32_t old_len, int32_t fd, int32_t path,
                                  int32_t len) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    /* No symbolic links here, as on file systems that have none (EPERM, like FAT on Linux). */
    return exists(&p) ? __WASI_ERRNO_EXIST : __WASI_ERRNO_PERM;
}

int32_t pywasm_memfs_path_unlink_file(int32_t fd, int32_t path, int32_t len) {
    struct place p;
    __wasi_errno_t err = locate(fd, path, len, &p);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (!exists(&p))
        return __WASI_ERRNO_NOENT;
    if (p.name == NULL || tree[p.node].kind == DIR_NODE)
        return __WASI_ERRNO_ISDIR;
    if (p.trailing_slash)
        return __WASI_ERRNO_NOTDIR;
    if (fixed(&p))
        return __WASI_ERRNO_ROFS;
    remove_entry(p.dir, (uint32_t)p.entry);
    return __WASI_ERRNO_SUCCESS;
}

int32_t pywasm_memfs_path_link(int32_t old_fd, int32_t old_flags, int32_t old_path,
                               int32_t old_len, int32_t new_fd, int32_t new_path,
                               int32_t new_len) {
    struct place from, to;
    __wasi_errno_t err = locate(old_fd, old_path, old_len, &from);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (!exists(&from))
        return __WASI_ERRNO_NOENT;
    if (tree[from.node].kind == DIR_NODE)
        return __WASI_ERRNO_PERM;
    err = locate(new_fd, new_path, new_len, &to);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (exists(&to))
        return __WASI_ERRNO_EXIST;
    if (to.dir == DEV || from.node <= DEV_NULL)
        return __WASI_ERRNO_ROFS;
    return add_entry(to.dir, to.name, to.len, from.node);
}

/* Is `node` the directory `ancestor` or inside it? */
static int within(uint32_t node, uint32_t ancestor) {
    for (;;) {
        if (node == ancestor)
            return 1;
        if (node == ROOT)
            return 0;
        node = tree[node].parent;
    }
}

int32_t pywasm_memfs_path_rename(int32_t fd, int32_t old_path, int32_t old_len, int32_t new_fd,
                                 int32_t new_path, int32_t new_len) {
    struct place from, to;
    __wasi_errno_t err = locate(fd, old_path, old_len, &from);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (!exists(&from))
        return __WASI_ERRNO_NOENT;
    if (from.name == NULL)
        return __WASI_ERRNO_BUSY;
    err = locate(new_fd, new_path, new_len, &to);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    if (to.name == NULL)
        return __WASI_ERRNO_BUSY;
    if (fixed(&from) || fixed(&to))
        return __WASI_ERRNO_ROFS;
    uint32_t moving = from.node;
    int is_dir = tree[moving].kind == DIR_NODE;
    if (!is_dir && (from.trailing_slash || to.trailing_slash))
        return __WASI_ERRNO_NOTDIR;
    if (is_dir && within(to.dir, moving))
        return __WASI_ERRNO_INVAL;
    if (to.entry >= 0) {
        uint32_t target = to.node;
        if (target == moving)
            return __WASI_ERRNO_SUCCESS;
        if (is_dir && tree[target].kind != DIR_NODE)
            return __WASI_ERRNO_NOTDIR;
        if (!is_dir && tree[target].kind == DIR_NODE)
            return __WASI_ERRNO_ISDIR;
        if (tree[target].kind == DIR_NODE && tree[target].count > 0)
            return __WASI_ERRNO_NOTEMPTY;
    }
    /* Add the new name before dropping anything, so running out of memory changes nothing. */
    tree[moving].nlink++; /* held while the entries move */
    err = add_entry(to.dir, to.name, to.len, moving);
    if (err != __WASI_ERRNO_SUCCESS) {
        tree[moving].nlink--;
        return err;
    }
    if (to.entry >= 0)
        remove_entry(to.dir, (uint32_t)to.entry);
    int64_t old_index = find(from.dir, from.name, from.len);
    remove_entry(from.dir, (uint32_t)old_index);
    tree[moving].nlink--;
    if (is_dir)
        tree[moving].parent = to.dir;
    tree[moving].ctim = now();
    return __WASI_ERRNO_SUCCESS;
}
