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
                    cls=AccessDenied)
    return path


def _title_link(title):
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:40]
    return os.path.join(endpoint_dir(), "w-" + digest)


def _pid_link(pid):
    return os.path.join(endpoint_dir(), f"p-{pid}")


def _socket_path(tid):
    return os.path.join(endpoint_dir(), f"s-{tid}.sock")


def _connect(path, missing, detail):
    """Connect to the endpoint at ``path``: (socket, peer pid).  A missing or
    dead endpoint raises ``missing`` with ``detail``."""
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


def find_window(title):
    """(handle, pid, tid) of the server titled ``title``; on Linux the handle
    is the dispatch thread's id."""
    link = _title_link(title)
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        raise_errno(2, "readlink", f"no server window titled {title!r}", cls=WindowNotFound)
    name = os.path.basename(target)
    if not (name.startswith("s-") and name.endswith(".sock") and name[2:-5].isdigit()):
        # Not a link any winipc server made: the folder is this user's own,
        # so someone of this user put it there.
        raise_errno(2, "readlink", f"the link of title {title!r} points at {target!r}, "
                    "which is not a winipc endpoint", cls=WindowNotFound)
    s, pid = _connect(link, WindowNotFound, f"no server window titled {title!r}")
    s.close()
    tid = int(name[2:-5])
    return tid, pid, tid


