/* The doorbell: one request slot per connection in memory that the client and
 * the server both map, so that a round trip needs no kernel wake-up while
 * both sides are awake.
 *
 * Protocol (the same on every platform; "wake" is the platform's kernel
 * wake-up: on Linux a byte in the connection's ring, a pipe, for the server,
 * and a packet on the endpoint for the client; an Event on Windows):
 *
 *   client posts:   write msg, wparam, lparam, posted_ns (the time);
 *                   store-release req = seq;
 *                   full fence; if exchange(server_asleep, 0) == 1: wake server
 *   server serves:  seq = load-acquire req; if seq != the last it served and
 *                   has neither flag: compare-exchange req from seq to
 *                   seq | WINIPC_TAKEN (else the client withdrew it: skip);
 *                   read msg, wparam, lparam ONCE into locals and check them
 *                   exactly as a message's (the client may change them at any
 *                   time); run the handler; write error, result,
 *                   answered_ns (the time);
 *                   store-release rep = seq; full fence;
 *                   if exchange(client_asleep, 0) == 1: wake client
 *   a side sleeps:  store its *_asleep = 1; full fence; look again; sleep in
 *                   the kernel only if there is still nothing to do.
 *
 * Waiting (winipc_wait_step, winipc_cold_budget): each side publishes the
 * CPU it runs on in its own line (client_cpu, server_cpu).  A waiter spins
 * only while its peer runs on another CPU, and yields at once to a peer on
 * its own.  A call that had to wake the server (it slept) yields at every
 * step until the server has taken the request (WINIPC_TAKEN), for a budget
 * learnt from the recent wake-ups: a client that still spins when the answer
 * comes spares the answer its own kernel wake-up.  A yield that lost the CPU
 * to another process (winipc_client_wait_step, winipc_server_wait_step: it
 * came back late, and the other side's stamp says its request or answer
 * waited through it) makes that side's waits sleep instead for a while.
 *
 * Small requests ride in the page (a server that offers it says so in
 * `features`): the client copies the struct's bytes to the page's data area
 * (WINIPC_BELL_DATA, at most WINIPC_BELL_DATA_MAX bytes) and posts with
 * WINIPC_FLAG_INLINE in `flags`; the server, once it took the request and
 * checked [lparam, lparam + wparam) as for any request, copies wparam bytes
 * from there into that buffer, runs the handler, and copies the buffer back
 * before it answers.  Two memcpys instead of two cross-process copies.  A
 * request the client gave up after the server took it still copies back
 * later: the client posts no inline request until that one is answered.
 * A failed handler's reason (winipc!-tagged text, as the buffer gets it)
 * goes to WINIPC_BELL_NOTE as well, whole, whatever the struct's size.
 *
 *   client gives up (timed out, interrupted): compare-exchange req from seq
 *                   to seq | WINIPC_WITHDRAWN: done, the request never runs;
 *                   else the server took it (it runs, or ran).
 *
 * The compare-exchange on req decides each request exactly once, between
 * running and withdrawn, so a call that gave up can say which it was.
 * The exchange makes every wake-up happen exactly once per sleep: whoever
 * swaps the flag from 1 to 0 owes (server) or is owed (client) one wake.
 * The fences make the store of one side and the load of the other
 * sequentially consistent, so a request or reply is never missed while its
 * reader goes to sleep (the futex(2) man page's "wake only when the other
 * side says it sleeps").
 *
 * Everything in this page is hostile input to the side that reads it: a
 * client can only harm its own calls by writing nonsense here.
 */
#ifndef WINIPC_DOORBELL_H
#define WINIPC_DOORBELL_H

#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE      /* sched_getcpu; before any header */
#endif

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <sched.h>
#endif

#define WINIPC_BELL_SIZE 4096   /* one page, mapped whole by both sides */
/* How long (µs) a waiting side spins before it sleeps in the kernel, unless
 * told otherwise (the README's "The doorbell" has the measurement behind it). */
