# What clients hold in a server, and the requests that change it: the
# client entries, their buffers, doorbells and pushed fds, each bounded,
# and the answers to ALLOC, FREE, BELL and DUP.  Both the dispatch thread
# and the standby thread answer them.  (Part of _rpc.pyx.)

# Bounds on what one client may hold in a server.
cdef enum:
    MAX_CLIENTS = 1024
    MAX_ALLOCS_PER_CLIENT = 4096
    # fds pushed (DUP) and not yet adopted: per client, and in this process
    MAX_PUSHED_PER_CLIENT = 64
    MAX_PUSHED = 1024
cdef uint64_t MAX_BYTES_PER_CLIENT = (<uint64_t>1) << 32

cdef struct Peer:
    int pid
    int conns              # its connections (clients) here
    int nallocs
    uint64_t total


cdef struct Alloc:
    uint64_t addr
    uint64_t size

cdef struct Client:
    uint64_t serial        # who owns the fds it pushed
    int npushed
    int fd
    int nallocs
    uint64_t total
    Alloc *allocs
    winipc_bell *bell      # the connection's doorbell page, or NULL
    int ring_fd            # its ring's read end (OP_RINGFD: a pipe, the client writes to
                           # wake us, cheaper than a packet), or -1
    uint32_t served        # the last doorbell request answered
    uint32_t told_cpu      # the CPU we last wrote in its page (doorbell.h: + 1)
    uint32_t client_cpu    # the CPU it posted its last request from (its word)
    bint dead              # to be dropped once the scan is over
    bint stashed           # a call the standby thread received, kept for dispatch
    Request stash
    Peer *peer             # its process, and what all its connections hold


# Bounds across connections.  Every buffer is a mapping, and the kernel
# bounds a process's mappings (vm.max_map_count, 65530 by default): so
# all the clients of this process's servers together hold at most
# MAX_MAPS_TOTAL buffers, and one client process, however many connections
# it opens, at most MAX_*_PER_PROCESS (a client process is its pid, as the
# kernel reported it when the connection was made).
cdef enum:
    RING_READ = 64         # bytes of a ring read per wake-up (any number empties it soon)
    MAX_MAPS_TOTAL = 16384
    MAX_ALLOCS_PER_PROCESS = 4096
cdef uint64_t MAX_BYTES_PER_PROCESS = (<uint64_t>1) << 32

cdef Peer **peers = NULL
cdef int npeers = 0
cdef int maps_total = 0
cdef pthread_mutex_t peers_lock
pthread_mutex_init(&peers_lock, NULL)


cdef bint peer_join(Client *c, int pid) noexcept nogil:
    """Count client ``c`` for its process ``pid``; False when out of memory."""
    global peers, npeers
    cdef int i
    cdef Peer *p = NULL
    cdef void *grown
    pthread_mutex_lock(&peers_lock)
    for i in range(npeers):
        if peers[i].pid == pid:
            p = peers[i]
            break
    if p == NULL:
        grown = realloc(peers, (npeers + 1) * sizeof(Peer *))
        if grown != NULL:
            peers = <Peer **>grown
            p = <Peer *>calloc(1, sizeof(Peer))
        if p != NULL:
            p.pid = pid
            peers[npeers] = p
            npeers += 1
    if p != NULL:
        p.conns += 1
        c.peer = p
    pthread_mutex_unlock(&peers_lock)
    return p != NULL


cdef void peer_leave(Client *c) noexcept nogil:
    """Client ``c`` is gone, with all it held."""
    global npeers, maps_total
    cdef int i
    cdef Peer *p = c.peer
    if p == NULL:
        return
    pthread_mutex_lock(&peers_lock)
    p.conns -= 1
    p.nallocs -= c.nallocs
    p.total -= c.total
    maps_total -= c.nallocs
    if p.conns == 0:
        for i in range(npeers):
            if peers[i] == p:
                npeers -= 1
                peers[i] = peers[npeers]
                break
        free(p)
    pthread_mutex_unlock(&peers_lock)
    c.peer = NULL


cdef bint peer_take(Client *c, uint64_t size) noexcept nogil:
    """Count one more buffer of ``size`` bytes for ``c``'s process, if the
    bounds across connections allow it."""
    global maps_total
    cdef Peer *p = c.peer
    cdef bint ok
    pthread_mutex_lock(&peers_lock)
    ok = (p != NULL and maps_total < MAX_MAPS_TOTAL and p.nallocs < MAX_ALLOCS_PER_PROCESS
          and size <= MAX_BYTES_PER_PROCESS - p.total)
    if ok:
        p.nallocs += 1
        p.total += size
        maps_total += 1
    pthread_mutex_unlock(&peers_lock)
    return ok


