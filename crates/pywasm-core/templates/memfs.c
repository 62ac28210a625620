/*
 * A writable in-memory directory tree (mounted at /tmp): the calls of templates/wasi_fs.c for
 * its descriptors. Code that writes scratch files and reads them back (tempfile, caches, test
 * suites) works on every host with no preopened directory. Files hold at most `limit` bytes in
 * all; a write past it fails with ENOSPC as a full disk does. POSIX semantics that Python's
 * tempfile and shutil rely on are kept: an unlinked file lives on while a descriptor is open on
 * it, renames replace their target, hard links share one file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>
#include <wasi/libc-find-relpath.h>
#include <wasi/libc.h>

#include "pywasm_fs.h"

#define ROOT_FD PYWASM_MEMFS_FD_BASE
#define DEV_FD (PYWASM_MEMFS_FD_BASE + 1u)
#define OPEN_BASE (PYWASM_MEMFS_FD_BASE + 2u)
#define ROOT 0u
/* /dev, holding only `null`: `os.devnull` is where much code sends what it does not want. */
#define DEV 1u
#define DEV_NULL 2u

/* Not the image's device: `os.path.samefile` and `shutil` tell the two file systems apart. */
#define MEMFS_DEV 0x70796d656dull

enum kind { FREE = 0, FILE_NODE, DIR_NODE, NULL_NODE };

struct entry {
    char *name;
    size_t len;
    uint32_t node;
};

struct node {
    enum kind kind;
    uint32_t nlink;  /* directory entries naming it */
    uint32_t opened; /* descriptors open on it */
    uint32_t parent; /* directories: the one holding it, for ".." */
    uint64_t ino;
    uint64_t atim, mtim, ctim;
    unsigned char *data; /* files */
    uint64_t size, capacity;
    struct entry *entries; /* directories */
    uint32_t count, room;
};

struct open_file {
    uint32_t node;
    uint8_t in_use, readable, writable, append;
    uint64_t offset;
};

static struct node *tree;
static uint32_t tree_room;
static struct open_file *files;
static uint32_t files_room;
static uint64_t next_ino = 1;
static uint64_t used_bytes, limit_bytes;
static int mounted, dev_mounted;

#define FILE_RIGHTS                                                                                \
    (__WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK |                   \
     __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS | __WASI_RIGHTS_FD_SYNC | __WASI_RIGHTS_FD_TELL |           \
     __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_ALLOCATE |                \
     __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE |                          \
     __WASI_RIGHTS_FD_FILESTAT_SET_TIMES | __WASI_RIGHTS_POLL_FD_READWRITE)
#define READ_ONLY (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_READDIR)
#define WRITE_ONLY (__WASI_RIGHTS_FD_WRITE)
#define DIR_RIGHTS                                                                                 \
    (__WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_SYNC |            \
     __WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_PATH_CREATE_DIRECTORY |   \
     __WASI_RIGHTS_PATH_CREATE_FILE | __WASI_RIGHTS_PATH_LINK_SOURCE |                             \
     __WASI_RIGHTS_PATH_LINK_TARGET | __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_PATH_READLINK |      \
     __WASI_RIGHTS_PATH_RENAME_SOURCE | __WASI_RIGHTS_PATH_RENAME_TARGET |                         \
     __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE |                      \
     __WASI_RIGHTS_PATH_FILESTAT_SET_TIMES | __WASI_RIGHTS_PATH_SYMLINK |                          \
     __WASI_RIGHTS_PATH_REMOVE_DIRECTORY | __WASI_RIGHTS_PATH_UNLINK_FILE |                        \
     __WASI_RIGHTS_FD_FILESTAT_SET_TIMES)

static uint64_t now(void) {
    __wasi_timestamp_t t = 0;
    return __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t) == 0 ? t : 0;
}

/* ---- nodes ---------------------------------------------------------------------------------- */

static int64_t new_node(enum kind kind, uint32_t parent) {
    uint32_t id = 0;
    while (id < tree_room && tree[id].kind != FREE)
        id++;
    if (id == tree_room) {
        uint32_t room = tree_room ? tree_room * 2 : 32;
        struct node *grown = realloc(tree, room * sizeof *grown);
        if (grown == NULL)
            return -1;
        memset(grown + tree_room, 0, (room - tree_room) * sizeof *grown);
        tree = grown;
        tree_room = room;
    }
    uint64_t t = now();
    tree[id] = (struct node){
        .kind = kind, .parent = parent, .ino = next_ino++, .atim = t, .mtim = t, .ctim = t};
    return id;
}