#define WINIPC_DEFAULT_SPIN_US 50
/* The longest spin either side may be given (µs): longer is a busy wait. */
#define WINIPC_MAX_SPIN_US 1000000
/* A server's steady mode, unless told otherwise, spans gaps of up to this
 * many times its spin (winipc_steady_spin). */
#define WINIPC_STEADY_PER_SPIN 4
/* req's flags: the request was taken (it runs) or withdrawn (it never runs);
 * sequence numbers use the bits below them, and are never 0. */
#define WINIPC_TAKEN     0x80000000u
#define WINIPC_WITHDRAWN 0x40000000u
#define WINIPC_SEQ_MASK  0x3FFFFFFFu
/* flags (client): the request's bytes are in the page's data area */
#define WINIPC_FLAG_INLINE 1u
/* features (server): what the server does beyond the base protocol */
#define WINIPC_FEATURE_INLINE 1u
/* The page's areas past the two cache lines (up to 1024: the platform's own,
 * e.g. the Windows server's grant at 128): a failed handler's reason, and
 * the inline data. */
#define WINIPC_BELL_NOTE 768
#define WINIPC_BELL_NOTE_MAX 256
#define WINIPC_BELL_DATA 1024
#define WINIPC_BELL_DATA_MAX (WINIPC_BELL_SIZE - WINIPC_BELL_DATA)

typedef struct winipc_bell {
    /* the client's cache line: written by the client, read by the server */
    volatile uint32_t req;            /* sequence number of the posted request, with
                                         WINIPC_TAKEN or WINIPC_WITHDRAWN once decided */
    volatile uint32_t client_asleep;  /* 1: the client sleeps; the server wakes it */
    volatile uint32_t msg;
    volatile uint32_t flags;          /* WINIPC_FLAG_*, if the server offers them */
    volatile uint64_t wparam;
    volatile uint64_t lparam;
    volatile uint32_t client_cpu;     /* the CPU the client waits on, + 1; 0: unknown */
    uint32_t pad_cpu;
    volatile int64_t posted_ns;       /* when the client posted req (winipc_now_ns): only
                                         ever makes the server's yields stop */
    uint8_t pad0[64 - 48];
    /* the server's cache line: written by the server, read by the client */
    volatile uint32_t rep;            /* sequence number of the last answer */
    volatile uint32_t server_asleep;  /* 1: the server sleeps; the client wakes it */
    volatile uint32_t error;          /* a Win32 code, 0 when `result` holds the answer */
    volatile uint32_t server_cpu;     /* the CPU the server serves on, + 1; 0: unknown */
    volatile int64_t result;
    volatile uint32_t features;       /* WINIPC_FEATURE_*: set once, before the page is given */
    uint32_t pad_features;
    volatile int64_t answered_ns;     /* when the server answered rep (winipc_now_ns): only
                                         ever makes the client's yields stop */
    uint8_t pad2[64 - 40];
} winipc_bell;

/* GCC and Clang (MinGW-w64 included) builtins; MSVC's Interlocked functions
 * are full barriers, which is what the protocol needs. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define winipc_load_acquire(p)      (*(volatile uint32_t *)(p))
#define winipc_store_release(p, v)  (_ReadWriteBarrier(), *(volatile uint32_t *)(p) = (v))
#define winipc_exchange(p, v)       ((uint32_t)_InterlockedExchange((volatile long *)(p), (long)(v)))
#define winipc_cas(p, old, new)     (((uint32_t)_InterlockedCompareExchange((volatile long *)(p), \
                                      (long)(new), (long)(old))) == (uint32_t)(old))
#define winipc_fence()              MemoryBarrier()
#define winipc_pause()              YieldProcessor()
#else
#define winipc_load_acquire(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define winipc_store_release(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define winipc_exchange(p, v)       __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
static inline int winipc_cas(volatile uint32_t *p, uint32_t old, uint32_t new_)
{
    return __atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
#define winipc_fence()              __atomic_thread_fence(__ATOMIC_SEQ_CST)
#if defined(__x86_64__) || defined(__i386__)
#define winipc_pause()              __builtin_ia32_pause()
#elif defined(__aarch64__)
#define winipc_pause()              __asm__ __volatile__("yield")
#else
#define winipc_pause()              ((void)0)
#endif
#endif

/* The CPU this thread runs on now, + 1 (0: unknown): what each side
 * publishes in its cache line of the page while it waits. */
