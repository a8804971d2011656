# The Linux calls behind kernel objects, grouped by header.  Only what is used.

from libc.stdint cimport uint32_t, uint64_t
from posix.time cimport timespec, clockid_t

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass

cdef extern from "<sys/syscall.h>" nogil:
    # https://man7.org/linux/man-pages/man2/pidfd_getfd.2.html (no glibc wrapper before 2.36)
    long syscall(long number, ...)
    enum:
        SYS_pidfd_getfd

cdef extern from "<fcntl.h>" nogil:
    # https://man7.org/linux/man-pages/man2/linkat.2.html (publishes an O_TMPFILE file)
    int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
    enum:
        AT_FDCWD
        AT_SYMLINK_FOLLOW

cdef extern from "<sys/mman.h>" nogil:
    # https://man7.org/linux/man-pages/man2/memfd_create.2.html
    int memfd_create(const char *name, unsigned int flags)
    enum:
        MFD_CLOEXEC

cdef extern from "kernel_sync.h" nogil:
    # the shared header of every object and the futex/robust-mutex primitives
    enum:
        WIPC_MAGIC
        WIPC_VERSION
        WIPC_ABANDONED
        WIPC_MUTEX
        WIPC_EVENT
        WIPC_SEMAPHORE
        WIPC_MAPPING
    ctypedef struct wipc_event:
        uint32_t state
        uint32_t manual
    ctypedef struct wipc_semaphore:
        uint32_t count
        uint32_t maximum
    ctypedef union wipc_body:
        pthread_mutex_t mutex
        wipc_event event
        wipc_semaphore semaphore
    ctypedef struct wipc_header:
        uint32_t magic
        uint32_t kind
        uint32_t version
        uint32_t data_offset
        uint64_t size
        wipc_body u

    timespec *wipc_deadline(timespec *ts, clockid_t clock, long long ns)
    int wipc_passed(const timespec *deadline, clockid_t clock)
    int wipc_mutex_init(pthread_mutex_t *m)
    int wipc_mutex_lock(pthread_mutex_t *m, const timespec *deadline)
    int wipc_mutex_unlock(pthread_mutex_t *m)
    int wipc_event_wait(wipc_event *ev, const timespec *deadline)
    int wipc_event_set(wipc_event *ev)
    void wipc_event_reset(wipc_event *ev)
    int wipc_semaphore_wait(wipc_semaphore *s, const timespec *deadline)
    int wipc_semaphore_release(wipc_semaphore *s, uint32_t n, uint32_t *previous)
    # waits for asyncio (a thread of its own per wait; see kernel_sync.h)
    ctypedef struct wipc_waiting:
        wipc_header *hdr
        int kind
        uint32_t cancel
        int efd
        int result
    void *wipc_wait_thread(void *arg) noexcept nogil
    void wipc_wait_cancel(wipc_waiting *w)

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t *thread, const void *attr, void *(*start)(void *) noexcept nogil,
                       void *arg)
    int pthread_join(pthread_t thread, void **retval)

cdef extern from "<sys/eventfd.h>" nogil:
    int eventfd(unsigned int initval, int flags)
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK
