#!/usr/bin/env bash
# Debian packages that kodek's tests and demo need; installs only what is missing.
#   libavdevice59  FFmpeg 5 shared libraries, for torchcodec (how `datasets` decodes Audio columns)
#   espeak-ng      the synthesiser behind the bundled Polish sample (regeneration test)
#   chromium       optional: the headless-browser test of the leaderboard page (skipped without it)
set -euo pipefail
packages=(libavdevice59 espeak-ng)
optional=(chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
wanted=()
for package in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || wanted+=("$package")
done
[ ${#missing[@]} -eq 0 ] && [ ${#wanted[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "kodek: install these with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "kodek: installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for package in "${wanted[@]}"; do
  # Not every distribution ships it as a plain package (Ubuntu's is a snap): its test is skipped then.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
    || echo "kodek: optional package $package not installed; the tests that need it are skipped"
done
