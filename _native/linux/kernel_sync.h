/* winipc kernel objects on Linux: the shared header and the wait primitives.
 *
 * Every object is a file (a name in /dev/shm, or a memfd) that starts with a
 * wipc_header.  Mutexes are robust, process-shared, recursive pthread mutexes
 * (a Win32 mutex is recursive and reports an abandoned owner); events and
 * semaphores are 32-bit words waited on with shared (non-private) futexes, so
 * any process that maps the file can wait on or wake them.
 *
 * Functions return 0 or an errno value; they never touch Python and run
 * without the GIL.
 */
#ifndef WINIPC_KERNEL_SYNC_H
#define WINIPC_KERNEL_SYNC_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#define WIPC_MAGIC 0x43504957u /* "WIPC" little-endian */
#define WIPC_VERSION 1u
#define WIPC_ABANDONED (-2)

enum { WIPC_MUTEX = 1, WIPC_EVENT = 2, WIPC_SEMAPHORE = 3, WIPC_MAPPING = 4 };

typedef struct {
    uint32_t state;     /* futex word: 0 not signalled, 1 signalled */
    uint32_t manual;    /* manual-reset (1) or auto-reset (0) */
} wipc_event;

typedef struct {
    uint32_t count;     /* futex word */
    uint32_t maximum;
} wipc_semaphore;

typedef union {
    pthread_mutex_t mutex;
    wipc_event event;
    wipc_semaphore semaphore;
} wipc_body;

typedef struct {
    uint32_t magic;
    uint32_t kind;
    uint32_t version;
    uint32_t data_offset;   /* mappings: where the user's bytes start (a page) */
    uint64_t size;          /* mappings: how many bytes the user asked for */
    uint8_t reserved[40];
    wipc_body u;            /* at offset 64 */
} wipc_header;

_Static_assert(offsetof(wipc_header, u) == 64, "wipc_header layout");

static inline long wipc_futex(uint32_t *addr, int op, uint32_t val,
                              const struct timespec *ts, uint32_t val3) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, val3);
}

/* Sleeps while *addr == val, until `deadline` (CLOCK_MONOTONIC, absolute;
 * NULL waits forever).  0 when woken or the value changed. */
static inline int wipc_futex_wait(uint32_t *addr, uint32_t val, const struct timespec *deadline) {
    if (wipc_futex(addr, FUTEX_WAIT_BITSET, val, deadline, FUTEX_BITSET_MATCH_ANY) == -1) {
        if (errno == EAGAIN) return 0;
        return errno;
    }
    return 0;
}

static inline int wipc_futex_wake(uint32_t *addr, int n) {
    if (wipc_futex(addr, FUTEX_WAKE, (uint32_t)n, NULL, 0) == -1) return errno;
    return 0;
}

/* `deadline` = now + ns on `clock`; ns < 0 is no deadline (returns NULL). */
static inline struct timespec *wipc_deadline(struct timespec *ts, clockid_t clock, long long ns) {
    if (ns < 0) return NULL;
    clock_gettime(clock, ts);
    ts->tv_sec += ns / 1000000000LL;
    ts->tv_nsec += ns % 1000000000LL;
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec += 1; ts->tv_nsec -= 1000000000L; }
    return ts;
}

static inline int wipc_passed(const struct timespec *deadline, clockid_t clock) {
    struct timespec now;
    if (!deadline) return 0;
    clock_gettime(clock, &now);
    return now.tv_sec > deadline->tv_sec
        || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* ---- mutex ---- */

static int wipc_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (r) return r;
    r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!r) r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!r) r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    if (!r) r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}

/* Locks until `deadline` (CLOCK_REALTIME, as pthread_mutex_timedlock wants;
 * NULL only tries).  0, ETIMEDOUT, WIPC_ABANDONED (locked: the previous owner
 * died holding it, and the mutex has been made consistent again) or an errno. */
