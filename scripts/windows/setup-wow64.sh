#!/usr/bin/env bash
# 32-bit Windows programs under Wine, in the same prefix and wineserver as the
# 64-bit ones (Wine 8's WoW64: a 32-bit program is a real i386 process).  Run
# by setup.sh once the 64-bit Wine and the prefix exist; it can be run alone:
#   1. the i386 architecture for dpkg and libc6:i386 (the same version as
#      the installed amd64 libc6, so never a downgrade), with apt-get;
#   2. Debian's wine32 and libwine for i386, of exactly the installed wine64's
#      version, downloaded into .cache/windows/download/wine32 and checked
#      (apt-get download checks them against the index; a copy fetched from
#      the pool when the index does not have them is checked against
#      WINE32_SHA256), then unpacked into .cache/windows/wine (WINE_TREE)
#      beside a copy of wine64: Wine 8 starts a 32-bit program with the
#      `wine` it finds next to the `wine64` that runs it.  Nothing of them is
#      installed into the system: `apt-get install wine32:i386` would pull
#      about a hundred i386 libraries, and fails outright on a day the
#      mirror's i386 index is mid-sync (its older versions would force a
#      downgrade of amd64 libraries).  Wine's core needs only libc6:i386.
#   3. the prefix's syswow64 filled from the i386 DLL folder (a prefix made
#      by the 64-bit Wine alone has an empty one);
#   4. a check that the prefix runs bitness.c as a 32-bit WoW64 process and
#      as a 64-bit one (both built by zig, zigcc).
# Idempotent: each step leaves a stamp in .cache/windows/stamps; a second run
# takes a fraction of a second.  An `apt-get update` that reports errors (a
# mirror mid-sync) is not fatal: the steps go on with the indexes there are,
# and say what failed if they then cannot.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/env.sh"
# log, die, the stamps, wineserver_stop
. "$here/setup-lib.sh" 'windows setup, 32-bit'

changed=0
t0=$SECONDS

sudo=()
need_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#sudo[@]} = 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: cannot $1"
        sudo=(sudo -n)
    fi
}
apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    apt_updated=1
    timeout 900 "${sudo[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null \
        || log "apt-get update reported errors (a mirror mid-sync?); going on with the indexes there are"
}

[ -x "$WINE_SYSTEM" ] || die "no $WINE_SYSTEM: run scripts/windows/setup.sh (it installs wine64)"
mkdir -p "$WIN_CACHE"
# Called by setup.sh, which holds the setup lock already; alone, take it.
if [ -z "${WINIPC_SETUP_LOCKED:-}" ]; then
    exec 9>"$WIN_CACHE/setup.lock"
    flock -w 900 9 || die "another setup holds $WIN_CACHE/setup.lock"
fi

# --- 1. i386 libc ---------------------------------------------------------------
libc_version="$(dpkg-query -W -f='${Version}' libc6:amd64)"
if ! dpkg-query -W -f='${Status}' libc6:i386 2>/dev/null | grep -q 'install ok installed' \
        || [ "$(dpkg-query -W -f='${Version}' libc6:i386)" != "$libc_version" ]; then
    command -v apt-get >/dev/null || die "no apt-get: install libc6:i386 yourself"
    need_root "install libc6:i386"
    export DEBIAN_FRONTEND=noninteractive
    if ! dpkg --print-foreign-architectures | grep -qx i386; then
        log "adding the i386 architecture to dpkg"
        "${sudo[@]}" dpkg --add-architecture i386
    fi
    log "installing libc6:i386=$libc_version with apt-get"
    install=(timeout 900 "${sudo[@]}" apt-get install -y -q --no-install-recommends
             -o DPkg::Lock::Timeout=300 "libc6:i386=$libc_version")
    apt_update
    if ! "${install[@]}" </dev/null; then
        log "apt-get install failed; one more try after a fresh apt-get update in 30 s"
        sleep 30
        apt_updated=0
        apt_update
        "${install[@]}" </dev/null \
            || die "apt-get could not install libc6:i386=$libc_version (see above)"
    fi
    changed=1
fi