static inline uint32_t winipc_cpu(void)
{
#ifdef _WIN32
    PROCESSOR_NUMBER n;
    GetCurrentProcessorNumberEx(&n);
    return (uint32_t)n.Group * 64 + n.Number + 1;
#else
    int cpu = sched_getcpu();     /* the vDSO: no kernel entry */
    return cpu < 0 ? 0 : (uint32_t)cpu + 1;
#endif
}

/* One step of a spinning wait for a peer last seen on `peer_cpu` (from the
 * page: hostile, only compared) by a thread on `mine`.  Spinning pays only
 * while the peer runs on another CPU (Linux's mutex owner-spinning): on the
 * same CPU it cannot answer until we give the CPU up, so we yield it at
 * once.  Otherwise a pause, never a yield: a yield on a busy CPU hands it
 * to another process for a whole time slice.  A spinner that gets nothing
 * within its budget sleeps in the kernel instead. */
static inline void winipc_wait_step(uint32_t mine, uint32_t peer_cpu)
{
    if (peer_cpu != 0 && peer_cpu == mine) {
#ifdef _WIN32
        SwitchToThread();
#else
        sched_yield();
#endif
    } else {
        winipc_pause();
    }
}

/* A monotonic clock in nanoseconds, for spin budgets and the stamp of a
 * request's post (one clock for every process of the machine). */
static inline int64_t winipc_now_ns(void)
{
#ifdef _WIN32
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (int64_t)(t.QuadPart / freq.QuadPart) * 1000000000
           + (int64_t)(t.QuadPart % freq.QuadPart) * 1000000000 / freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
}

/* The protocol's steps, for both backends (and C peers).  Fields are read
 * with the volatile accesses above; the order is what the comment at the top
 * of this file says. */

/* client: post request `seq` at time `now` (winipc_now_ns, read by a caller
 * that wants it too); 1 when the server sleeps and must be woken */
static inline int winipc_bell_post_at(winipc_bell *b, uint32_t seq, uint32_t msg,
                                      uint32_t flags, uint64_t wparam, uint64_t lparam,
                                      int64_t now)
{
    b->msg = msg;
    b->flags = flags;
    b->wparam = wparam;
    b->lparam = lparam;
    b->client_cpu = winipc_cpu();
    b->posted_ns = now;
    winipc_store_release(&b->req, seq);
    winipc_fence();
    return winipc_exchange(&b->server_asleep, 0) == 1;
}

/* client: post request `seq` now */
static inline int winipc_bell_post_flags(winipc_bell *b, uint32_t seq, uint32_t msg,
                                         uint32_t flags, uint64_t wparam, uint64_t lparam)
{
    return winipc_bell_post_at(b, seq, msg, flags, wparam, lparam, winipc_now_ns());
}

static inline int winipc_bell_post(winipc_bell *b, uint32_t seq, uint32_t msg,
                                   uint64_t wparam, uint64_t lparam)
{
    return winipc_bell_post_flags(b, seq, msg, 0, wparam, lparam);
}

/* either side: the page's inline data area, and the failure note's */
static inline char *winipc_bell_data(winipc_bell *b)
{
    return (char *)b + WINIPC_BELL_DATA;
}

static inline char *winipc_bell_note(winipc_bell *b)
{
    return (char *)b + WINIPC_BELL_NOTE;
}

/* client: does the server copy inline requests? (set before the page was
 * given, so read once) */
static inline int winipc_bell_offers_inline(winipc_bell *b)
{
    return (b->features & WINIPC_FEATURE_INLINE) != 0;
}