cdef void peer_give(Client *c, uint64_t size) noexcept nogil:
    """One buffer of ``size`` bytes of ``c``'s is gone."""
    global maps_total
    cdef Peer *p = c.peer
    pthread_mutex_lock(&peers_lock)
    if p != NULL:
        p.nallocs -= 1
        p.total -= size
    maps_total -= 1
    pthread_mutex_unlock(&peers_lock)


# The fds clients pushed here (OP_DUP) that nobody has adopted yet: they
# belong to their client until adopt() claims them, and are closed when it
# leaves.  The serving thread adds and closes; adopting threads claim.
cdef struct Pushed:
    int fd
    uint64_t owner
cdef Pushed pushed[MAX_PUSHED]
cdef int npushed = 0
cdef pthread_mutex_t pushed_lock
pthread_mutex_init(&pushed_lock, NULL)
cdef uint64_t client_serial = 0


cdef uint32_t keep_pushed(Client *c, int fd) noexcept nogil:
    global npushed
    cdef uint32_t error = 0
    pthread_mutex_lock(&pushed_lock)
    if c.npushed >= MAX_PUSHED_PER_CLIENT or npushed >= MAX_PUSHED:
        error = ERROR_NOT_ENOUGH_QUOTA
    else:
        pushed[npushed].fd = fd
        pushed[npushed].owner = c.serial
        npushed += 1
        c.npushed += 1
    pthread_mutex_unlock(&pushed_lock)
    return error


cdef void close_pushed(uint64_t owner) noexcept nogil:
    global npushed
    cdef int i
    pthread_mutex_lock(&pushed_lock)
    for i in range(npushed - 1, -1, -1):
        if pushed[i].owner == owner:
            close(pushed[i].fd)
            npushed -= 1
            pushed[i] = pushed[npushed]
    pthread_mutex_unlock(&pushed_lock)


def claim_pushed(int value):
    """Take fd ``value`` off the list of pushed fds not yet adopted (so that
    its client's leaving no longer closes it); whether it was on it."""
    global npushed
    cdef int i
    cdef bint found = False
    with nogil:
        pthread_mutex_lock(&pushed_lock)
        for i in range(npushed):
            if pushed[i].fd == value:
                npushed -= 1
                pushed[i] = pushed[npushed]
                found = True
                break
        pthread_mutex_unlock(&pushed_lock)
    return found


cdef void drop_client(Client *c) noexcept nogil:
    """Close, unmap and free all that client ``c`` holds, and ``c``."""
    cdef int i
    close_pushed(c.serial)
    peer_leave(c)
    close(c.fd)
    for i in range(c.nallocs):
        munmap(<void *>c.allocs[i].addr, c.allocs[i].size)
    free(c.allocs)
    if c.bell != NULL:
        munmap(c.bell, WINIPC_BELL_SIZE)
    if c.ring_fd >= 0:
        close(c.ring_fd)
    free(c)


cdef int sealed_memfd(uint64_t size) noexcept nogil:
    """A memfd of ``size`` bytes that nobody can shrink or grow (so a client
    can never make the server fault on it) and only this user can open; -1
    with errno set."""
    cdef int fd = memfd_create("winipc", MFD_CLOEXEC | MFD_ALLOW_SEALING)
    if fd < 0:
        return -1
    if (fchmod(fd, 0o600) < 0 or ftruncate(fd, <long>size) < 0
            or fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0):
        close(fd)
        return -1
    return fd


cdef uint32_t do_alloc(Client *c, uint64_t size, bint shared, uint64_t *addr,
                       int *fd) noexcept nogil:
    """Map ``size`` bytes for client ``c``: private, or shared through a
    sealed memfd returned in ``fd`` (the caller sends and closes it)."""
    cdef void *p
    fd[0] = -1
    if size == 0:
        return ERROR_INVALID_PARAMETER
    if (c.nallocs >= MAX_ALLOCS_PER_CLIENT or size > MAX_BYTES_PER_CLIENT
            or c.total + size > MAX_BYTES_PER_CLIENT):
        return ERROR_NOT_ENOUGH_MEMORY
    if c.nallocs % 16 == 0:
        p = realloc(c.allocs, (c.nallocs + 16) * sizeof(Alloc))
        if p == NULL:
            return ERROR_NOT_ENOUGH_MEMORY
        c.allocs = <Alloc *>p
    if not peer_take(c, size):
        return ERROR_NOT_ENOUGH_MEMORY
    if shared:
        fd[0] = sealed_memfd(size)
        if fd[0] < 0:
            peer_give(c, size)
            return ERROR_NOT_ENOUGH_MEMORY
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd[0], 0)
    else:
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if p == MAP_FAILED:
        peer_give(c, size)
        if fd[0] >= 0:
            close(fd[0])
            fd[0] = -1
        return ERROR_NOT_ENOUGH_MEMORY
    c.allocs[c.nallocs].addr = <uint64_t>p
    c.allocs[c.nallocs].size = size
    c.nallocs += 1
    c.total += size
    addr[0] = <uint64_t>p
    return 0


