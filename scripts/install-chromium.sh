#!/usr/bin/env bash
# Headless Chromium for the timeline browser test (sim/tests/timeline.rs).
# Idempotent: does nothing when a chromium binary is already on PATH (or EXOAVS_CHROMIUM is set).
set -euo pipefail

if [ -n "${EXOAVS_CHROMIUM:-}" ] && [ -x "${EXOAVS_CHROMIUM}" ]; then
    echo "chromium: using EXOAVS_CHROMIUM=${EXOAVS_CHROMIUM}"
    exit 0
fi
for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then
        echo "chromium: $(command -v "$c") ($("$c" --version 2>/dev/null || echo 'version unknown'))"
        exit 0
    fi
done

if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and this script is not running as root." >&2
    echo "Install it as root: sudo bash scripts/install-chromium.sh (Debian: apt-get install chromium)," >&2
    echo "or point EXOAVS_CHROMIUM at an existing Chromium/Chrome binary." >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and apt-get is not available: install Chromium by hand" >&2
    echo "or point EXOAVS_CHROMIUM at an existing Chromium/Chrome binary." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || true))"
