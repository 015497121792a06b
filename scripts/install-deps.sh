#!/bin/sh
# Installs what gitc builds with: Debian -dev packages (needs root or sudo).
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config clang \
    libcjson-dev libutf8proc-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev \
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
    libmicrohttpd-dev python3 chromium chromium-driver python3-selenium >/dev/null
