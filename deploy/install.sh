#!/usr/bin/env bash
# Install egress into ./.venv on Debian bookworm (run as root). Idempotent: re-running only installs
# what is missing.
#   bash deploy/install.sh          runtime only
#   bash deploy/install.sh --test   plus what the test suite needs (apt tools, test extras, broker)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_packages=()
# python3-venv: Debian's python3 needs it for `python3 -m venv`.
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3-venv)
# gcc, libhyperscan-dev and the Python headers build detectors/_hsscan.c, the C match collector
# (optional: without it detection falls back to a slower Python callback per match); libssl-dev
# builds detectors/_keyhash.c, the person-key HMAC loop (optional: hashlib otherwise); gcc and the
# Python headers alone build sensor/capture/_walk.c, the classic-pcap record walk and header parser,
# and detectors/_kernels.c, the dense-data validator and sort loops (optional: Python and numpy
# otherwise).
for pkg in gcc libhyperscan-dev libssl-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_packages+=("$pkg")
done
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || apt_packages+=(python3-dev)
if [ "$want_test" = 1 ]; then
  # tshark: the tests' protocol oracle; tcpdump/tcpreplay: capture tooling;
  # tor-geoipdb: the source of the bundled GeoIP database, used as the lookup oracle;
  # chromium/chromium-driver: headless browser that opens the audit report (selenium);
  # fonts-wqy-microhei: a CJK font (the report in that browser, the PDFs of the extraction tests);
  # samba/smbclient: a real SMB 3.1.1 server and client (tests/test_smb_samba.py runs its own
  # smbd on 127.0.0.1; the package's services are kept from starting, see below);
  # catdoc (catdoc, catppt) and antiword: oracles for the legacy .doc/.ppt readers' tests.
  for pkg in tshark tcpdump tcpreplay tor-geoipdb chromium chromium-driver fonts-wqy-microhei samba smbclient catdoc antiword; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_packages+=("$pkg")
  done
fi
if [[ " ${apt_packages[*]} " == *" samba "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  # installing samba must not start smbd/nmbd on every interface: deny service starts meanwhile
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d; command -v systemctl >/dev/null && systemctl disable smbd nmbd samba-ad-dc >/dev/null 2>&1; true' EXIT
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "egress: installing Debian packages: ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
