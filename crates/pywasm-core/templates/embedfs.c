/*
 * A read-only file system embedded in the module: the calls of templates/wasi_fs.c for
 * descriptors of the embedded tree, so the module needs no preopened directory from the host.
 *
 * The image layout is bundle.rs's (crates/pywasm-core/src/module/bundle.rs): pywasm generates
 * pywasm_image_format.h from it, and the structs below are checked against that header when this
 * file compiles. Compressed files are inflated by templates/inflate.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>
#include <wasi/libc-find-relpath.h>
#include <wasi/libc.h>

#include "pywasm_fs.h"
#include "pywasm_image_format.h"

#define IMAGE_MAGIC PYWASM_IMAGE_MAGIC
#define NODE_FILE PYWASM_NODE_FILE
#define NODE_DIR PYWASM_NODE_DIR
/* A file whose bytes were dropped at build time because the pre-initialised snapshot holds what
 * they were read into (see pywasm_embedfs_drop): it reads as absent. */
#define NODE_DROPPED PYWASM_NODE_DROPPED
/* A file stored as raw DEFLATE (`stored_size` bytes for `size`), inflated when it is first read
 * through a descriptor (templates/inflate.c). */
#define NODE_DEFLATED PYWASM_NODE_DEFLATED

/* Descriptors of the embedded tree live far above anything a host hands out, so the host's own
 * preopens and open files keep their numbers. */
#define FD_BASE PYWASM_IMAGE_FD_BASE
#define FD_MOUNTS 256u
#define FD_OPEN_BASE (FD_BASE + FD_MOUNTS)
/* The image's root directory, mounted at "/" unless the host preopened "/" (or "."). */
#define ROOT_SLOT (FD_MOUNTS - 1u)

/* A fixed device number lets `os.path.samefile` and friends tell embedded files apart. */
#define IMAGE_DEV 0x7079776173ull

struct image_header {
    char magic[8];
    uint32_t node_count;
    uint32_t mount_count;
    uint32_t nodes_offset;
    uint32_t mounts_offset;
    uint32_t names_offset;
    uint32_t reserved;
    uint64_t data_offset;
    uint64_t mtime_ns;
};

struct image_node {
    uint32_t name_offset;
    uint32_t name_len;
    uint32_t parent;
    uint32_t kind;
    uint32_t first_child;
    uint32_t child_count;
    uint64_t data_offset;
    uint64_t size;
    uint64_t stored_size;
};

struct image_mount {
    uint32_t path_offset;
    uint32_t path_len;
    uint32_t node;
    uint32_t reserved;
};

