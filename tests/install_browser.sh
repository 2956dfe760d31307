#!/bin/sh
# Headless Chromium and its driver for the Space's browser test (tests/test_space_app.py).
# Idempotent and quick when they are installed. Where they cannot be installed (no root, no
# apt-get, no network) it says so and succeeds: that one test then skips with the reason.
set -u
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: no apt-get here; the browser test will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_browser.sh: not root and no sudo; the browser test will be skipped" >&2
        exit 0
    fi
fi
echo "install_browser.sh: installing chromium and chromium-driver (Debian packages)" >&2
if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null; then
    exit 0
fi
echo "install_browser.sh: apt-get could not install chromium; the browser test will be skipped" >&2
exit 0
