# The client: Process, a process opened for memory access, with its copies, sends
# and calls; its connection is a _Channel (client_channel.pxi), its doorbell a
# _ClientBell (client_bell.pxi), its shared buffers' mappings a _SharedMaps
# (client_shared.pxi); what runs without the GIL, client_io.pxi.  (Part of _rpc.pyx.)


cdef class Process:
    """A process opened for memory access: a pidfd, and on first need a
    connection to its winipc endpoint (allocation and messages go there).
    Threads may share it: requests on the connection take turns."""
    cdef readonly int pid
    cdef readonly unsigned long access
    cdef readonly uint64_t window
    cdef int pidfd
    cdef int busy               # calls using the fds without the GIL
    cdef bint closed
    cdef _Channel channel       # the connection to the server's endpoint
    cdef _ClientBell bell       # the doorbell, once open_transport() made it
    cdef int64_t spin_ns
    cdef _SharedMaps shared     # shared buffers mapped here, by server address
    cdef public object last_result  # the last call()'s or call_object()'s result

    def __cinit__(self):
        self.pidfd = -1
        self.closed = True
        self.channel = _Channel()
        self.shared = _SharedMaps()

    def __init__(self, int pid, unsigned long access, uint64_t window=0):
        cdef long fd
        if pid <= 0:
            raise_errno(3, "pidfd_open", f"no process with id {pid}", cls="NoSuchProcess")
        fd = syscall(SYS_pidfd_open, pid, 0)
        if fd < 0:
            raise_errno(errno, "pidfd_open", f"process {pid}: {os.strerror(errno)}")
        self.pidfd = <int>fd
        self.closed = False
        self.pid = pid
        self.access = access
        self.window = window
        self.channel.pid, self.channel.window = pid, window

    @property
    def handle(self):
        return -1 if self.closed else self.pidfd

    @property
    def server_is_32bit(self):
        """Always False here: the Linux backend carries full 64-bit
        values to any peer, so nothing is narrowed (Windows: WoW64)."""
        return False

    @property
    def spin_us(self):
        return self.spin_ns // 1000

    @spin_us.setter
    def spin_us(self, int64_t value):
        self.spin_ns = <int64_t>checked_spin_us(value) * 1000

    def close(self):
        """Close now, or, while another thread's call is in flight, wake it
        (it fails) and close when it is done: an fd number is never reused
        under a call."""
        self.closed = True
        if self.busy:
            self.channel.hang_up()
        else:
            self.release()

    cdef void release(self) noexcept:
        if self.channel is not None:    # (None once the GC cleared it)
            self.channel.close()
        if self.pidfd >= 0:
            close(self.pidfd)
            self.pidfd = -1
        if self.bell is not None:       # (None once the GC cleared it)
            self.bell.unmap()
            self.bell = None
        if self.shared is not None:     # (None once the GC cleared it)
            self.shared.close()

    def __dealloc__(self):
        self.release()

    cdef enter(self, unsigned long right, call):
        """Check the handle and its rights; the caller leave()s after."""
        if self.closed:
            raise ValueError(f"the handle to process {self.pid} is closed")
        if self.access & right != right:
            raise_winerror(ERROR_ACCESS_DENIED, call,
                           f"the handle was opened without access {right:#x}")
        self.busy += 1

    cdef void leave(self) noexcept:
        self.busy -= 1
        if self.closed and self.busy == 0:
            self.release()

    cdef int endpoint(self) except -1:
        return self.channel.endpoint()

    cdef Reply request(self, unsigned long right, uint32_t op, uint32_t msg, uint64_t wparam,
                       uint64_t lparam, int64_t timeout_ms, int pass_fd, int *got_fd,
                       const char *call):
        cdef Request req
        cdef Reply rep
        cdef Failure f
        cdef int rc
        cdef int64_t deadline = deadline_after(timeout_ms)
        cdef _Channel channel = self.channel
        self.enter(right, call.decode())
        try:
            self.endpoint()
            req.op, req.msg, req.wparam, req.lparam = op, msg, wparam, lparam
            with nogil:
                rc = channel.take(deadline, call, &f)
                if rc == 0:
                    rc = channel.transact(&req, &rep, deadline, pass_fd, got_fd, op != OP_SEND,
                                          call, &f)
                    channel.give()
            if rc < 0:
                raise_failure(&f)
            return rep
        finally:
            self.leave()

    def alloc(self, size_t size, int64_t timeout_ms):
        return self.request(PROCESS_VM_OPERATION, OP_ALLOC, ALLOC_PRIVATE, size, 0, timeout_ms,
                            -1, NULL, "VirtualAllocEx (server ALLOC)").value

    def free(self, uint64_t address, int64_t timeout_ms):
        self.request(PROCESS_VM_OPERATION, OP_FREE, 0, 0, address, timeout_ms, -1, NULL,
                     "VirtualFreeEx (server FREE)")

    def open_transport(self, int64_t spin_us, bint shared, int64_t timeout_ms):
        """The connection's transport, chosen here once, at connect
        (transport_spin): a doorbell, whose page the server makes and both
        map; sends and calls ring it from now on, spinning ``spin_us`` µs
        (< 0: the default) for the answer.  One already open stays."""
        cdef int fd = -1
        cdef _ClientBell bell
        cdef int spin = transport_spin(spin_us, shared)
        if spin < 0:
            return
        self.spin_us = spin
        if self.bell is not None:
            return
        self.request(0, OP_BELL, 0, 0, 0, timeout_ms, -1, &fd, "server BELL")
        if fd < 0:
            raise_errno(EPROTO, "server BELL", "the reply carried no doorbell page")
        bell = _ClientBell.map(fd, self.channel.sock)
        # Its ring: none when the server keeps its fds for clients
        # (server_clients.pxi, do_ringfd); then packets on the socket.
        self.request(0, OP_RINGFD, 0, 0, 0, timeout_ms, -1, &bell.ring_fd, "server RINGFD")
        self.bell = bell

    def alloc_shared(self, size_t size, int64_t timeout_ms):
        """A buffer the server maps from a sealed memfd it sends here:
        (server address, a writable mmap of it)."""
        cdef int fd = -1
        cdef Reply rep
        rep = self.request(PROCESS_VM_OPERATION, OP_ALLOC, ALLOC_SHARED, size, 0, timeout_ms,
                           -1, &fd, "VirtualAllocEx (server ALLOC shared)")
        if fd < 0:
            raise_errno(EPROTO, "VirtualAllocEx (server ALLOC shared)",
                        "the reply carried no memory")
        try:
            mapping = _mmap.mmap(fd, size)
        finally:
            close(fd)
        try:
            self.shared.add(rep.value, size, mapping)
        except BaseException:
            mapping.close()
            raise
        return rep.value, mapping

    def free_shared(self, uint64_t address, int64_t timeout_ms):
        self.shared.unmap(address)
        if not self.closed:
            self.free(address, timeout_ms)

    cdef void own_refusal(self, Failure *f, uint32_t msg, uint64_t address, uint64_t size,
                          bint inline=False):
        """``f``, a failed request of ``msg`` on this connection's ``size``
        bytes at ``address``: the server's refusal is worded as a call's,
        with the handler's note from the page (already in ``f``) or else,
        unless the bytes rode in the page (``inline``), the buffer's."""
        cdef Py_buffer pinned
        cdef char *mapped = NULL
        if not server_refused(f):
            return
        if not inline:
            mapped = self.shared.pin(address, size, &pinned)
        self.refusal(f, msg, address, size, mapped, not inline)
        if mapped != NULL:
            PyBuffer_Release(&pinned)

    cdef void refusal(self, Failure *f, uint32_t msg, uint64_t address, uint64_t size,
                      char *mapped, bint read_note) noexcept nogil:
        """own_refusal's core, and call_once's, for the server's refusal:
        the message and the size for raise_refusal and, ``read_note``, a
        failed handler's note from the buffer (``mapped``: where a shared
        one is mapped here) unless the page brought one."""
        f.msg, f.sent = msg, <int64_t>size
        if read_note:
            buffer_note(self.pid, f, address, size, mapped)

    def push_fd(self, int fd, int64_t timeout_ms):
        """Send ``fd`` (SCM_RIGHTS) to the server -> the number it has there."""
        return <int>self.request(PROCESS_DUP_HANDLE, OP_DUP, 0, 0, 0, timeout_ms, fd, NULL,
                                 "DuplicateHandle (server DUP)").value

    def write(self, uint64_t address, buffer):
        self.copy(address, buffer, True)

    def read_into(self, uint64_t address, buffer):
        self.copy(address, buffer, False)

    cdef copy(self, uint64_t address, obj, bint to_remote):
        cdef Py_buffer view, pinned
        cdef Failure f
        cdef int rc = 0
        cdef char *local = NULL
        if to_remote:
            self.enter(PROCESS_VM_WRITE, "process_vm_writev")
        else:
            self.enter(PROCESS_VM_READ, "process_vm_readv")
        try:
            PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE if to_remote else PyBUF_WRITABLE)
            try:
                local = self.shared.pin(address, view.len, &pinned)
                with nogil:
                    if local != NULL:
                        shared_copy(local, view.buf, view.len, to_remote)
                    else:
                        rc = vm_copy(self.pid, <char *>view.buf, address, view.len, to_remote, &f)
                if rc < 0:
                    raise_failure(&f)
            finally:
                if local != NULL:
                    PyBuffer_Release(&pinned)
                PyBuffer_Release(&view)
        finally:
            self.leave()

    def send(self, uint32_t msg, uint64_t wparam, uint64_t lparam, int64_t timeout_ms,
             bint owned=False):
        """The message with any ``wparam`` and ``lparam`` -> its result.
        ``owned``: they are a buffer of this connection's (size, address),
        so a refusal is worded as a call's (own_refusal); else nothing at
        ``lparam`` is ever read."""
        cdef Failure f
        cdef Request req
        cdef Reply rep
        cdef int64_t result = 0
        cdef int rc
        cdef int64_t deadline = deadline_after(timeout_ms)
        cdef _Channel channel = self.channel
        cdef _ClientBell bell = self.bell
        cdef const char *call = "server SEND" if bell is None else "server SEND (doorbell)"
        self.enter(0, "server SEND")
        try:
            self.endpoint()
            with nogil:
                rc = channel.take(deadline, call, &f)
                if rc == 0:
                    if bell is None:
                        memset(&req, 0, sizeof(req))
                        req.op, req.msg, req.wparam, req.lparam = OP_SEND, msg, wparam, lparam
                        rc = channel.transact(&req, &rep, deadline, -1, NULL, False, call, &f)
                        result = rep.result
                    else:
                        rc = bell.send(channel.next_bell_seq(), msg, 0, wparam, lparam,
                                       deadline, self.spin_ns, &result, call, &f)
                        if owned and rc < 0:
                            bell.page_note(&f)
                    channel.give()
            if owned and rc < 0:
                self.own_refusal(&f, msg, lparam, wparam)
            if rc < 0:
                raise_failure(&f)
            return result
        finally:
            self.leave()

    # Split-phase sends, for asyncio (winipc/_aio.py): begin_send() posts and
    # keeps the connection's turn, end_send() looks for the answer without
    # waiting and gives the turn back once it has it; in between the caller
    # waits for wait_handle (the socket; the server's answer sends a wake-up,
    # doorbell.h).  cancel_send() gives up: a late answer carries its own
    # sequence number, which no later request has.

    @property
    def wait_handle(self):
        """The fd an asynchronous send waits to be readable: the endpoint, or
        after a begin_send() that found the turn taken, the turn's eventfd."""
        return self.channel.wait_fd()

    def begin_send(self, uint32_t msg, uint64_t size, uint64_t address, int64_t timeout_ms,
                   data=None):
        """Post a request of ``msg`` on this connection's buffer of ``size``
        bytes at ``address`` (``data``: its bytes, written first, into the
        page when they fit, as call()'s) in the doorbell, opened within
        ``timeout_ms`` if need be -> its sequence number, at once; 0 when
        another thread holds the turn (wait for wait_handle, try again)."""
        return self.begin(msg, size, address, timeout_ms, data)

    cdef uint32_t begin(self, uint32_t msg, uint64_t size, uint64_t address,
                        int64_t timeout_ms, object data) except? 0:
        cdef uint32_t seq
        cdef bint taken = False, posted = False, inline = False
        cdef uint64_t at        # (where a shared buffer's address lies in its mapping)
        cdef Py_buffer view
        if self.bell is None:
            self.open_transport(self.spin_us, False, timeout_ms)
        self.enter(0, "server SEND (doorbell)")
        try:
            self.endpoint()
            taken = self.channel.try_take()
            if not taken:
                return 0
            seq = self.channel.next_bell_seq()
            if data is not None:
                PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                inline = <uint64_t>view.len == size and self.bell.put_inline(
                    view.buf, size, self.shared.find(address, size, &at) is None)
                PyBuffer_Release(&view)
                if not inline:
                    self.copy(address, data, True)
            self.bell.post(seq, msg, size, address, inline)
            posted = True
            return seq
        finally:
            if not posted:      # the turn and the handle stay with a posted request only
                if taken:
                    self.channel.give()
                self.leave()

    def end_send(self, uint32_t seq, int64_t spin_us=0, out=None):
        """The answer to request ``seq`` once it has come (the turn is given
        back; a refusal raises the server's error), its bytes read into
        ``out`` if given; else None, and the caller waits for wait_handle.
        With ``spin_us``, an awake server's answer is first spun for that long."""
        return self.end(seq, <int64_t>checked_spin_us(spin_us) * 1000, out)

    cdef object end(self, uint32_t seq, int64_t spin_ns, object out):
        cdef _ClientBell bell = self.in_flight(seq)
        cdef Failure f
        cdef int64_t result = 0
        cdef int r = -1
        try:
            with nogil:
                r = bell.look(seq, spin_ns, &result, &f)
            if r == 0:
                return None
            if r < 0:
                self.own_refusal(&f, bell.msg, bell.address, bell.size, bell.inline)
                raise_failure(&f)
            if out is not None and bell.inline:
                bell.take_data(out)
            elif out is not None:
                self.copy(bell.address, out, False)
            return result
        finally:
            if r != 0:
                self.channel.give()
                self.leave()

    def begin_object(self, uint32_t msg, uint64_t address, size_t capacity, struct, out,
                     int64_t timeout_ms):
        """acall()'s first step for the usual kinds of request, in one native
        call (answer.pxi's answer object): the answer, the result left in
        ``last_result``; (its sequence number, the answer) while the server
        runs it; None, having posted nothing, for a kind answer.pxi leaves to
        the facade, one larger than ``capacity``, or when another thread's
        request holds the connection."""
        cdef uint32_t seq
        cdef Py_ssize_t size
        answer = answer_for(struct, out)
        size = answer_size(answer, capacity)
        if size < 0:
            return None
        seq = self.begin(msg, size, address, timeout_ms, answer)
        if not seq:
            return None
        result = self.end(seq, self.spin_ns, answer)
        if result is None:
            return seq, answer
        self.last_result = result
        return answer

    def cancel_send(self, uint32_t seq):
        """Give up waiting for request ``seq`` (begun, not ended): withdrawn
        if the server has not taken it yet -> True when withdrawn (it never
        runs)."""
        cdef bint withdrawn = self.in_flight(seq).withdraw(seq)
        self.channel.give()
        self.leave()
        return withdrawn

    cdef _ClientBell in_flight(self, uint32_t seq):
        """The doorbell, when ``seq`` is the send in flight on it: only that
        one can be ended or cancelled."""
        if self.bell is None or seq == 0 or seq != self.bell.pending:
            raise RuntimeError(f"no asynchronous send {seq} is in flight on this connection")
        return self.bell

    def call(self, uint32_t msg, uint64_t address, buffer, int64_t timeout_ms):
        """Write ``buffer`` to ``address``, send, read the result back into it."""
        cdef int64_t result = 0
        self.run_calls(msg, address, <size_t>-1, buffer, 1, timeout_ms, &result, False)
        self.last_result = result
        return result

    def call_object(self, uint32_t msg, uint64_t address, size_t capacity, struct, out,
                    int64_t timeout_ms):
        """call() of ``struct`` through the buffer at ``address`` (``capacity``
        bytes): its answer, read into ``out`` or a new object (answer.pxi),
        the result left in ``last_result``.  None, having sent nothing, for
        a kind of request answer.pxi leaves to the facade, or one larger
        than ``capacity``."""
        cdef int64_t result = 0
        answer = answer_for(struct, out)
        if answer is None or not self.run_calls(msg, address, capacity, answer, 1, timeout_ms,
                                                &result, False):
            return None
        self.last_result = result
        return answer

    def bench(self, uint32_t msg, uint64_t address, buffer, Py_ssize_t n, int64_t timeout_ms):
        """``n`` calls in C; each one's duration in nanoseconds."""
        cdef int64_t *out
        if n < 0:
            raise ValueError("n must not be negative")
        out = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
        if out == NULL:
            raise MemoryError()
        try:
            self.run_calls(msg, address, <size_t>-1, buffer, n, timeout_ms, out, True)
            return [out[i] for i in range(n)]
        finally:
            free(out)

    cdef bint run_calls(self, uint32_t msg, uint64_t address, size_t capacity, buffer,
                        Py_ssize_t n, int64_t timeout_ms, int64_t *out, bint timed) except -1:
        """``n`` calls of ``buffer`` (writable) through ``address``, each
        one's result in ``out`` (``timed``: its duration in ns instead);
        False when the buffer is larger than ``capacity`` (nothing sent)."""
        cdef Py_buffer view, local
        cdef Failure f
        cdef int rc = 0
        cdef Py_ssize_t i
        cdef int64_t t0, result = 0
        cdef char *remote_copy = NULL     # the shared buffer's bytes here, if it is one
        self.enter(PROCESS_VM_READ | PROCESS_VM_WRITE, "process_vm_writev")
        try:
            self.endpoint()
            PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
            try:
                if <size_t>view.len > capacity:
                    return False
                remote_copy = self.shared.pin(address, view.len, &local)
                with nogil:
                    for i in range(n):
                        t0 = winipc_now_ns()
                        rc = self.call_once(msg, address, <char *>view.buf, view.len,
                                            remote_copy, timeout_ms, &result, &f)
                        if rc < 0:
                            break
                        out[i] = winipc_now_ns() - t0 if timed else result
                if rc < 0:
                    raise_failure(&f)
                return True
            finally:
                if remote_copy != NULL:
                    PyBuffer_Release(&local)
                PyBuffer_Release(&view)
        finally:
            self.leave()

    cdef int call_once(self, uint32_t msg, uint64_t address, char *data, size_t size,
                       char *remote_copy, int64_t timeout_ms, int64_t *result,
                       Failure *f) noexcept nogil:
        """One round trip of ``size`` bytes at ``data`` through ``address``
        (mapped here at ``remote_copy`` if it is a shared buffer): copy in,
        ring or send, copy the answer back; a small private buffer's bytes
        ride in the doorbell page (put_inline).  Inside enter(), connected."""
        cdef Request req
        cdef Reply rep
        cdef int rc = 0
        cdef int64_t deadline = deadline_after(timeout_ms)
        cdef uint32_t seq
        cdef bint inline = False
        if remote_copy != NULL:
            memcpy(remote_copy, data, size)
        rc = self.channel.take(deadline, "server SEND", f)
        if rc < 0:
            return rc
        if self.bell is not None:
            inline = self.bell.put_inline(data, size, remote_copy == NULL)
        if not inline and remote_copy == NULL:
            rc = vm_copy(self.pid, data, address, size, True, f)
        if rc == 0 and self.bell is not None:
            seq = self.channel.next_bell_seq()
            rc = self.bell.send(seq, msg, WINIPC_FLAG_INLINE if inline else 0, size,
                                address, deadline, self.spin_ns, result,
                                "server SEND (doorbell)", f)
            if rc < 0:
                self.bell.page_note(f, size if inline else 0)
            if winipc_bell_answered(self.bell.page, seq):
                self.bell.inline_owed = 0        # every earlier request is done too
            elif inline and f.started != 0:
                # Given up after the server took it: its answer will
                # still be copied to the page (doorbell.h).
                self.bell.inline_owed = seq
            if rc == 0 and inline:
                memcpy(data, winipc_bell_data(self.bell.page), size)
        elif rc == 0:
            memset(&req, 0, sizeof(req))
            req.op, req.msg, req.wparam, req.lparam = OP_SEND, msg, size, address
            rc = self.channel.transact(&req, &rep, deadline, -1, NULL, False, "server SEND", f)
            result[0] = rep.result
        self.channel.give()
        if rc < 0:
            if server_refused(f):
                self.refusal(f, msg, address, size, remote_copy, not inline)
        elif not inline:
            if remote_copy != NULL:
                memcpy(data, remote_copy, size)
            else:
                rc = vm_copy(self.pid, data, address, size, False, f)
        return rc