cdef uint32_t do_free(Client *c, uint64_t addr, Alloc *keep) noexcept nogil:
    """Free client ``c``'s buffer at ``addr``; when ``keep.addr`` is that
    buffer (a handler runs on it), leave it mapped and say so in ``keep.size``
    (the caller unmaps it once the handler is done)."""
    cdef int i
    for i in range(c.nallocs):
        if c.allocs[i].addr == addr:
            if keep != NULL and keep.addr == addr:
                keep.size = c.allocs[i].size
            else:
                munmap(<void *>addr, c.allocs[i].size)
            peer_give(c, c.allocs[i].size)
            c.total -= c.allocs[i].size
            c.nallocs -= 1
            c.allocs[i] = c.allocs[c.nallocs]
            return 0
    return ERROR_INVALID_ADDRESS


cdef uint32_t do_bell(Client *c, int *fd) noexcept nogil:
    """The client's doorbell page, mapped here; its memfd in ``fd``."""
    cdef void *p
    fd[0] = -1
    if c.bell != NULL:
        return ERROR_INVALID_PARAMETER      # one per connection
    fd[0] = sealed_memfd(WINIPC_BELL_SIZE)
    if fd[0] < 0:
        if errno == EMFILE or errno == ENFILE:
            return ERROR_CONNECTION_COUNT_LIMIT   # no fd for one more client
        return ERROR_NOT_ENOUGH_MEMORY
    p = mmap(NULL, WINIPC_BELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd[0], 0)
    if p == MAP_FAILED:
        close(fd[0])
        fd[0] = -1
        return ERROR_NOT_ENOUGH_MEMORY
    c.bell = <winipc_bell *>p
    c.bell.features = WINIPC_FEATURE_INLINE     # (before the client has the page)
    c.told_cpu = 0          # a new page: tell it where we run
    c.served = 0
    return 0


cdef uint32_t do_ringfd(Client *c, int *fd) noexcept nogil:
    """The ring of client ``c``'s doorbell, made now: a pipe whose read end
    we keep, its write end in ``fd`` (the caller sends and closes it).  A
    pipe, not an eventfd: the two ends are two open files, so nothing the
    client does to its end (clearing O_NONBLOCK, closing it) touches ours.
    None (and the client rings with packets) when there is none to make, or
    its fds would lie past the first quarter of this process's fd table,
    which is kept for clients' connections (a ring costs a client two of
    our fds where packets cost one)."""
    cdef int ends[2]
    cdef rlimit limit
    fd[0] = -1
    if c.bell == NULL or c.ring_fd >= 0:
        return ERROR_INVALID_PARAMETER      # one per doorbell
    if pipe2(ends, O_CLOEXEC | O_NONBLOCK) < 0:
        return 0
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 and limit.rlim_cur != RLIM_INFINITY
            and <uint64_t>max(ends[0], ends[1]) * 4 >= limit.rlim_cur):
        close(ends[0])
        close(ends[1])
        return 0
    c.ring_fd, fd[0] = ends[0], ends[1]
    return 0


cdef void take_ring(Client *c) noexcept nogil:
    """Empty client ``c``'s ring, which poll() said is readable (rings only
    say "look at the doorbells"): one read, at most RING_READ bytes; a ring
    the client closed is closed here too (its hang-up would wake every
    poll), and it rings with packets, if at all."""
    cdef char rings[RING_READ]
    if c_read(c.ring_fd, rings, RING_READ) == 0:
        close(c.ring_fd)
        c.ring_fd = -1


