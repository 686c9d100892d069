#!/usr/bin/env bash
# Regenerate the bundled speech-translation model (English speech -> Spanish and Catalan text,
# assets/models/s2t-demo-st) from the bundled ASR model:
#  1. the diverse corpus (as scripts/train_demo.sh makes it: 14 h of training audio), each
#     sentence's caption translated by Apertium (sequence-level knowledge distillation; cached
#     in data/corpus/translations with the Apertium versions), about 10 min on a 2-core CPU;
#  2. training from the bundled ASR model's weights but its token embeddings (a new 1000-piece
#     vocabulary of Spanish and Catalan with the language tags <lang:es> <lang:ca>), by wall time;
#  3. export (the average of the last checkpoints if it beats the last on dev BLEU), evaluation
#     of the end-to-end model against the cascade (bundled ASR -> Apertium), and the model card.
# Every step resumes where it stopped. Needs apertium, apertium-eng-spa, apertium-eng-cat
# (scripts/setup.sh installs them) and the voices of scripts/install_voices.sh.
#
#   scripts/train_st.sh [extra flags for the training run, e.g. --max-minutes 300]
set -euo pipefail
cd "$(dirname "$0")/.."
s2t=.venv/bin/s2t-stream
real_dir=${S2T_REAL_DIR:-../shared/data/real}
real=()
[ -d "$real_dir" ] && real=(--real-dir "$real_dir")
$s2t -v corpus --out data/corpus --train-hours 14 --seed 0 --jobs 2 --resume "${real[@]}" \
  --tgt-langs es,ca
$s2t -v train --corpus data/corpus --train-splits train --tgt-langs es,ca --vocab-size 1000 \
  --out runs/st1 --init-from assets/models/s2t-demo-en --max-steps 100000 --max-minutes 85 \
  --warmup-steps 300 --lr 0.0006 --eval-every 1000 --save-every 500 --max-frames 10000 \
  --spec-augment true --guided-attention 1.0 --dev-limit 100 --export runs/st1/export --average 5 "$@"
