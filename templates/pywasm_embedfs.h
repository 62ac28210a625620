/* The embedded read-only file system (templates/embedfs.c). */
#ifndef PYWASM_EMBEDFS_H
#define PYWASM_EMBEDFS_H

/* Registers every mount point of the embedded image with wasi-libc's preopen table. Call it
 * before anything opens a file; returns 0 on success. */
int pywasm_embedfs_mount(void);

#endif
