#!/usr/bin/env bash
# Install the system libraries and tools the test suite needs, only those missing (idempotent).
#   libdmtx0b   Data Matrix: fast encoding at run time (pure-Python fallback without it), decoding in tests
#   libzbar0    QR decoding (pyzbar) in tests
#   poppler-utils  pdftoppm / pdftotext (PDF renders for the README, text checks)
# Arguments name more packages (`make bench` adds wrk, the SOAP benchmark's load generator).
# Needs root for apt-get; without it, says what is missing and carries on (the tests that need
# a missing tool skip and say why).
set -u
PACKAGES=(libdmtx0b libzbar0 poppler-utils "$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${missing[*]} (install them as root: apt-get install -y ${missing[*]})" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
} || { echo "could not install ${missing[*]}" >&2; exit 1; }