# --- 2. The 32-bit Wine, beside a copy of wine64 ------------------------------
wine_version="$(dpkg-query -W -f='${Version}' wine64)"
tree_conf="$wine_version $(sha256sum "$WINE_SYSTEM" | cut -d' ' -f1) zlib1"
if ! stamp_ok wine32 "$tree_conf" || [ ! -x "$WINE" ] || [ ! -x "$WINE_TREE/usr/lib/wine/wine" ]; then
    stamp_del wine32
    dl="$WIN_CACHE/download/wine32"
    mkdir -p "$dl"
    debs=()
    missing=()
    for pkg in wine32 libwine; do
        deb="$dl/${pkg}_${wine_version}_i386.deb"
        if [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Package Version Architecture 2>/dev/null | tr '\n' ' ')" \
                                = "Package: $pkg Version: $wine_version Architecture: i386 " ]; then
            debs+=("$deb")
        else
            rm -f "$deb"
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "downloading ${missing[*]} (i386, $wine_version) into $dl"
        need_root "run apt-get update"
        tmp="$(mktemp -d "$dl/.get.XXXXXX")"
        chmod 755 "$tmp"
        # (as root, apt would hand the download to its _apt user, which
        # cannot write here, and say so)
        sandbox=()
        [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
        for pkg in "${missing[@]}"; do
            deb="${pkg}_${wine_version}_i386.deb"
            # apt-get download checks the file against the (signed) index.
            if ! (cd "$tmp" && timeout 900 apt-get download -q "${sandbox[@]}" "$pkg:i386=$wine_version" </dev/null); then
                apt_update
                (cd "$tmp" && timeout 900 apt-get download -q "${sandbox[@]}" "$pkg:i386=$wine_version" </dev/null) || true
            fi
            got="$(ls "$tmp"/"${pkg}"_*_i386.deb 2>/dev/null | head -n1 || true)"
            if [ -z "$got" ]; then
                # No index lists that version today: fetch it from the pool
                # and accept it only with the pinned hash.
                want="$(printf '%s\n' $WINE32_SHA256 | awk -F= -v p="$pkg" -v v="$wine_version" '$1 == p && $2 == v { print $3 }')"
                [ -n "$want" ] || die "no i386 index lists $pkg $wine_version and WINE32_SHA256 has no hash for it"
                log "no index lists $pkg:i386 $wine_version; fetching it from the pool (sha256 pinned)"
                url="$WINE32_POOL/${pkg}_${wine_version//\~/%7E}_i386.deb"
                timeout 900 "$BASE_PYTHON" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
                    "$url" "$tmp/$deb" </dev/null || die "could not fetch $url"
                echo "$want  $tmp/$deb" | sha256sum -c --status || die "$url: wrong sha256"
                got="$tmp/$deb"
            fi
            mv "$got" "$dl/$deb"
            debs+=("$dl/$deb")
        done
        rm -rf "$tmp"
    fi
    log "unpacking the 32-bit Wine into $WINE_TREE"
    rm -rf "$WINE_TREE" "$WINE_TREE.tmp"
    for deb in "${debs[@]}"; do
        dpkg-deb -x "$deb" "$WINE_TREE.tmp"
    done
    rm -rf "$WINE_TREE.tmp/usr/share/doc" "$WINE_TREE.tmp/usr/share/bug" "$WINE_TREE.tmp/usr/share/lintian"
    # The server stays the system's (WINESERVER): one wineserver for both.
    rm -f "$WINE_TREE.tmp/usr/lib/wine/wineserver" "$WINE_TREE.tmp/usr/lib/wine/wineserver32"
    [ -x "$WINE_TREE.tmp/usr/lib/wine/wine" ] || die "wine32's deb has no usr/lib/wine/wine"
    # What libwine's postinst would do: Wine's user32 imports zlib1.dll, the
    # one of libz-mingw-w64 (installed with wine64), marked as a Wine builtin.
    zlib=(/usr/i686-w64-mingw32/lib/zlib*.dll)
    [ -f "${zlib[0]}" ] || die "no /usr/i686-w64-mingw32/lib/zlib*.dll (Debian's libz-mingw-w64, which wine64 brings)"
    for in in "${zlib[@]}"; do
        out="$WINE_TREE.tmp/usr/lib/i386-linux-gnu/wine/i386-windows/$(basename "$in")"
        { head -c 64 "$in"; printf 'Wine builtin DLL'; head -c 16 /dev/zero; tail -c +97 "$in"; } >"$out"
    done
    # wine64 loads ../x86_64-linux-gnu/wine/x86_64-unix/ntdll.so relative to
    # itself: a copy (not a link, which it would resolve back to /usr/lib/wine)
    # and a link to the system's 64-bit libraries.
    cp "$WINE_SYSTEM" "$WINE_TREE.tmp/usr/lib/wine/wine64"
    mkdir -p "$WINE_TREE.tmp/usr/lib/x86_64-linux-gnu"
    ln -s /usr/lib/x86_64-linux-gnu/wine "$WINE_TREE.tmp/usr/lib/x86_64-linux-gnu/wine"
    mv "$WINE_TREE.tmp" "$WINE_TREE"
    stamp_set wine32 "$tree_conf"
fi

# env.sh chose the system's wine64 if this tree was not there yet when it
# was read (a fresh machine): from here on the tree's runs both bitnesses.
if [ "$WINE" = "$WINE_SYSTEM" ] && [ -x "$WINE_TREE/usr/lib/wine/wine64" ]; then
    WINE="$WINE_TREE/usr/lib/wine/wine64"
    export WINE
fi

# --- 3. The prefix's syswow64 ---------------------------------------------------
i386_dlls="$WINE_TREE/usr/lib/i386-linux-gnu/wine/i386-windows"
syswow64="$WINEPREFIX/drive_c/windows/syswow64"
if [ -f "$WINEPREFIX/system.reg" ]; then
    if ! stamp_ok syswow64 "$tree_conf" || [ ! -f "$syswow64/kernel32.dll" ]; then
        log "filling $syswow64 from $i386_dlls"
        stamp_del syswow64
        mkdir -p "$syswow64"
        # The DLLs Wine itself would place there (its builtin PE DLLs),
        # overwriting only what came from Wine.
        cp -a "$i386_dlls/." "$syswow64/"
        stamp_set syswow64 "$tree_conf"
    fi
else
    log "no prefix yet ($WINEPREFIX): syswow64 is filled once setup.sh has made it"
fi

# --- 4. Check -------------------------------------------------------------------
# Until it has passed, every run checks again.
[ "$changed" = 0 ] || stamp_del wow64-checked
if [ -f "$WINEPREFIX/system.reg" ] && ! stamp_ok wow64-checked "$tree_conf zig"; then
    log "checking that the prefix runs 32-bit and 64-bit programs"
    out="$WIN_BUILD/bitness"
    mkdir -p "$out"
    "$WIN_CC" "$WIN_TARGET32" -O2 -Wall -s -o "$out/bitness32.exe" "$here/bitness.c" -luser32 \
        || die "zig cc could not build bitness.c for $WIN_TARGET32"
    "$WIN_CC" "$WIN_TARGET64" -O2 -Wall -s -o "$out/bitness64.exe" "$here/bitness.c" -luser32 \
        || die "zig cc could not build bitness.c for $WIN_TARGET64"
    for bits in 32 64; do
        # (stderr apart: a 32-bit gdi32 says there is no 32-bit FreeType,
        # which only text drawing would need)
        want="$([ "$bits" = 32 ] && echo "4 1 WOW" || echo "8 0 WOW")"
        got="$(timeout -k 10 120 "$WINE" "$out/bitness$bits.exe" </dev/null \
               2>"$out/bitness$bits.err" | tr -d '\r')"
        [ "$got" = "$want" ] || cat "$out/bitness$bits.err" >&2
        [ "$got" = "$want" ] || die "bitness$bits.exe printed '$got', not '$want' (pointer bytes, WoW64, user32's CharUpperA)"
        log "bitness$bits.exe: $got"
    done
    wineserver_stop
    stamp_set wow64-checked "$tree_conf zig"
    log "done in $((SECONDS - t0)) s"
fi
