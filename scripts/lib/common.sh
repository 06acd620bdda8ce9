# Shared by the project's scripts: paths, logging and installing Debian packages.
# shellcheck shell=bash

SHOAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SHOAL_ROOT
export PATH="/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

require_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (network namespaces); run as root or skip it"
}

# `apt-get update`, at most once per script run.
apt_updated=0
apt_update_once() {
    ((apt_updated)) && return 0
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
}

# Installs the Debian packages listed in scripts/packages/<list>.txt that are missing.
# Runs `apt-get update` once, and only when something has to be installed.
install_packages() {
    local wanted=() missing=() list pkg
    for list in "$@"; do
        while IFS= read -r pkg; do
            pkg="${pkg%%#*}"
            pkg="${pkg//[[:space:]]/}"
            [[ -n $pkg ]] && wanted+=("$pkg")
        done <"$SHOAL_ROOT/scripts/packages/$list.txt"
    done
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    require_root "installing ${missing[*]}"
    log "installing Debian packages: ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null >/dev/null || die "apt-get install ${missing[*]} failed"
}
