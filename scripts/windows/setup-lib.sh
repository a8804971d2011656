# shellcheck shell=bash
# Helpers of setup.sh and setup-wow64.sh, sourced by both after env.sh with
# the prefix of their messages:
#     . "$here/setup-lib.sh" 'windows setup'
# (not part of env.sh, which a developer may source into an interactive
# shell: there, die would end the shell).
# Each step of a setup leaves a stamp in $WIN_CACHE/stamps (a file that holds
# what the step was done with) and is skipped while its stamp matches;
# stamp_set also sets the caller's `changed` to 1.

setup_log_prefix="${1:?setup-lib.sh: the prefix of the messages, e.g. . setup-lib.sh 'windows setup'}"

log() { printf '[%s] %s\n' "$setup_log_prefix" "$*" >&2; }
die() { log "error: $*"; exit 1; }
stamp_ok() { [ -f "$WIN_CACHE/stamps/$1" ] && [ "$(cat "$WIN_CACHE/stamps/$1")" = "$2" ]; }
# shellcheck disable=SC2034  # `changed` is the caller's
stamp_set() { mkdir -p "$WIN_CACHE/stamps"; printf '%s\n' "$2" >"$WIN_CACHE/stamps/$1"; changed=1; }
stamp_del() { rm -f "$WIN_CACHE/stamps/$1"; }

# Waits for the prefix's processes to end (this flushes the registry to
# disk); kills whatever is still there after a while.
wineserver_stop() {
    timeout 120 "$WINESERVER" -w 2>/dev/null || "$WINESERVER" -k 2>/dev/null || true
}