static int wipc_mutex_lock(pthread_mutex_t *m, const struct timespec *deadline) {
    int r = deadline ? pthread_mutex_timedlock(m, deadline) : pthread_mutex_trylock(m);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        return WIPC_ABANDONED;
    }
    if (r == EBUSY) return ETIMEDOUT;
    return r;
}

static inline int wipc_mutex_unlock(pthread_mutex_t *m) {
    return pthread_mutex_unlock(m);
}

/* ---- event ---- */

/* 0 when signalled (an auto-reset event is then reset, by this waiter only),
 * ETIMEDOUT, EINTR (the caller checks signals and calls again) or an errno. */
static int wipc_event_wait(wipc_event *ev, const struct timespec *deadline) {
    for (;;) {
        uint32_t s = __atomic_load_n(&ev->state, __ATOMIC_ACQUIRE);
        if (s) {
            if (ev->manual) return 0;
            if (__atomic_compare_exchange_n(&ev->state, &s, 0, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return 0;
            continue;
        }
        if (wipc_passed(deadline, CLOCK_MONOTONIC)) return ETIMEDOUT;
        int r = wipc_futex_wait(&ev->state, 0, deadline);
        if (r) return r;
    }
}

static int wipc_event_set(wipc_event *ev) {
    __atomic_store_n(&ev->state, 1, __ATOMIC_RELEASE);
    /* An auto-reset event releases one waiter; a woken waiter that loses the
     * race to a newcomer sleeps again, so one wake is enough. */
    return wipc_futex_wake(&ev->state, ev->manual ? INT_MAX : 1);
}

static inline void wipc_event_reset(wipc_event *ev) {
    __atomic_store_n(&ev->state, 0, __ATOMIC_RELEASE);
}

/* ---- semaphore ---- */

static int wipc_semaphore_wait(wipc_semaphore *s, const struct timespec *deadline) {
    for (;;) {
        uint32_t c = __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
        while (c > 0) {
            if (__atomic_compare_exchange_n(&s->count, &c, c - 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return 0;
        }
        if (wipc_passed(deadline, CLOCK_MONOTONIC)) return ETIMEDOUT;
        int r = wipc_futex_wait(&s->count, 0, deadline);
        if (r) return r;
    }
}

/* Adds n; EOVERFLOW (nothing changed) if the count would pass the maximum. */
static int wipc_semaphore_release(wipc_semaphore *s, uint32_t n, uint32_t *previous) {
    uint32_t c = __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
    do {
        if ((uint64_t)c + n > s->maximum) return EOVERFLOW;
    } while (!__atomic_compare_exchange_n(&s->count, &c, c + n, 0,
                                          __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    *previous = c;
    return wipc_futex_wake(&s->count, n > INT_MAX ? INT_MAX : (int)n);
}

/* ---- waits for asyncio ----
 *
 * Events and semaphores are futex words in shared memory: no fd says when
 * they change, and FUTEX_FD is long gone.  The only fd-based futex wait is
 * io_uring's FUTEX_WAIT (Linux 6.7; and io_uring is often refused by
 * seccomp), so an asynchronous wait runs on a thread of its own that sleeps
 * in the kernel exactly as a blocking wait does, with nothing polled: it
 * waits with futex_waitv (Linux 5.16) on the object's word and on a private
 * cancel word, so that cancelling wakes it at once, and says it is done on
 * an eventfd that the event loop watches.  It takes the count or the
 * auto-reset signal on its waiter's behalf (neither belongs to a thread).
 * A mutex does belong to its thread, and glibc's robust mutex cannot be
 * waited for from outside glibc: that thread waits with
 * pthread_mutex_timedlock in slices of WIPC_CANCEL_SLICE_NS (how late a
 * cancel may be seen), gives the mutex back at once, and the waiter's own
 * thread then tries to take it. */

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WIPC_FUTEX2_U32 0x02
#define WIPC_FUTEX2_PRIVATE 128
#define WIPC_CANCEL_SLICE_NS 20000000LL

struct wipc_futex_waitv { uint64_t val; uint64_t uaddr; uint32_t flags; uint32_t reserved; };

/* Sleeps while *word == val and *cancel == 0. */
static int wipc_wait_or_cancel(uint32_t *word, uint32_t val, uint32_t *cancel) {
    struct wipc_futex_waitv w[2];
    struct timespec slice;
    w[0].val = val; w[0].uaddr = (uintptr_t)word; w[0].flags = WIPC_FUTEX2_U32; w[0].reserved = 0;
    w[1].val = 0; w[1].uaddr = (uintptr_t)cancel;
    w[1].flags = WIPC_FUTEX2_U32 | WIPC_FUTEX2_PRIVATE; w[1].reserved = 0;
    if (syscall(SYS_futex_waitv, w, 2, 0, NULL, 0) != -1) return 0;
    if (errno == EAGAIN || errno == EINTR) return 0;
    if (errno != ENOSYS) return errno;
    /* Before Linux 5.16: the object's futex alone, in slices for the cancel. */
    {
        int r = wipc_futex_wait(word, val, wipc_deadline(&slice, CLOCK_MONOTONIC,
                                                         WIPC_CANCEL_SLICE_NS));
        return r == ETIMEDOUT || r == EINTR ? 0 : r;
    }
}

typedef struct {
    wipc_header *hdr;       /* a mapping of its own: the object may close meanwhile */
    int kind;
    uint32_t cancel;        /* private futex word: 1 = give up */
    int efd;                /* eventfd written when the wait is over */
    int result;             /* 0 taken (mutex: was free), WIPC_ABANDONED, ECANCELED, errno */
} wipc_waiting;

/* The waiting thread's work: returns its result. */
static int wipc_wait_for(wipc_waiting *w) {
    if (w->kind == WIPC_MUTEX) {
        struct timespec part;
        for (;;) {
            int r;
            if (__atomic_load_n(&w->cancel, __ATOMIC_ACQUIRE)) return ECANCELED;
            r = wipc_mutex_lock(&w->hdr->u.mutex,
                                wipc_deadline(&part, CLOCK_REALTIME, WIPC_CANCEL_SLICE_NS));
            if (r == 0 || r == WIPC_ABANDONED) {
                pthread_mutex_unlock(&w->hdr->u.mutex);
                return r;
            }
            if (r != ETIMEDOUT) return r;
        }
    }
    for (;;) {
        uint32_t *word = w->kind == WIPC_EVENT ? &w->hdr->u.event.state
                                               : &w->hdr->u.semaphore.count;
        uint32_t v;
        int r;
        if (__atomic_load_n(&w->cancel, __ATOMIC_ACQUIRE)) return ECANCELED;
        v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (v) {
            if (w->kind == WIPC_EVENT && w->hdr->u.event.manual) return 0;
            if (__atomic_compare_exchange_n(word, &v, w->kind == WIPC_EVENT ? 0 : v - 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return 0;
            continue;
        }
        r = wipc_wait_or_cancel(word, 0, &w->cancel);
        if (r) return r;
    }
}

/* The waiting thread's body (it returns NULL). */
static void *wipc_wait_thread(void *arg) {
    wipc_waiting *w = (wipc_waiting *)arg;
    uint64_t one = 1;
    w->result = wipc_wait_for(w);
    /* After the result: the loop reads it once the eventfd says so. */
    if (write(w->efd, &one, sizeof(one)) < 0) { /* a full counter is still readable */ }
    return NULL;
}

static inline void wipc_wait_cancel(wipc_waiting *w) {
    __atomic_store_n(&w->cancel, 1, __ATOMIC_RELEASE);
    wipc_futex(&w->cancel, FUTEX_WAKE_PRIVATE, 1, NULL, 0);
}

#endif