/* Frees a node once no entry names it and no descriptor is open on it. */
static void release(uint32_t id) {
    struct node *n = &tree[id];
    if (n->nlink > 0 || n->opened > 0 || id <= DEV_NULL)
        return;
    used_bytes -= n->size;
    free(n->data);
    for (uint32_t i = 0; i < n->count; i++)
        free(n->entries[i].name);
    free(n->entries);
    memset(n, 0, sizeof *n);
}

static int64_t find(uint32_t dir, const char *name, size_t len) {
    const struct node *d = &tree[dir];
    for (uint32_t i = 0; i < d->count; i++)
        if (d->entries[i].len == len && memcmp(d->entries[i].name, name, len) == 0)
            return i;
    return -1;
}

static __wasi_errno_t add_entry(uint32_t dir, const char *name, size_t len, uint32_t node) {
    struct node *d = &tree[dir];
    if (d->count == d->room) {
        uint32_t room = d->room ? d->room * 2 : 8;
        struct entry *grown = realloc(d->entries, room * sizeof *grown);
        if (grown == NULL)
            return __WASI_ERRNO_NOSPC;
        d->entries = grown;
        d->room = room;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return __WASI_ERRNO_NOSPC;
    memcpy(copy, name, len);
    copy[len] = '\0';
    d->entries[d->count++] = (struct entry){copy, len, node};
    tree[node].nlink++;
    d->mtim = d->ctim = now();
    return __WASI_ERRNO_SUCCESS;
}

/* Removes entry `index` of `dir`; the node goes when nothing else holds it. */
static void remove_entry(uint32_t dir, uint32_t index) {
    struct node *d = &tree[dir];
    uint32_t node = d->entries[index].node;
    free(d->entries[index].name);
    memmove(&d->entries[index], &d->entries[index + 1],
            (d->count - index - 1) * sizeof *d->entries);
    d->count--;
    d->mtim = d->ctim = now();
    tree[node].nlink--;
    release(node);
}

/* Sets a file's size, zero-filling any growth; ENOSPC past the limit. */
static __wasi_errno_t resize(uint32_t id, uint64_t size) {
    struct node *n = &tree[id];
    if (size > n->size && size - n->size > limit_bytes - used_bytes)
        return __WASI_ERRNO_NOSPC;
    if (size > n->capacity) {
        uint64_t capacity = n->capacity ? n->capacity : 256;
        while (capacity < size)
            capacity *= 2;
        if (capacity > limit_bytes)
            capacity = size;
        if (capacity > SIZE_MAX)
            return __WASI_ERRNO_NOSPC;
        unsigned char *grown = realloc(n->data, (size_t)capacity);
        if (grown == NULL)
            return __WASI_ERRNO_NOSPC;
        n->data = grown;
        n->capacity = capacity;
    }
    if (size > n->size)
        memset(n->data + n->size, 0, (size_t)(size - n->size));
    used_bytes = used_bytes - n->size + size;
    n->size = size;
    n->mtim = n->ctim = now();
    return __WASI_ERRNO_SUCCESS;
}

/* ---- descriptors ---------------------------------------------------------------------------- */

static struct open_file *file_of(int32_t fd) {
    uint32_t u = (uint32_t)fd;
    if (u < OPEN_BASE || u - OPEN_BASE >= files_room || !files[u - OPEN_BASE].in_use)
        return NULL;
    return &files[u - OPEN_BASE];
}

/* The node behind a descriptor, or -1 when it is not open. */
static int64_t node_of(int32_t fd) {
    if ((uint32_t)fd == ROOT_FD)
        return mounted ? ROOT : -1;
    if ((uint32_t)fd == DEV_FD)
        return dev_mounted ? DEV : -1;
    struct open_file *f = file_of(fd);
    return f == NULL ? -1 : f->node;
}

static __wasi_errno_t open_fd(uint32_t node, int readable, int writable, int append,
                              int32_t *fd) {
    uint32_t slot = 0;
    while (slot < files_room && files[slot].in_use)
        slot++;
    if (slot == files_room) {
        uint32_t room = files_room ? files_room * 2 : 16;
        struct open_file *grown = realloc(files, room * sizeof *grown);
        if (grown == NULL)
            return __WASI_ERRNO_NFILE;
        memset(grown + files_room, 0, (room - files_room) * sizeof *grown);
        files = grown;
        files_room = room;
    }
    files[slot] = (struct open_file){.node = node,
                                     .in_use = 1,
                                     .readable = (uint8_t)readable,
                                     .writable = (uint8_t)writable,
                                     .append = (uint8_t)append};
    tree[node].opened++;
    *fd = (int32_t)(OPEN_BASE + slot);
    return __WASI_ERRNO_SUCCESS;
}

/* A regular file open for reading (`write` 0) or writing (`write` 1), or the error to give. */
static __wasi_errno_t usable(int32_t fd, int write, struct open_file **out) {
    struct open_file *f = file_of(fd);
    if (f == NULL)
        return node_of(fd) < 0 ? __WASI_ERRNO_BADF : __WASI_ERRNO_ISDIR;
    if (tree[f->node].kind == DIR_NODE)
        return __WASI_ERRNO_ISDIR;
    if (write ? !f->writable : !f->readable)
        return __WASI_ERRNO_BADF;
    *out = f;
    return __WASI_ERRNO_SUCCESS;
}

static size_t read_at(uint32_t id, uint64_t offset, const __wasi_iovec_t *iovs, size_t count) {
    const struct node *n = &tree[id];
    if (n->kind == NULL_NODE)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < count && offset < n->size; i++) {
        uint64_t left = n->size - offset;
        size_t chunk = iovs[i].buf_len < left ? iovs[i].buf_len : (size_t)left;
        memcpy(iovs[i].buf, n->data + offset, chunk);
        offset += chunk;
        total += chunk;
    }
    tree[id].atim = now();
    return total;
}

