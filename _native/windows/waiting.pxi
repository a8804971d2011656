# Asynchronous waits (winipc/_aio.py).  (Part of _kernel.pyx.)
#
# An asynchronous wait registers the object with the thread pool
# (RegisterWaitForSingleObject: one pool thread waits for many handles, no
# thread per wait).  That thread's wait has the wait's effect: it takes a
# semaphore count or an auto-reset event's signal on the waiter's behalf
# (neither belongs to a thread), or becomes a mutex's owner, and then gives
# the mutex back at once (a mutex belongs to the thread that waited; the
# waiter's own thread takes it after).  The callback then sets an Event of
# the wait's own, which the event loop's proactor waits for; waiting on that
# Event has no effect, as the proactor requires.

cdef struct WaitContext:
    HANDLE object           # a duplicate: closing the object meanwhile is harmless
    HANDLE notify           # manual-reset: set once the callback has run
    int kind
    int fired


cdef void __stdcall _on_signalled(void *arg, unsigned char timed_out) noexcept nogil:
    cdef WaitContext *c = <WaitContext *>arg
    if c.kind == K_MUTEX:
        ReleaseMutex(c.object)
    c.fired = 1
    SetEvent(c.notify)


cdef bint _auto_reset(HANDLE h) noexcept:
    """Whether event ``h`` is auto-reset; False when that cannot be told."""
    return wipc_event_auto_reset(h) != 0


cdef class Waiting:
    """One asynchronous wait: ``handle`` (an Event) is set when it is over;
    finish() or cancel() unregisters it and closes what it used."""
    cdef WaitContext c
    cdef HANDLE wait

    def __cinit__(self):
        memset(&self.c, 0, sizeof(WaitContext))
        self.wait = NULL

    @staticmethod
    cdef Waiting start(KObject obj):
        cdef Waiting self = Waiting.__new__(Waiting)
        cdef HANDLE me = GetCurrentProcess()
        self.c.kind = obj.kind
        if not DuplicateHandle(me, obj._get(), me, &self.c.object, 0, 0, DUPLICATE_SAME_ACCESS):
            raise_winerror(win32.GetLastError(), "DuplicateHandle")
        self.c.notify = CreateEventW(NULL, 1, 0, NULL)
        if self.c.notify == NULL:
            raise_winerror(win32.GetLastError(), "CreateEventW")
        if not RegisterWaitForSingleObject(&self.wait, self.c.object, _on_signalled, &self.c,
                                           INFINITE, WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD):
            self.wait = NULL
            raise_winerror(win32.GetLastError(), "RegisterWaitForSingleObject")
        return self

    @property
    def handle(self):
        return <size_t>self.c.notify

    cdef void unregister(self) noexcept:
        cdef HANDLE w = self.wait
        self.wait = NULL
        if w != NULL:
            with nogil:
                # INVALID_HANDLE_VALUE: returns once a running callback is done.
                UnregisterWaitEx(w, INVALID_HANDLE_VALUE)

    cdef void release(self) noexcept:
        self.unregister()
        if self.c.notify != NULL:
            win32.CloseHandle(self.c.notify)
            self.c.notify = NULL
        if self.c.object != NULL:
            win32.CloseHandle(self.c.object)
            self.c.object = NULL

    def finish(self):
        """Once handle is set: WAIT_OBJECT_0 (taken; a mutex: it was free)."""
        self.release()
        return win32.WAIT_OBJECT_0

    def cancel(self):
        """Stop waiting; a count or an auto-reset signal the pool's wait had
        taken already is given back."""
        self.unregister()
        if self.c.fired:
            if self.c.kind == K_SEMAPHORE:
                ReleaseSemaphore(self.c.object, 1, NULL)
            elif self.c.kind == K_EVENT and _auto_reset(self.c.object):
                SetEvent(self.c.object)
        self.release()

    def __dealloc__(self):
        self.release()
