#!/usr/bin/env bash
# What the tests need besides node_modules, installed from Debian's packages when missing:
# - Dawn's WebGPU on a machine without a GPU runs on Mesa's lavapipe (Vulkan on the CPU);
#   bookworm's own Mesa (22) is too old for Dawn, so it comes from bookworm-backports;
# - Chromium, for the real-browser check of the HTML report (test/report/browser.test.ts);
# - Debian's python3-torch (CPU, float64), the independent oracle the CPU reference model is
#   checked against (test/reference/oracle.test.ts), and the training oracle (test/oracle/train.py:
#   loss, gradients and AdamW steps the trainer is held to);
# - shellcheck, which checks every script parplan export writes (test/export/shell.test.ts).
# Run by `npm test` (pretest) and by .ci/run; does nothing when both are there, and says
# what it installs when they are not.
set -euo pipefail

need_mesa=1
need_chromium=1
need_torch=1
need_shellcheck=1
# Dawn needs Mesa >= 23 (bookworm's own is 22.3; bookworm-backports' and later releases' are newer).
mesa_version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
mesa_major=${mesa_version%%.*}
mesa_major=${mesa_major##*:}
if [ -n "$mesa_major" ] && [ "$mesa_major" -ge 23 ] 2>/dev/null; then need_mesa=0; fi
if [ -x /usr/bin/chromium ]; then need_chromium=0; fi
if /usr/bin/python3 -c 'import torch' > /dev/null 2>&1; then need_torch=0; fi
if command -v shellcheck > /dev/null; then need_shellcheck=0; fi
if [ "$need_mesa" = 0 ] && [ "$need_chromium" = 0 ] && [ "$need_torch" = 0 ] && [ "$need_shellcheck" = 0 ]; then exit 0; fi

say() { echo "setup-tests: $*" >&2; }
if [ -n "${PARPLAN_SKIP_TEST_SETUP:-}" ]; then
  say "PARPLAN_SKIP_TEST_SETUP is set: not installing lavapipe, Chromium, python3-torch or shellcheck (the WebGPU, browser, oracle and export-script tests need them)"
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  say "not a Debian machine: install a Vulkan driver (Mesa lavapipe >= 23, or a GPU's), Chromium at /usr/bin/chromium, torch for /usr/bin/python3 and shellcheck yourself"
  exit 1
fi
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null || true)
if [ "$(id -u)" -ne 0 ]; then
  say "the tests need Mesa's lavapipe from bookworm-backports, Chromium, python3-torch and shellcheck; installing them needs root:"
  say "  sudo bash scripts/setup-tests.sh"
  exit 1
fi

# bookworm's Mesa is too old: lavapipe comes from bookworm-backports, added to apt's sources from
# the machine's own Debian mirror — deb822 (debian.sources, as Debian's cloud and container images
# have) or a classic sources.list (as the installer writes).
mesa_from=()
if [ "$need_mesa" = 1 ] && [ "$codename" = bookworm ]; then
  mesa_from=(-t bookworm-backports)
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports to apt's sources (for Mesa's lavapipe; Dawn needs Mesa >= 23)"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk -v RS= 'NR==1' /etc/apt/sources.list.d/debian.sources | sed 's/^Suites:.*/Suites: bookworm-backports/' > /etc/apt/sources.list.d/backports.sources
    else
      mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n' "${mirror:-http://deb.debian.org/debian}" > /etc/apt/sources.list.d/backports.sources
    fi
  fi
fi
say "apt-get update"
apt-get update -qq
# One install; when bookworm's own versions of a package's dependencies clash with what
# backports' Mesa already pulled in (e.g. libdw1 pinned to bookworm's libelf1), apt gets to take
# them from bookworm-backports too.
install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" > /dev/null && return 0
  grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ || return 1
  say "retrying with bookworm-backports allowed for the dependencies"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports "$@" > /dev/null
}
# Mesa last: bookworm's packages go in first against bookworm's libraries, and backports' Mesa
# then upgrades what it needs with them.
if [ "$need_chromium" = 1 ]; then
  say "installing chromium (the HTML report is checked in a real browser)"
  install chromium
fi
if [ "$need_torch" = 1 ]; then
  say "installing python3-torch (the CPU reference model and the training steps are checked against torch in float64)"
  install python3-torch
fi
if [ "$need_shellcheck" = 1 ]; then
  say "installing shellcheck (every exported launch script is checked with it)"
  install shellcheck
fi
if [ "$need_mesa" = 1 ]; then
  say "installing mesa-vulkan-drivers and libvulkan1${mesa_from[*]:+ from bookworm-backports} (the WebGPU tests run on lavapipe)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${mesa_from[@]}" mesa-vulkan-drivers libvulkan1 > /dev/null
fi
say "done: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), $(/usr/bin/chromium --version 2>/dev/null || echo 'no chromium'), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'missing'), shellcheck $(shellcheck --version 2>/dev/null | sed -n 's/^version: //p')"
