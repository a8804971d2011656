# Endpoints: where a server's socket lives and how a client finds it.
# (Part of _rpc.pyx.)


def endpoint_dir():
    """The per-user folder of server endpoints: $WINIPC_RUNTIME_DIR, else
    $XDG_RUNTIME_DIR/winipc, else /tmp/winipc-<uid>; created 0700 and refused
    unless it is ours and private."""
    path = os.environ.get("WINIPC_RUNTIME_DIR")
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        path = os.path.join(xdg, "winipc") if xdg else f"/tmp/winipc-{os.geteuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if (not _stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()
            or st.st_mode & 0o077):
        raise_errno(1, "endpoint_dir", f"{path} must be a directory of this user with mode 0700",
                    cls="AccessDenied")
    return path


def _title_prefix(title):
    """Every server titled ``title`` has a link named this plus
    ".<start time in ns>-<thread id>", to its socket: several may share a
    title, as windows may, and the newest live one answers."""
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:40]
    return os.path.join(endpoint_dir(), "w-" + digest)


def _title_links(title):
    """The links of the servers titled ``title``, newest first."""
    prefix = _title_prefix(title)
    folder, base = os.path.split(prefix)
    found = []
    for name in os.listdir(folder):
        stamp = name[len(base) + 1:]
        if name.startswith(base + ".") and "-" in stamp:
            start, _, tid = stamp.partition("-")
            if start.isdigit() and tid.isdigit():
                found.append((int(start), os.path.join(folder, name)))
    return [link for _, link in sorted(found, reverse=True)]


def _title_link(title):
    """The link of the newest live server titled ``title``."""
    return _find(title)[0]


def _pid_link(pid):
    return os.path.join(endpoint_dir(), f"p-{pid}")


def _socket_path(tid):
    return os.path.join(endpoint_dir(), f"s-{tid}.sock")


def _sweep():
    """Remove the endpoint entries of servers that are gone (a server ended
    by a signal leaves its socket, kick socket and links behind): a socket
    whose thread no longer exists and that refuses connections, then every
    link left dangling.  Best effort; another user's folder is never ours."""
    folder = endpoint_dir()
    names = os.listdir(folder)
    for name in names:
        if not (name.startswith("s-") and name.endswith(".sock") and name[2:-5].isdigit()):
            continue
        if os.path.exists(f"/proc/{name[2:-5]}"):
            continue
        path = os.path.join(folder, name)
        probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            probe.connect(path)
            continue                    # it answers: alive after all
        except (ConnectionRefusedError, FileNotFoundError):
            pass
        except OSError:
            continue
        finally:
            probe.close()
        for stale in (path, _kick_path(path), _name_path(path)):
            try:
                os.unlink(stale)
            except OSError:
                pass
    for name in names:
        if name.startswith(("p-", "w-", "k-", "n-")):
            path = os.path.join(folder, name)
            try:
                if name.startswith("k-"):
                    gone = not os.path.exists(os.path.join(folder, "s-" + name[2:]))
                elif name.startswith("n-"):
                    gone = (name.endswith(".title") and not os.path.exists(
                        os.path.join(folder, "s-" + name[2:-6] + ".sock")))
                else:
                    gone = os.path.islink(path) and not os.path.exists(path)
                if gone:
                    os.unlink(path)
            except OSError:
                pass


def _kick_path(socket_path):
    """Where a server's standby thread is kicked (a datagram socket beside
    its endpoint ``s-<tid>.sock``): ``k-<tid>.sock``."""
    folder, name = os.path.split(socket_path)
    return os.path.join(folder, "k-" + name[2:])


def _name_path(socket_path):
    """Where a server writes its title, which its links carry only as a
    hash (``python -m winipc ls`` reads it): ``n-<tid>.title``."""
    folder, name = os.path.split(socket_path)
    return os.path.join(folder, "n-" + name[2:-5] + ".title")