/* Every field where bundle.rs writes it, and no struct longer than what it writes. */
#define CHECK_FIELD(type, field, offset, size)                                                     \
    _Static_assert(offsetof(struct type, field) == (offset) &&                                     \
                       sizeof(((struct type *)0)->field) == (size),                                \
                   "struct " #type ": " #field " is not where bundle.rs writes it");
#define CHECK_STRUCT(type, size)                                                                   \
    _Static_assert(sizeof(struct type) == (size), "struct " #type " is not bundle.rs's size");
PYWASM_IMAGE_FIELDS(CHECK_FIELD)
PYWASM_IMAGE_STRUCTS(CHECK_STRUCT)
#undef CHECK_FIELD
#undef CHECK_STRUCT

struct open_file {
    uint32_t node;
    uint32_t in_use;
    uint64_t offset;
    /* A compressed file's contents, inflated on the first read and freed on close. */
    unsigned char *inflated;
};

/* Not const: pywasm_embedfs_drop zeroes files and marks their nodes before the snapshot. */
#ifdef PYWASM_PREINIT
/* Read from the build when the snapshot is taken (templates/build_image.c); set from then on. */
static unsigned char *pywasm_image;
#else
extern unsigned char pywasm_image[];
#endif

static const struct image_header *header;
static struct image_node *nodes;
static const struct image_mount *mounts;
static const char *names;
static const unsigned char *data;

static int root_mounted;
static struct open_file *open_files;
static uint32_t open_capacity;

/* The rights libc asks for only when a file is opened for writing (cloudlibc's openat); it asks
 * for FD_SYNC on every open, so that one says nothing. */
#define WRITE_RIGHTS                                                                                \
    (__WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ALLOCATE |              \
     __WASI_RIGHTS_FD_FILESTAT_SET_SIZE)

#define READ_RIGHTS                                                                                 \
    (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL |                       \
     __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_READDIR |          \
     __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_PATH_READLINK |     \
     __WASI_RIGHTS_POLL_FD_READWRITE)

/* Returns the node behind an embedded descriptor, or -1 when the descriptor is not open. */
static int64_t node_of_fd(int32_t fd) {
    uint32_t ufd = (uint32_t)fd;
    if (header == NULL || ufd < FD_BASE)
        return -1;
    if (ufd < FD_OPEN_BASE) {
        uint32_t index = ufd - FD_BASE;
        if (index == ROOT_SLOT)
            return root_mounted ? 0 : -1;
        return index < header->mount_count ? (int64_t)mounts[index].node : -1;
    }
    uint32_t slot = ufd - FD_OPEN_BASE;
    if (slot >= open_capacity || !open_files[slot].in_use)
        return -1;
    return open_files[slot].node;
}

static struct open_file *open_file_of_fd(int32_t fd) {
    uint32_t ufd = (uint32_t)fd;
    if (ufd < FD_OPEN_BASE)
        return NULL;
    uint32_t slot = ufd - FD_OPEN_BASE;
    if (slot >= open_capacity || !open_files[slot].in_use)
        return NULL;
    return &open_files[slot];
}

static int compare_name(const struct image_node *node, const char *name, size_t len) {
    size_t common = node->name_len < len ? node->name_len : len;
    int c = memcmp(names + node->name_offset, name, common);
    if (c != 0)
        return c;
    return node->name_len < len ? -1 : (node->name_len > len ? 1 : 0);
}

/* Children of a directory are stored contiguously and sorted by name. */
static int64_t find_child(uint32_t dir, const char *name, size_t len) {
    const struct image_node *d = &nodes[dir];
    uint32_t lo = d->first_child, hi = d->first_child + d->child_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = compare_name(&nodes[mid], name, len);
        if (c == 0)
            return nodes[mid].kind == NODE_DROPPED ? -1 : (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Walks `path` from `start`. ".." may not climb above the mount the walk began in, as a host
 * refuses to leave a preopened directory. */
static __wasi_errno_t resolve(uint32_t start, const char *path, size_t len, uint32_t *out) {
    uint32_t current = start;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t begin = i;
        while (i < len && path[i] != '/')
            i++;
        size_t part = i - begin;
        if (part == 0 || (part == 1 && path[begin] == '.')) {
            if (nodes[current].kind != NODE_DIR)
                return __WASI_ERRNO_NOTDIR;
            continue;
        }
        if (nodes[current].kind != NODE_DIR)
            return __WASI_ERRNO_NOTDIR;
        if (part == 2 && path[begin] == '.' && path[begin + 1] == '.') {
            if (current == start)
                return __WASI_ERRNO_NOTCAPABLE;
            current = nodes[current].parent;
            continue;
        }
        int64_t child = find_child(current, path + begin, part);
        if (child < 0)
            return __WASI_ERRNO_NOENT;
        current = (uint32_t)child;
    }
    *out = current;
    return __WASI_ERRNO_SUCCESS;
}

static __wasi_filetype_t filetype_of(uint32_t node) {
    return nodes[node].kind == NODE_DIR ? __WASI_FILETYPE_DIRECTORY
                                        : __WASI_FILETYPE_REGULAR_FILE;
}

static void fill_filestat(uint32_t node, __wasi_filestat_t *st) {
    memset(st, 0, sizeof *st);
    st->dev = IMAGE_DEV;
    st->ino = (uint64_t)node + 1;
    st->filetype = filetype_of(node);
    st->nlink = 1;
    st->size = nodes[node].kind == NODE_DIR ? 0 : nodes[node].size;
    st->atim = header->mtime_ns;
    st->mtim = header->mtime_ns;
    st->ctim = header->mtime_ns;
}

static int32_t allocate_fd(uint32_t node, int32_t *fd) {
    uint32_t slot = 0;
    while (slot < open_capacity && open_files[slot].in_use)
        slot++;
    if (slot == open_capacity) {
        uint32_t capacity = open_capacity ? open_capacity * 2 : 16;
        struct open_file *grown = realloc(open_files, capacity * sizeof *grown);
        if (grown == NULL)
            return __WASI_ERRNO_NFILE;
        memset(grown + open_capacity, 0, (capacity - open_capacity) * sizeof *grown);
        open_files = grown;
        open_capacity = capacity;
    }
    open_files[slot] = (struct open_file){.node = node, .in_use = 1, .offset = 0};
    *fd = (int32_t)(FD_OPEN_BASE + slot);
    return __WASI_ERRNO_SUCCESS;
}

/* The contents of the open file `f`: in the image, or inflated into a buffer of its own. */
static __wasi_errno_t contents_of(struct open_file *f, const unsigned char **out) {
    const struct image_node *n = &nodes[f->node];
    if (n->kind != NODE_DEFLATED) {
        *out = data + n->data_offset;
        return __WASI_ERRNO_SUCCESS;
    }
    if (f->inflated == NULL) {
        unsigned char *buffer = malloc(n->size > 0 ? (size_t)n->size : 1);
        if (buffer == NULL)
            return __WASI_ERRNO_NOMEM;
        if (pywasm_inflate(data + n->data_offset, (size_t)n->stored_size, buffer,
                           (size_t)n->size) != 0) {
            free(buffer);
            return __WASI_ERRNO_IO;
        }
        f->inflated = buffer;
    }
    *out = f->inflated;
    return __WASI_ERRNO_SUCCESS;
}

static __wasi_errno_t copy_out(struct open_file *f, uint64_t offset, const __wasi_iovec_t *iovs,
                               size_t count, size_t *copied) {
    const struct image_node *n = &nodes[f->node];
    const unsigned char *contents;
    *copied = 0;
    if (offset >= n->size)
        return __WASI_ERRNO_SUCCESS;
    __wasi_errno_t err = contents_of(f, &contents);
    if (err != __WASI_ERRNO_SUCCESS)
        return err;
    for (size_t i = 0; i < count && offset < n->size; i++) {
        uint64_t left = n->size - offset;
        size_t chunk = iovs[i].buf_len < left ? iovs[i].buf_len : (size_t)left;
        memcpy(iovs[i].buf, contents + offset, chunk);
        offset += chunk;
        *copied += chunk;
    }
    return __WASI_ERRNO_SUCCESS;
}

int pywasm_embedfs_mount(void) {
#ifdef PYWASM_PREINIT
    if (pywasm_image == NULL && (pywasm_image = pywasm_build_image()) == NULL)
        return -1;
#endif
    const struct image_header *h = (const struct image_header *)pywasm_image;
    if (memcmp(h->magic, IMAGE_MAGIC, 8) != 0)
        return -1;
    nodes = (struct image_node *)(pywasm_image + h->nodes_offset);
    mounts = (const struct image_mount *)(pywasm_image + h->mounts_offset);
    names = (const char *)(pywasm_image + h->names_offset);
    data = pywasm_image + h->data_offset;
    header = h;
    if (h->mount_count >= ROOT_SLOT)
        return -1;
    for (uint32_t i = 0; i < h->mount_count; i++) {
        if (__wasilibc_register_preopened_fd((int)(FD_BASE + i), names + mounts[i].path_offset) != 0)
            return -1;
    }
    /* Without a directory at "/", `os.chdir(os.getcwd())` fails (the working directory is "/")
     * and writing to "/x" says ENOENT instead of EROFS. A host's own "/" comes first: the image
     * root would shadow it, as the later of two equal preopens wins in wasi-libc. */
    const char *prefix = NULL, *relative = NULL;
    root_mounted = !(__wasilibc_find_abspath("/", &prefix, &relative) >= 0 && prefix[0] == '\0');
    if (root_mounted && __wasilibc_register_preopened_fd((int)(FD_BASE + ROOT_SLOT), "/") != 0)
        return -1;
    return 0;
}

int pywasm_embedfs_drop(const char *path) {
    uint32_t node;
    if (header == NULL || path[0] != '/' ||
        resolve(0, path, strlen(path), &node) != __WASI_ERRNO_SUCCESS ||
        (nodes[node].kind != NODE_FILE && nodes[node].kind != NODE_DEFLATED))
        return -1;
    for (uint32_t slot = 0; slot < open_capacity; slot++) {
        if (open_files[slot].in_use && open_files[slot].node == node)
            return -1;
    }
    memset(pywasm_image + header->data_offset + nodes[node].data_offset, 0,
           nodes[node].stored_size);
    nodes[node].kind = NODE_DROPPED;
    return 0;
}
