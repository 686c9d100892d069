#!/usr/bin/env bash
# Set up s2t-stream on a Debian machine with Python 3.11: the Debian packages it uses, a virtual
# environment in .venv with torch pinned to 2.13.0 (the CPU build; installed first and kept by
# constraints.txt, so no later install pulls a newer CUDA build), and the project with its extras.
#
#   scripts/setup.sh          run-time set-up (transcribe, stream, serve, mic)
#   scripts/setup.sh --dev    plus test, lint and reference-model dependencies, and the Debian
#                             speech synthesisers of the training corpus (scripts/install_voices.sh
#                             installs Kokoro's files too; the tests that need them say so)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

packages=(python3-venv libportaudio2 espeak-ng flite sox)
# the cascade (`--mt apertium`) and the translation corpus: Apertium and its English → Spanish,
# Catalan and Galician pairs
packages+=(apertium apertium-eng-spa apertium-eng-cat apertium-en-gl)
# the desktop app: every library Qt's X11 (xcb) platform plugin and Qt's GUI libraries link to
# (found with ldd on PyQt6's libqxcb.so, libQt6XcbQpa, libQt6Gui and libQt6DBus), and a font
packages+=(libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
  libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0
  libxcb-xkb1 libxcb-glx0 libxkbcommon0 libxkbcommon-x11-0 libx11-6 libx11-xcb1 libegl1 libgl1
  libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
# the end-to-end microphone test records from a PulseAudio null sink; the desktop app's test
# runs it on a virtual X server (xvfb, xauth for xvfb-run, xwininfo) and reads the overlay back
# with OCR (tesseract); the load-balancer test runs deploy/'s config in a real nginx; the
# captions page's test drives a headless chromium through chromedriver (Selenium)
[ $dev -eq 1 ] && packages+=(pulseaudio pulseaudio-utils libasound2-plugins
  xvfb xauth x11-utils tesseract-ocr tesseract-ocr-eng nginx chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    command -v "$candidate" >/dev/null && { python=$candidate; break; }
  done
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install torch==2.13.0
extras="server,mic,gui,train"
[ $dev -eq 1 ] && extras="$extras,dev"
"${pip[@]}" install -c constraints.txt -e ".[$extras]"
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
[ $dev -eq 1 ] && bash scripts/install_voices.sh --no-kokoro
echo "setup: ready (.venv, torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
