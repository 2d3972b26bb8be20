#!/usr/bin/env bash
# Installs the Debian packages the project uses, where this machine allows it (root with apt-get).
# Usage: scripts/system-packages.sh PACKAGE...   Prints what it did; never fails the build by itself:
# whatever is still missing is named, and the part that needs it says so clearly.
set -uo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || echo "warning: could not install ${missing[*]}" >&2
    # Debian's prometheus package starts a server on :9090; the project starts its own when it needs one.
    if printf '%s\n' "${missing[@]}" | grep -qx prometheus; then
        (systemctl stop prometheus || service prometheus stop || pkill -x prometheus) >/dev/null 2>&1 || true
    fi
else
    echo "warning: Debian packages missing and not installable here (need root and apt-get): ${missing[*]}" >&2
fi
exit 0
