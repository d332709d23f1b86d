#!/usr/bin/env bash
# Makes a headless Chromium available for the browser tests (chromedp): $CHROMIUM, or
# chromium / chromium-browser / google-chrome on PATH, else Debian's chromium package
# installed with apt-get when running as root. Prints the browser's path.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
	echo "$CHROMIUM"
	exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		exit 0
	fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing chromium from Debian" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	command -v chromium
	exit 0
fi
echo "browser.sh: no Chromium found; install Debian's chromium package or set CHROMIUM" >&2
exit 1