/* client: the sequence number after `last` */
static inline uint32_t winipc_bell_next_seq(uint32_t last)
{
    uint32_t seq = (last + 1) & WINIPC_SEQ_MASK;
    return seq ? seq : 1;
}

/* client, giving up request `seq`: 1 when it is withdrawn (it never runs),
 * 0 when the server took it (it runs, or ran) */
static inline int winipc_bell_withdraw(winipc_bell *b, uint32_t seq)
{
    return winipc_cas(&b->req, seq, seq | WINIPC_WITHDRAWN);
}

/* client: has request `seq` been answered? */
static inline int winipc_bell_answered(winipc_bell *b, uint32_t seq)
{
    return winipc_load_acquire(&b->rep) == seq;
}

/* client, about to sleep: say so (then look at the reply once more) */
static inline void winipc_bell_client_sleeps(winipc_bell *b)
{
    winipc_store_release(&b->client_asleep, 1);
    winipc_fence();
}

/* client, awake again without having been woken: 1 when no wake-up is on
 * its way (the flag was still ours), 0 when the server took the flag and a
 * wake-up is coming, which must then be consumed */
static inline int winipc_bell_client_wakes(winipc_bell *b)
{
    return winipc_exchange(&b->client_asleep, 0) == 1;
}

/* either side: where the other side was last seen running (+ 1; 0 unknown) */
static inline uint32_t winipc_bell_server_cpu(winipc_bell *b)
{
    return b->server_cpu;
}

static inline uint32_t winipc_bell_client_cpu(winipc_bell *b)
{
    return b->client_cpu;
}

/* client, while it waits: where it runs now */
static inline void winipc_bell_client_at(winipc_bell *b, uint32_t cpu)
{
    if (b->client_cpu != cpu)
        b->client_cpu = cpu;
}

/* server, while it serves or spins: where it runs now */
static inline void winipc_bell_server_at(winipc_bell *b, uint32_t cpu)
{
    if (b->server_cpu != cpu)
        b->server_cpu = cpu;
}

/* server: the request sequence number posted last */
static inline uint32_t winipc_bell_pending(winipc_bell *b)
{
    return winipc_load_acquire(&b->req);
}

/* server: the request's words, each read once */
static inline void winipc_bell_request(winipc_bell *b, uint32_t *msg, uint64_t *wparam,
                                       uint64_t *lparam)
{
    *msg = b->msg;
    *wparam = b->wparam;
    *lparam = b->lparam;
}

/* server: the request's flags, read once */
static inline uint32_t winipc_bell_flags(winipc_bell *b)
{
    return b->flags;
}

/* server: answer request `seq`; 1 when the client sleeps and must be woken */
static inline int winipc_bell_answer(winipc_bell *b, uint32_t seq, uint32_t error,
                                     int64_t result)
{
    b->error = error;
    b->result = result;
    b->answered_ns = winipc_now_ns();
    winipc_store_release(&b->rep, seq);
    winipc_fence();
    return winipc_exchange(&b->client_asleep, 0) == 1;
}

/* server: a request to take, from what pending() read (`raw`), and the last
 * one it served: 1 when `raw` is a request neither taken nor withdrawn */
static inline int winipc_bell_untaken(uint32_t raw, uint32_t served)
{
    return raw != served && !(raw & (WINIPC_TAKEN | WINIPC_WITHDRAWN));
}

/* server: take request `seq` (it then runs); 0 when the client withdrew it
 * (or wrote something else meanwhile) */
static inline int winipc_bell_take(winipc_bell *b, uint32_t seq)
{
    return winipc_cas(&b->req, seq, seq | WINIPC_TAKEN);
}

/* client: has the server taken request `seq` (or answered it)? */
static inline int winipc_bell_taken(winipc_bell *b, uint32_t seq)
{
    return winipc_load_acquire(&b->req) == (seq | WINIPC_TAKEN)
           || winipc_load_acquire(&b->rep) == seq;
}

