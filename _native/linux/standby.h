/*
 * The baton of a Linux server: who may touch its table of clients.
 *
 * The dispatch thread holds it, except while it runs a handler.  Then the
 * standby thread may take it, when a client says its allocation (or other
 * request that runs no handler) has waited too long, and answer such
 * requests until the handler returns and the dispatch thread asks for the
 * baton back.  The fast path costs a store before the handler and one
 * compare-and-swap after it; nobody sleeps or wakes unless the standby
 * thread took the baton.
 *
 *   0  the dispatch thread holds it
 *   1  put down: the dispatch thread runs a handler
 *   2  the standby thread holds it
 */
#ifndef WINIPC_STANDBY_H
#define WINIPC_STANDBY_H

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { WINIPC_BATON_DISPATCH = 0, WINIPC_BATON_DOWN = 1, WINIPC_BATON_STANDBY = 2 };

/* The dispatch thread, before a handler: what it wrote before is seen by a
 * standby thread that takes the baton. */
static inline void winipc_baton_put_down(uint32_t *b)
{
    __atomic_store_n(b, WINIPC_BATON_DOWN, __ATOMIC_RELEASE);
}

/* The dispatch thread, after a handler: 1 if it had the baton back at once;
 * 0 if the standby thread holds it (ask for it, then winipc_baton_wait). */
static inline int winipc_baton_pick_up(uint32_t *b)
{
    uint32_t down = WINIPC_BATON_DOWN;
    return __atomic_compare_exchange_n(b, &down, WINIPC_BATON_DISPATCH, 0,
                                       __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE);
}

/* The dispatch thread: sleep until the standby thread gives the baton back.
 * (FUTEX_WAIT returns at once if the word is no longer 2.) */
static inline void winipc_baton_wait(uint32_t *b)
{
    uint32_t v;
    while ((v = __atomic_load_n(b, __ATOMIC_ACQUIRE)) != WINIPC_BATON_DISPATCH)
        syscall(SYS_futex, b, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

/* The standby thread: 1 if it took the baton (a handler is running). */
static inline int winipc_baton_take(uint32_t *b)
{
    uint32_t down = WINIPC_BATON_DOWN;
    return __atomic_compare_exchange_n(b, &down, WINIPC_BATON_STANDBY, 0,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* The standby thread: give the baton back, waking the dispatch thread. */
static inline void winipc_baton_give_back(uint32_t *b)
{
    __atomic_store_n(b, WINIPC_BATON_DISPATCH, __ATOMIC_RELEASE);
    syscall(SYS_futex, b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* A one-shot flag another thread waits for. */
static inline void winipc_flag_raise(uint32_t *f)
{
    __atomic_store_n(f, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, f, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static inline void winipc_flag_wait(uint32_t *f)
{
    while (__atomic_load_n(f, __ATOMIC_ACQUIRE) == 0)
        syscall(SYS_futex, f, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

/* Start a thread with every signal blocked, so that signals keep going to
 * the threads Python knows (its handlers run on the main thread). */
static inline int winipc_start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

#endif
