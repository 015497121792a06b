#!/bin/sh
# Installs what gitc builds with: Debian -dev packages (needs root or sudo).
#   scripts/install-deps.sh                  the native build's packages
#   scripts/install-deps.sh --cross aarch64  the arm64 cross build's: Debian's
#       cross compiler, qemu-user, and the arm64 multiarch -dev packages
#       (adds the arm64 architecture to dpkg once)
# Another apt or dpkg at work (unattended upgrades, a second setup) is waited
# for, not a failure: dpkg's lock through DPkg::Lock::Timeout, the package
# lists' lock (which apt-get update takes without a timeout) by retrying.
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
LOCK_WAIT=${GITC_APT_LOCK_WAIT:-900}   # seconds to wait for another apt in all
RETRY_SLEEP=${GITC_APT_RETRY_SLEEP:-10}

# Runs apt-get with the arguments; while it fails because another apt holds a
# lock, waits and tries again, up to LOCK_WAIT seconds.
apt_get() {
    log=$(mktemp)
    waited=0
    while :; do
        status=0
        $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" 2>"$log" || status=$?
        if [ "$status" -eq 0 ]; then
            cat "$log" >&2
            rm -f "$log"
            return 0
        fi
        if ! grep -q -i -e "could not get lock" -e "unable to lock" -e "is another process using it" "$log" ||
            [ "$waited" -ge "$LOCK_WAIT" ]; then
            cat "$log" >&2
            rm -f "$log"
            return "$status"
        fi
        echo "install-deps: another apt or dpkg holds its lock; waiting ${RETRY_SLEEP}s..." >&2
        sleep "$RETRY_SLEEP"
        waited=$((waited + RETRY_SLEEP))
    done
}

# The -dev packages the library and the command link (one list for both builds).
DEV_PACKAGES="libcjson-dev libutf8proc-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libtiff-dev libavif-dev libheif-dev
    libmicrohttpd-dev"

if [ "${1:-}" = "--cross" ]; then
    [ "${2:-}" = aarch64 ] || { echo "install-deps: --cross takes aarch64 (got '${2:-}')" >&2; exit 2; }
    # Every package there already (dpkg says so): nothing to ask apt.
    missing=0
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1 || missing=1
    for p in $DEV_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "ok installed" || missing=1
    done
    [ "$missing" -eq 1 ] || exit 0
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
    fi
    apt_get update -qq
    # shellcheck disable=SC2086 # word splitting of the list is meant
    apt_get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu qemu-user cmake pkg-config \
        $(for p in $DEV_PACKAGES; do printf '%s:arm64 ' "$p"; done) >/dev/null
    exit 0
fi

apt_get update -qq
# shellcheck disable=SC2086 # word splitting of the list is meant
apt_get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config clang qemu-user $DEV_PACKAGES \
    python3 python3-pytest python3-numpy python3-pil python3-distributed \
    chromium chromium-driver python3-selenium >/dev/null
# node and npm run the official JavaScript clients against gitc serve (tests/clients); a
# machine that has them already (another packaging of Node.js) keeps its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
