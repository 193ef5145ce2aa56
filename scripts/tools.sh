#!/usr/bin/env bash
# The command-line tools the tests drive, from Debian packages: kcat (a non-Python Kafka client
# that writes records the way the booking backends' own clients do) and prometheus / promtool
# (config and rule checks, rule unit tests, a real scrape of the services). Installs what is
# missing; does nothing when all are present.
set -euo pipefail
declare -A PACKAGE=([kcat]=kcat [promtool]=prometheus [prometheus]=prometheus [pdftotext]=poppler-utils)
missing=()
for tool in "${!PACKAGE[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE[$tool]}")
done
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "tools.sh: apt-get unavailable; install: ${missing[*]}" >&2; exit 1; }
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "tools.sh: installing $packages" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >&2