/* The cold wait's budget: twice the recent wake-ups' average, at least the
 * connection's spin, at most WINIPC_COLD_SPIN_MAX_NS; no spin, no wait. */
#define WINIPC_COLD_SPIN_MAX_NS 500000
static inline int64_t winipc_cold_budget(int64_t spin_ns, int64_t wake_avg_ns)
{
    int64_t budget = 2 * wake_avg_ns;
    if (spin_ns <= 0)
        return 0;
    if (budget < spin_ns)
        budget = spin_ns;
    return budget < WINIPC_COLD_SPIN_MAX_NS ? budget : WINIPC_COLD_SPIN_MAX_NS;
}

/* Learn one wake-up (an average over about the last eight) */
static inline void winipc_cold_learn(int64_t *wake_avg_ns, int64_t took_ns)
{
    if (took_ns > WINIPC_COLD_SPIN_MAX_NS)
        took_ns = WINIPC_COLD_SPIN_MAX_NS;
    *wake_avg_ns = *wake_avg_ns ? *wake_avg_ns + (took_ns - *wake_avg_ns) / 8 : took_ns;
}

/* The server's spin after a request, in steady mode.  It keeps the recent
 * longest gap between requests (`recent`): a gap of at most `steady_ns`
 * raises it at once, it shrinks by 1/32 per request, and a longer gap (a
 * pause) clears it.  The server spins until twice that has passed, at most
 * `steady_ns`, at least `spin_ns`: while requests come at a steady rate, or
 * in bursts whose pauses are as long each time (asyncio's between batches
 * of tasks), the next one finds it awake, and once they stop it sleeps.  A
 * maximum, not an average: seven short gaps and one long one per burst
 * average well below the long one, which then always finds it asleep.
 * `steady_ns` <= 0: `spin_ns`.  `recent` and `last` are the server's own.
 * Any one unit of time does (Windows: QueryPerformanceCounter ticks). */
static inline int64_t winipc_steady_spin(int64_t now, int64_t *last, int64_t *recent,
                                         int64_t spin_ns, int64_t steady_ns)
{
    int64_t gap = now - *last, want;
    *last = now;
    if (steady_ns <= 0)
        return spin_ns;
    if (gap < 0 || gap > steady_ns) {
        *recent = 0;
        return spin_ns;
    }
    *recent -= *recent / 32;
    if (gap > *recent)
        *recent = gap;
    want = 2 * *recent;
    if (want > steady_ns)
        want = steady_ns;
    return want > spin_ns ? want : spin_ns;
}

/* server, about to sleep / awake again */
static inline void winipc_bell_server_sleeps(winipc_bell *b)
{
    winipc_store_release(&b->server_asleep, 1);
}

static inline void winipc_bell_server_wakes(winipc_bell *b)
{
    winipc_store_release(&b->server_asleep, 0);
}

/* client: whether request `seq` is answered, and was at or before `before`
 * (winipc_now_ns).  The stamp is read after the answer's acquire, so it is
 * that answer's; it is the server's word: a lie only makes this client's
 * yields stop for a while (winipc_client_wait_step). */
static inline int winipc_bell_answered_by(winipc_bell *b, uint32_t seq, int64_t before)
{
    int64_t answered;
    if (!winipc_bell_answered(b, seq))
        return 0;
    answered = b->answered_ns;
    return answered > 0 && answered <= before;
}

/* How long a yield must take to have lost the CPU to another process, and
 * how long a side's waits then sleep instead of yielding. */
#define WINIPC_YIELD_LOST_NS 200000
#define WINIPC_YIELD_MUTE_NS 100000000

/* A yield came back at `back` with the other side's request or answer
 * waiting through it, by that side's stamp (winipc_client_wait_step,
 * winipc_server_wait_step).  The second such within WINIPC_YIELD_AGAIN_NS
 * (one alone may be any passing thread's) makes this side's waits beside
 * the other sleep instead of yielding until *muted_until,
 * WINIPC_YIELD_MUTE_NS on: then each side's wake-up, which preempts a CPU
 * hog where a yield does not, hands the CPU over.  (*last_lost: the
 * caller's, 0 at first.) */