cdef uint64_t owner_buffer(Client *c, uint64_t addr, uint64_t size) noexcept nogil:
    """The start of the buffer this client was given that holds all of
    [addr, addr+size), or 0 if none does."""
    cdef int i
    cdef uint64_t start, end
    if size == 0:
        return 0
    for i in range(c.nallocs):
        start = c.allocs[i].addr
        end = start + c.allocs[i].size
        if start <= addr < end and size <= end - addr:
            return start
    return 0


cdef int spare_fd() noexcept nogil:
    """An fd kept in reserve, closed to accept (and turn away) a client when
    the fd table is full: otherwise the connection stays in the backlog and
    poll() reports it at once, for ever."""
    return c_open("/dev/null", O_RDONLY | O_CLOEXEC)


cdef int send_reply(Client *c, uint32_t seq, uint32_t error, int64_t result) noexcept nogil:
    """Send ``c`` the answer to its call ``seq`` (or, for a doorbell, its
    wake-up); -1 when it did not take it whole: a client that does not read
    its replies is dropped, never waited for."""
    cdef Reply rep
    memset(&rep, 0, sizeof(rep))
    rep.seq = seq
    rep.error = error
    rep.result = result
    return 0 if send_packet(c.fd, &rep, sizeof(rep), -1) == sizeof(rep) else -1


cdef int answer(Client *c, Request *req, int got_fd, Alloc *freed) noexcept nogil:
    """Answer a request that runs no handler (it closes ``got_fd``
    unless it keeps it); -1 drops the client.  ``freed``: where a free of
    the buffer a running handler has is noted, to unmap it after the
    handler (ServerCore.freed_under_handler)."""
    cdef Reply rep
    cdef ssize_t n
    cdef int reply_fd = -1
    memset(&rep, 0, sizeof(rep))
    rep.seq = req.seq
    if req.op == OP_RING:
        if got_fd >= 0:
            close(got_fd)
        return 0            # only woke us: the doorbells are looked at next
    if req.op == OP_ALLOC and req.msg <= ALLOC_SHARED:
        rep.error = do_alloc(c, req.wparam, req.msg == ALLOC_SHARED, &rep.value, &reply_fd)
    elif req.op == OP_FREE:
        rep.error = do_free(c, req.lparam, freed)
    elif req.op == OP_BELL:
        rep.error = do_bell(c, &reply_fd)
    elif req.op == OP_RINGFD:
        rep.error = do_ringfd(c, &reply_fd)
    elif req.op == OP_DUP and got_fd >= 0:
        rep.error = keep_pushed(c, got_fd)
        if not rep.error:
            rep.value = <uint64_t>got_fd
            got_fd = -1   # the client's until adopted (claim_pushed)
    else:
        rep.error = ERROR_INVALID_PARAMETER
    if got_fd >= 0:
        close(got_fd)
    # A client that does not read its replies is dropped, never waited for.
    n = send_packet(c.fd, &rep, sizeof(rep), reply_fd)
    if reply_fd >= 0:
        close(reply_fd)    # sent (a page or buffer: mapped here, and the mapping keeps it)
    return 0 if n == sizeof(rep) else -1


cdef int take_request(Client *c, Request *req, int *got_fd) noexcept nogil:
    """Receive client ``c``'s next request: 1, 0 if none is waiting, -1 if
    the client must be dropped (hung up, or not our protocol)."""
    cdef ssize_t n = recv_packet(c.fd, req, sizeof(Request), got_fd)
    if n < 0:
        return 0 if errno == EAGAIN or errno == EINTR else -1
    if n != sizeof(Request):
        if got_fd[0] >= 0:
            close(got_fd[0])
            got_fd[0] = -1
        return -1
    return 1


cdef void turn_away(int fd) noexcept nogil:
    """Tell a client the server is full, and close its connection.  A close
    that leaves packets unread makes Linux report ECONNRESET to the client
    ahead of the packets queued for it, the notice among them: so the
    client's sends are shut off once the notice is queued for it (a later
    send fails with EPIPE, and the client reads the notice then), and what
    it sent before is read and dropped, fds and all, before the close."""
    cdef Reply notice
    cdef Request dropped
    memset(&notice, 0, sizeof(notice))
    notice.seq = NOTICE_SEQ
    notice.error = ERROR_CONNECTION_COUNT_LIMIT
    send_packet(fd, &notice, sizeof(notice), -1)
    shutdown(fd, SHUT_RD)
    # Bounded: nothing more can arrive.  (A packet of no bytes stops it:
    # that client gets its reset.)
    while recv_packet(fd, &dropped, sizeof(dropped), NULL) > 0:
        pass
    close(fd)