/* Writes what fits under the limit, as a nearly full disk does; ENOSPC only when nothing does. */
static __wasi_errno_t write_at(uint32_t id, uint64_t offset, const __wasi_ciovec_t *iovs,
                               size_t count, size_t *written) {
    uint64_t wanted = 0;
    for (size_t i = 0; i < count; i++)
        wanted += iovs[i].buf_len;
    struct node *n = &tree[id];
    if (n->kind == NULL_NODE) {
        *written = (size_t)wanted;
        return __WASI_ERRNO_SUCCESS;
    }
    uint64_t room = n->size + (limit_bytes - used_bytes);
    if (offset > room || (wanted > 0 && offset == room))
        return __WASI_ERRNO_NOSPC;
    if (wanted > room - offset)
        wanted = room - offset;
    if (offset + wanted > n->size) {
        __wasi_errno_t err = resize(id, offset + wanted);
        if (err != __WASI_ERRNO_SUCCESS)
            return err;
    }
    size_t done = 0;
    for (size_t i = 0; i < count && done < wanted; i++) {
        size_t chunk = iovs[i].buf_len < wanted - done ? iovs[i].buf_len : (size_t)(wanted - done);
        memcpy(tree[id].data + offset + done, iovs[i].buf, chunk);
        done += chunk;
    }
    tree[id].mtim = tree[id].ctim = now();
    *written = done;
    return __WASI_ERRNO_SUCCESS;
}

static __wasi_filetype_t filetype(uint32_t id) {
    switch (tree[id].kind) {
    case DIR_NODE:
        return __WASI_FILETYPE_DIRECTORY;
    case NULL_NODE:
        return __WASI_FILETYPE_CHARACTER_DEVICE;
    default:
        return __WASI_FILETYPE_REGULAR_FILE;
    }
}

static void fill_filestat(uint32_t id, __wasi_filestat_t *st) {
    const struct node *n = &tree[id];
    memset(st, 0, sizeof *st);
    st->dev = MEMFS_DEV;
    st->ino = n->ino;
    st->filetype = filetype(id);
    st->nlink = n->kind == DIR_NODE ? 1 : n->nlink;
    st->size = n->size;
    st->atim = n->atim;
    st->mtim = n->mtim;
    st->ctim = n->ctim;
}

static __wasi_errno_t set_times(uint32_t id, int64_t atim, int64_t mtim, int32_t flags) {
    if (((flags & __WASI_FSTFLAGS_ATIM) && (flags & __WASI_FSTFLAGS_ATIM_NOW)) ||
        ((flags & __WASI_FSTFLAGS_MTIM) && (flags & __WASI_FSTFLAGS_MTIM_NOW)))
        return __WASI_ERRNO_INVAL;
    uint64_t t = now();
    struct node *n = &tree[id];
    if (flags & __WASI_FSTFLAGS_ATIM)
        n->atim = (uint64_t)atim;
    if (flags & __WASI_FSTFLAGS_ATIM_NOW)
        n->atim = t;
    if (flags & __WASI_FSTFLAGS_MTIM)
        n->mtim = (uint64_t)mtim;
    if (flags & __WASI_FSTFLAGS_MTIM_NOW)
        n->mtim = t;
    n->ctim = t;
    return __WASI_ERRNO_SUCCESS;
}

