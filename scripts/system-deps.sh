#!/usr/bin/env bash
# Debian packages that kodek's tests and demo need; installs only what is missing.
#   libavdevice59  FFmpeg 5 shared libraries, for torchcodec (how `datasets` decodes Audio columns)
#   espeak-ng      the synthesiser behind the bundled Polish sample (regeneration test)
set -euo pipefail
packages=(libavdevice59 espeak-ng)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "kodek: install these with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "kodek: installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
