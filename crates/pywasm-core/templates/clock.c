/*
 * Sleeping that works on every WASI host.
 *
 * wasi-libc turns `clock_nanosleep(..., TIMER_ABSTIME, ...)`, which CPython's `time.sleep` uses,
 * into a `poll_oneoff` clock subscription with the absolute-time flag. Not every host honours
 * that flag: node's WASI treats the deadline as a relative timeout and sleeps for decades. This
 * definition of the libc-to-host function (the same mechanism as embedfs.c) rewrites each
 * absolute clock subscription into a relative one against the same clock, read just before the
 * host is asked, and passes everything else through unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

int32_t host_poll_oneoff(int32_t, int32_t, int32_t, int32_t)
    __attribute__((import_module("wasi_snapshot_preview1"), import_name("poll_oneoff")));
int32_t host_clock_time_get(int32_t, int64_t, int32_t)
    __attribute__((import_module("wasi_snapshot_preview1"), import_name("clock_time_get")));

/* select() and poll() with a handful of descriptors fit here; more take the heap. */
#define ON_STACK 8

static int has_absolute_clock(const __wasi_subscription_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (in[i].u.tag == __WASI_EVENTTYPE_CLOCK &&
            (in[i].u.u.clock.flags & __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME))
            return 1;
    }
    return 0;
}

int32_t __imported_wasi_snapshot_preview1_poll_oneoff(int32_t in, int32_t out, int32_t count,
                                                      int32_t nevents) {
    const __wasi_subscription_t *subs = (const __wasi_subscription_t *)(uintptr_t)in;
    size_t n = (size_t)(uint32_t)count;
    if (!has_absolute_clock(subs, n))
        return host_poll_oneoff(in, out, count, nevents);

    __wasi_subscription_t local[ON_STACK];
    __wasi_subscription_t *copy = n <= ON_STACK ? local : malloc(n * sizeof *copy);
    if (copy == NULL)
        return __WASI_ERRNO_NOMEM;
    memcpy(copy, subs, n * sizeof *copy);
    for (size_t i = 0; i < n; i++) {
        __wasi_subscription_clock_t *clock = &copy[i].u.u.clock;
        if (copy[i].u.tag != __WASI_EVENTTYPE_CLOCK ||
            !(clock->flags & __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME))
            continue;
        __wasi_timestamp_t now = 0;
        int32_t err = host_clock_time_get((int32_t)clock->id, (int64_t)clock->precision,
                                          (int32_t)(uintptr_t)&now);
        if (err != __WASI_ERRNO_SUCCESS) {
            if (copy != local)
                free(copy);
            return err;
        }
        clock->timeout = clock->timeout > now ? clock->timeout - now : 0;
        clock->flags &= (__wasi_subclockflags_t)~__WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
    }
    int32_t result = host_poll_oneoff((int32_t)(uintptr_t)copy, out, count, nevents);
    if (copy != local)
        free(copy);
    return result;
}