/* ---- paths ---------------------------------------------------------------------------------- */

/* Where a path leads: the directory holding its last name and the entry there, if any. A path
 * that ends in "." or ".." (or is empty) names a directory itself and has no entry (`name` NULL).
 */
struct place {
    uint32_t dir;
    const char *name;
    size_t len;
    int64_t entry; /* index in `dir`, or -1 */
    uint32_t node; /* valid when `entry` >= 0 or `name` is NULL */
    int trailing_slash;
};

static __wasi_errno_t locate(int32_t fd, int32_t path_ptr, int32_t path_len, struct place *p) {
    int64_t start = node_of(fd);
    if (start < 0)
        return __WASI_ERRNO_BADF;
    if (tree[start].kind != DIR_NODE)
        return __WASI_ERRNO_NOTDIR;
    const char *path = (const char *)(uintptr_t)path_ptr;
    size_t len = (size_t)(uint32_t)path_len;
    *p = (struct place){.dir = (uint32_t)start, .node = (uint32_t)start, .entry = -1};
    p->trailing_slash = len > 0 && path[len - 1] == '/';
    uint32_t current = (uint32_t)start;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t begin = i;
        while (i < len && path[i] != '/')
            i++;
        size_t part = i - begin;
        if (part == 0)
            break;
        if (tree[current].kind != DIR_NODE)
            return __WASI_ERRNO_NOTDIR;
        size_t rest = i;
        while (rest < len && path[rest] == '/')
            rest++;
        int last = rest == len;
        const char *name = path + begin;
        if (part == 1 && name[0] == '.') {
            p->name = NULL, p->node = current;
            continue;
        }
        if (part == 2 && name[0] == '.' && name[1] == '.') {
            if (current == (uint32_t)start)
                return __WASI_ERRNO_NOTCAPABLE;
            current = tree[current].parent;
            p->name = NULL, p->node = current;
            continue;
        }
        int64_t index = find(current, name, part);
        if (last) {
            p->dir = current, p->name = name, p->len = part, p->entry = index;
            if (index >= 0)
                p->node = tree[current].entries[index].node;
            return __WASI_ERRNO_SUCCESS;
        }
        if (index < 0)
            return __WASI_ERRNO_NOENT;
        current = tree[current].entries[index].node;
    }
    if (tree[current].kind != DIR_NODE)
        return __WASI_ERRNO_NOTDIR;
    p->dir = current, p->name = NULL, p->node = current;
    return __WASI_ERRNO_SUCCESS;
}

static int exists(const struct place *p) { return p->name == NULL || p->entry >= 0; }

/* /dev is fixed: nothing is created, removed or renamed in it. */
static int fixed(const struct place *p) {
    return p->dir == DEV || (p->entry >= 0 && p->node <= DEV_NULL);
}

/* ---- mounting ------------------------------------------------------------------------------- */

/* The nodes every module has: /tmp's root, /dev and /dev/null. */
static int ensure_tree(void) {
    if (tree != NULL)
        return 0;
    if (new_node(DIR_NODE, ROOT) != ROOT || new_node(DIR_NODE, DEV) != DEV ||
        new_node(NULL_NODE, DEV) != DEV_NULL || add_entry(DEV, "null", 4, DEV_NULL) != 0)
        return -1;
    tree[ROOT].nlink = tree[DEV].nlink = 1;
    return 0;
}

int pywasm_memfs_mount(const char *path, uint64_t limit) {
    mounted = 0;
    if (limit == 0)
        return 0;
    /* A host directory preopened at exactly this path (`--dir host::/tmp`) takes precedence. */
    const char *prefix = NULL, *relative = NULL;
    const char *wanted = path;
    while (*wanted == '/')
        wanted++;
    if (__wasilibc_find_abspath(path, &prefix, &relative) >= 0 && strcmp(prefix, wanted) == 0)
        return 0;
    if (ensure_tree() != 0)
        return -1;
    limit_bytes = limit > used_bytes ? limit : used_bytes;
    mounted = 1;
    return __wasilibc_register_preopened_fd((int)ROOT_FD, path);
}

int pywasm_devfs_mount(void) {
    dev_mounted = 0;
    const char *prefix = NULL, *relative = NULL;
    if (__wasilibc_find_abspath("/dev", &prefix, &relative) >= 0 && strcmp(prefix, "dev") == 0)
        return 0;
    if (ensure_tree() != 0)
        return -1;
    dev_mounted = 1;
    return __wasilibc_register_preopened_fd((int)DEV_FD, "/dev");
}
