#!/bin/sh
# Debian's chromium for the real-browser test (tests/dashboards/test_browser.py, driven by the
# `playwright` package of the dev extras; never `playwright install`). Idempotent and quiet:
# nothing happens when /usr/bin/chromium is there.
set -e
[ -x /usr/bin/chromium ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian's chromium for the browser test (apt-get)"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
