# The Linux calls behind process-memory RPC, grouped by header.  Only what is used.

from libc.stdint cimport uint32_t, uint64_t
from posix.uio cimport iovec
from posix.time cimport timespec, clock_gettime, CLOCK_REALTIME

cdef extern from "<sys/uio.h>" nogil:
    # https://man7.org/linux/man-pages/man2/process_vm_readv.2.html
    ssize_t process_vm_readv(int pid, const iovec *local_iov, unsigned long liovcnt,
                             const iovec *remote_iov, unsigned long riovcnt,
                             unsigned long flags)
    ssize_t process_vm_writev(int pid, const iovec *local_iov, unsigned long liovcnt,
                              const iovec *remote_iov, unsigned long riovcnt,
                              unsigned long flags)

cdef extern from "<sys/syscall.h>" nogil:
    # https://man7.org/linux/man-pages/man2/pidfd_open.2.html (glibc 2.36 has no wrapper
    # on every distribution, so call it by number)
    long syscall(long number, ...)
    enum:
        SYS_pidfd_open
        SYS_gettid

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    struct ucred:
        int pid
        unsigned int uid
        unsigned int gid
    enum:
        AF_UNIX
        SOCK_SEQPACKET
        SOCK_DGRAM
        SOCK_CLOEXEC
        SOCK_NONBLOCK
        SOL_SOCKET
        SO_PEERCRED
        SCM_RIGHTS
        MSG_NOSIGNAL
        MSG_CMSG_CLOEXEC
        MSG_DONTWAIT
        MSG_TRUNC
        SHUT_RD
        SHUT_RDWR
    # https://man7.org/linux/man-pages/man2/socket.2.html and the pages it links
    int socket(int domain, int type, int protocol)
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int listen(int fd, int backlog)
    int accept4(int fd, sockaddr *addr, socklen_t *len, int flags)
    int connect(int fd, const sockaddr *addr, socklen_t len)
    ssize_t send(int fd, const void *buf, size_t len, int flags)
    ssize_t recv(int fd, void *buf, size_t len, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    ssize_t sendto(int fd, const void *buf, size_t len, int flags, const sockaddr *addr,
                   socklen_t addrlen)
    ssize_t recvmsg(int fd, msghdr *msg, int flags)
    int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
    int shutdown(int fd, int how)
    # https://man7.org/linux/man-pages/man3/cmsg.3.html
    cmsghdr *CMSG_FIRSTHDR(msghdr *msg)
    unsigned char *CMSG_DATA(cmsghdr *c)
    size_t CMSG_SPACE(size_t length)
    size_t CMSG_LEN(size_t length)

cdef extern from "<sys/un.h>" nogil:
    struct sockaddr_un:
        sa_family_t sun_family
        char sun_path[108]

cdef extern from "<sched.h>" nogil:
    ctypedef struct cpu_set_t:
        pass
    # https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html, CPU_SET(3)
    int sched_getaffinity(int pid, size_t cpusetsize, cpu_set_t *mask)
    int sched_setaffinity(int pid, size_t cpusetsize, const cpu_set_t *mask)
    int CPU_COUNT(cpu_set_t *mask)
    void CPU_CLR(int cpu, cpu_set_t *mask)

cdef extern from "<poll.h>" nogil:
    # https://man7.org/linux/man-pages/man2/poll.2.html
    struct pollfd:
        int fd
        short events
        short revents
    ctypedef unsigned long nfds_t
    int poll(pollfd *fds, nfds_t nfds, int timeout)
    enum:
        POLLIN
        POLLHUP
        POLLERR
        POLLNVAL

cdef extern from "<sys/eventfd.h>" nogil:
    # https://man7.org/linux/man-pages/man2/eventfd.2.html
    int eventfd(unsigned int initval, int flags)
    int eventfd_write(int fd, uint64_t value)
    int eventfd_read(int fd, uint64_t *value)
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK

cdef extern from "<sys/prctl.h>" nogil:
    # https://man7.org/linux/man-pages/man2/PR_SET_PTRACER.2const.html
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
              unsigned long arg5)
    enum:
        PR_SET_PTRACER
    unsigned long PR_SET_PTRACER_ANY

cdef extern from "<pthread.h>" nogil:
    # https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    # https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html
    int pthread_mutex_timedlock(pthread_mutex_t *m, const timespec *abstime)
    int pthread_mutex_trylock(pthread_mutex_t *m)

cdef extern from "<semaphore.h>" nogil:
    # https://man7.org/linux/man-pages/man3/sem_init.3.html: a lock with no
    # owning thread (a call split across an event loop's steps holds it)
    ctypedef struct sem_t:
        pass
    int sem_init(sem_t *s, int pshared, unsigned int value)
    int sem_destroy(sem_t *s)
    int sem_post(sem_t *s)
    int sem_trywait(sem_t *s)
    # https://man7.org/linux/man-pages/man3/sem_timedwait.3.html
    int sem_timedwait(sem_t *s, const timespec *abstime)


cdef extern from "<sys/mman.h>" nogil:
    # https://man7.org/linux/man-pages/man2/memfd_create.2.html
    int memfd_create(const char *name, unsigned int flags)
    enum:
        MFD_CLOEXEC
        MFD_ALLOW_SEALING

cdef extern from "<fcntl.h>" nogil:
    # https://man7.org/linux/man-pages/man2/F_ADD_SEALS.2const.html
    int fcntl(int fd, int cmd, ...)
    enum:
        F_ADD_SEALS
        F_SEAL_SHRINK
        F_SEAL_GROW
        F_SEAL_SEAL
        O_RDONLY
        O_CLOEXEC
        O_NONBLOCK
    int c_open "open"(const char *path, int flags)

cdef extern from "<unistd.h>" nogil:
    # https://man7.org/linux/man-pages/man2/pipe.2.html
    int pipe2(int *fds, int flags)

cdef extern from "<sys/stat.h>" nogil:
    # https://man7.org/linux/man-pages/man2/fchmod.2.html
    int fchmod(int fd, unsigned int mode)

cdef extern from "<unistd.h>" nogil:
    # https://man7.org/linux/man-pages/man2/ftruncate.2.html
    int ftruncate(int fd, long length)

cdef extern from "<sys/socket.h>" nogil:
    cmsghdr *CMSG_NXTHDR(msghdr *msg, cmsghdr *c)
    enum:
        MSG_CTRUNC

cdef extern from "<errno.h>" nogil:
    enum:
        EMFILE
        ENFILE

cdef extern from "<pthread.h>" nogil:
    # https://man7.org/linux/man-pages/man3/pthread_create.3.html
    ctypedef unsigned long pthread_t
    int pthread_join(pthread_t t, void **retval)

cdef extern from "standby.h" nogil:
    # The server's baton (standby.h says who holds it when)
    void winipc_baton_put_down(uint32_t *b)
    int winipc_baton_pick_up(uint32_t *b)
    void winipc_baton_wait(uint32_t *b)
    int winipc_baton_take(uint32_t *b)
    void winipc_baton_give_back(uint32_t *b)
    int winipc_start_thread(pthread_t *t, void *(*fn)(void *) noexcept nogil, void *arg)
    void winipc_flag_raise(uint32_t *f)
    void winipc_flag_wait(uint32_t *f)