class _EndpointFiles:
    """The files of one serving endpoint, in endpoint_dir(): its socket, its
    standby thread's kick socket, the file with its title, and its links (by
    title and by pid).  Made before serving, removed after it, whatever
    happened between (ServerCore.run)."""

    def __init__(self, title, tid):
        self.title = title
        self.tid = tid
        self.path = _socket_path(tid)
        self.kick_path = _kick_path(self.path)
        self.name_file = _name_path(self.path)
        self.links = [f"{_title_prefix(title)}.{time.time_ns()}-{tid}", _pid_link(getpid())]

    def bind(self, sock, kick):
        """Binds the endpoint's socket (listening) and the kick socket, each
        for the owner only, over files a dead thread with our id left."""
        self._remove_files()
        sock.bind(self.path)
        os.chmod(self.path, 0o600)
        sock.listen(128)
        kick.bind(self.kick_path)       # after its twin: _sweep() keeps it then
        os.chmod(self.kick_path, 0o600)

    def publish(self):
        """Makes the endpoint findable: its links, and its title for
        ``python -m winipc ls`` (links carry only its hash)."""
        self._link(self.links[0], replace=True)
        self._link(self.links[1], replace=False)
        with open(os.open(self.name_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                          | os.O_NOFOLLOW, 0o600), "w", encoding="utf-8") as f:
            f.write(self.title)

    def remove(self):
        """Removes every file of the endpoint, and each link only while it
        still points at our socket (a newer server may have taken it)."""
        for link in self.links:
            try:
                if os.readlink(link) == os.path.basename(self.path):
                    os.unlink(link)
            except OSError:
                pass
        self._remove_files()

    def _remove_files(self):
        for old in (self.path, self.kick_path, self.name_file):
            try:
                os.unlink(old)
            except OSError:
                pass

    def _link(self, link, replace):
        """Point ``link`` at our socket: atomically, and only over a live
        endpoint when ``replace``."""
        if not replace and os.path.lexists(link):
            try:
                _connect(link, "NoSuchProcess", None)[0].close()
                return
            except OSError:
                pass
        tmp = f"{link}.{self.tid}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(os.path.basename(self.path), tmp)
        os.replace(tmp, link)


# The errno values of an endpoint that is missing or dead (its server gone).
cdef tuple ENDPOINT_GONE = (ENOENT, ECONNREFUSED)


def _connect(path, missing, detail):
    """Connect to the endpoint at ``path``: (socket, peer pid).  A missing or
    dead endpoint raises the winipc error named ``missing`` (its errno one of
    ENDPOINT_GONE) with ``detail``."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        s.close()
        raise_errno(e.errno, "connect", detail, cls=missing)
    except OSError as e:
        s.close()
        raise_errno(e.errno, "connect")
    pid, uid, gid = _struct.unpack("3i", s.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                      _struct.calcsize("3i")))
    return s, pid


def _find(title):
    """(link, socket name, pid) of the newest live server titled ``title``;
    links of servers that are gone are removed on the way."""
    for link in _title_links(title):
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            continue
        name = os.path.basename(target)
        if not (name.startswith("s-") and name.endswith(".sock") and name[2:-5].isdigit()):
            # Not a link any winipc server made: the folder is this user's
            # own, so someone of this user put it there.  Pass it by.
            continue
        try:
            s, pid = _connect(link, "WindowNotFound", None)
        except OSError as e:
            if e.errno not in ENDPOINT_GONE:
                raise
            try:
                os.unlink(link)         # its server is gone
            except OSError:
                pass
            continue
        s.close()
        return link, name, pid
    raise_errno(2, "find_window", f"no server window titled {title!r} (no live endpoint "
                f"of that title in {endpoint_dir()}, the folder this process looks in: "
                "$WINIPC_RUNTIME_DIR, else $XDG_RUNTIME_DIR/winipc, else /tmp/winipc-<uid>)",
                cls="WindowNotFound")


def find_window(title):
    """(handle, pid, tid) of the newest server titled ``title``; on Linux the
    handle is the dispatch thread's id."""
    link, name, pid = _find(title)
    tid = int(name[2:-5])
    return tid, pid, tid
