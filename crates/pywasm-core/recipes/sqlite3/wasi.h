/*
 * Force-included into sqlite3.c for WASI. wasi-libc has no POSIX advisory locks, fchmod, fchown
 * or geteuid. A WASI instance is a single process without threads, and its host gives it no
 * other process to share a database file with through the same instance, so locks are granted
 * at once; SQLite's journal still makes each transaction atomic.
 */
#ifndef PYWASM_SQLITE_WASI_H
#define PYWASM_SQLITE_WASI_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* wasi-libc declares `struct flock` but not the constants that go with it. */
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif
#ifndef F_GETLK
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif

static int pywasm_sqlite_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (cmd == F_GETLK) {
        ((struct flock *)arg)->l_type = F_UNLCK;
        return 0;
    }
    if (cmd == F_SETLK || cmd == F_SETLKW)
        return 0;
    return fcntl(fd, cmd, (int)(intptr_t)arg);
}

static int pywasm_sqlite_fchmod(int fd, mode_t mode) {
    (void)fd;
    (void)mode;
    return 0;
}

static int pywasm_sqlite_fchown(int fd, uid_t owner, gid_t group) {
    (void)fd;
    (void)owner;
    (void)group;
    return 0;
}

static uid_t pywasm_sqlite_geteuid(void) { return 0; }

#define fcntl pywasm_sqlite_fcntl
#define fchmod pywasm_sqlite_fchmod
#define fchown pywasm_sqlite_fchown
#define geteuid pywasm_sqlite_geteuid

#endif
