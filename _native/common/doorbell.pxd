# The doorbell protocol of doorbell.h, for both backends' Cython code.

from libc.stdint cimport uint32_t, uint64_t, int64_t

cdef extern from "doorbell.h" nogil:
    ctypedef struct winipc_bell:
        # Read through the step functions below, except where a side reads
        # its own words (the page is the other side's hostile input).
        uint32_t req
        uint32_t client_asleep
        uint32_t msg
        uint32_t flags
        uint64_t wparam
        uint64_t lparam
        uint32_t client_cpu
        int64_t posted_ns
        uint32_t rep
        uint32_t server_asleep
        uint32_t error
        uint32_t server_cpu
        int64_t result
        uint32_t features
        int64_t answered_ns
    enum:
        WINIPC_BELL_SIZE
        WINIPC_MAX_SPIN_US
        WINIPC_DEFAULT_SPIN_US
        WINIPC_STEADY_PER_SPIN
        WINIPC_COLD_SPIN_MAX_NS
        WINIPC_TAKEN
        WINIPC_WITHDRAWN
        WINIPC_FLAG_INLINE
        WINIPC_FEATURE_INLINE
        WINIPC_BELL_NOTE
        WINIPC_BELL_NOTE_MAX
        WINIPC_BELL_DATA
        WINIPC_BELL_DATA_MAX
        WINIPC_YIELD_LOST_NS
    uint32_t winipc_cpu()
    void winipc_wait_step(uint32_t mine, uint32_t peer_cpu)
    int64_t winipc_now_ns()
    void winipc_fence()
    int winipc_cas(uint32_t *p, uint32_t old, uint32_t new_)
    # client
    int winipc_bell_post(winipc_bell *b, uint32_t seq, uint32_t msg, uint64_t wparam,
                         uint64_t lparam)
    int winipc_bell_post_flags(winipc_bell *b, uint32_t seq, uint32_t msg, uint32_t flags,
                               uint64_t wparam, uint64_t lparam)
    int winipc_bell_post_at(winipc_bell *b, uint32_t seq, uint32_t msg, uint32_t flags,
                            uint64_t wparam, uint64_t lparam, int64_t now)
    char *winipc_bell_data(winipc_bell *b)
    char *winipc_bell_note(winipc_bell *b)
    int winipc_bell_offers_inline(winipc_bell *b)
    int winipc_bell_answered(winipc_bell *b, uint32_t seq)
    void winipc_bell_client_sleeps(winipc_bell *b)
    int winipc_bell_client_wakes(winipc_bell *b)
    uint32_t winipc_bell_server_cpu(winipc_bell *b)
    uint32_t winipc_bell_client_cpu(winipc_bell *b)
    void winipc_bell_client_at(winipc_bell *b, uint32_t cpu)
    void winipc_bell_server_at(winipc_bell *b, uint32_t cpu)
    int winipc_bell_taken(winipc_bell *b, uint32_t seq)
    uint32_t winipc_bell_next_seq(uint32_t last)
    int winipc_bell_withdraw(winipc_bell *b, uint32_t seq)
    int64_t winipc_cold_budget(int64_t spin_ns, int64_t wake_avg_ns)
    void winipc_cold_learn(int64_t *wake_avg_ns, int64_t took_ns)
    int winipc_bell_posted_by(winipc_bell *b, int64_t before)
    int64_t winipc_server_wait_step(uint32_t mine, int beside)
    int winipc_lost_yield(int64_t back, int64_t *last_lost, int64_t *muted_until)
    int winipc_client_wait_step(winipc_bell *b, uint32_t seq, uint32_t mine, uint32_t toward,
                                int64_t *last_lost, int64_t *muted_until)
    # server
    int64_t winipc_steady_spin(int64_t now, int64_t *last, int64_t *recent, int64_t spin_ns,
                               int64_t steady_ns)
    int winipc_bell_untaken(uint32_t raw, uint32_t served)
    int winipc_bell_take(winipc_bell *b, uint32_t seq)
    uint32_t winipc_bell_pending(winipc_bell *b)
    void winipc_bell_request(winipc_bell *b, uint32_t *msg, uint64_t *wparam, uint64_t *lparam)
    uint32_t winipc_bell_flags(winipc_bell *b)
    int winipc_bell_answer(winipc_bell *b, uint32_t seq, uint32_t error, int64_t result)
    void winipc_bell_server_sleeps(winipc_bell *b)
    void winipc_bell_server_wakes(winipc_bell *b)