#define WINIPC_YIELD_AGAIN_NS 50000000
static inline int winipc_lost_yield(int64_t back, int64_t *last_lost, int64_t *muted_until)
{
    int again = *last_lost != 0 && back - *last_lost <= WINIPC_YIELD_AGAIN_NS;
    if (again)
        *muted_until = back + WINIPC_YIELD_MUTE_NS;
    *last_lost = back;
    return again;
}

/* One step of a client's wait: winipc_wait_step toward `toward` (the CPU of
 * page `b`'s server, or ours while a cold server wakes), timed when it
 * yields: 0 when the waiter should sleep in the kernel instead.  A yield
 * hands the CPU to any runnable thread there, for its whole time slice:
 * beside a CPU hog, a yield that came back only after WINIPC_YIELD_LOST_NS
 * lost the CPU for milliseconds, where a sleeper that is woken gets it back
 * at once.  When the server does not run on our CPU now, the client's waits
 * then yield no more for WINIPC_YIELD_MUTE_NS (in *muted_until, the
 * caller's: one per process).  When it does, the yield lost the CPU if the
 * answer to request `seq` was already there that long before it came back
 * (the server's stamp), and such losses count as winipc_lost_yield says; a
 * server on our CPU that answered just now had the time itself (a long
 * handler).  (The server's own yields: winipc_server_wait_step.) */
static inline int winipc_client_wait_step(winipc_bell *b, uint32_t seq, uint32_t mine,
                                          uint32_t toward, int64_t *last_lost,
                                          int64_t *muted_until)
{
    int64_t t, back;
    if (toward == 0 || toward != mine) {
        winipc_wait_step(mine, toward);     /* a pause */
        return 1;
    }
    t = winipc_now_ns();
    if (t < *muted_until)
        return 0;
    winipc_wait_step(mine, mine);           /* a yield */
    back = winipc_now_ns();
    if (back - t < WINIPC_YIELD_LOST_NS)
        return 1;
    if (winipc_bell_server_cpu(b) != mine) {
        *muted_until = t + WINIPC_YIELD_MUTE_NS;
        return 0;
    }
    if (winipc_bell_answered_by(b, seq, back - WINIPC_YIELD_LOST_NS))
        return !winipc_lost_yield(back, last_lost, muted_until);
    return 1;
}

/* server: whether the request waiting in `b` (untaken: winipc_bell_untaken)
 * was posted at or before `before` (winipc_now_ns).  The stamp is the
 * client's word (torn, even, where a 32-bit side reads it): a lie only makes
 * this server's yields stop for a while (winipc_server_wait_step). */
static inline int winipc_bell_posted_by(winipc_bell *b, int64_t before)
{
    int64_t posted = b->posted_ns;
    return posted > 0 && posted <= before;
}

/* One step of a server's wait: a yield to a client `beside` it on its CPU,
 * else a pause (winipc_wait_step); timed when it yields -> the time the
 * yield came back when it took WINIPC_YIELD_LOST_NS or longer, else 0.  When
 * a request the server finds then was posted that long before it came back
 * (winipc_bell_posted_by), the CPU went to another process while the client
 * waited (winipc_lost_yield).  A client's own long turn between
 * calls posts nothing meanwhile, so it never counts. */
static inline int64_t winipc_server_wait_step(uint32_t mine, int beside)
{
    int64_t t, back;
    if (!beside) {
        winipc_wait_step(mine, 0);          /* a pause */
        return 0;
    }
    t = winipc_now_ns();
    winipc_wait_step(mine, mine);           /* a yield */
    back = winipc_now_ns();
    return back - t >= WINIPC_YIELD_LOST_NS ? back : 0;
}

#endif
