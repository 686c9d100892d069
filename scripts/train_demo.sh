#!/usr/bin/env bash
# Regenerate the demo model from scratch: synthesise the corpus, train, export to
# assets/models/s2t-demo-en, and evaluate on the held-out test sentences (beam 1 and 5).
# About 10 min of synthesis + 55 min of training + 5 min of evaluation on a 2-core CPU.
#
#   scripts/train_demo.sh [extra `s2t-stream train` flags, e.g. --max-minutes 120]
set -euo pipefail
cd "$(dirname "$0")/.."
s2t=.venv/bin/s2t-stream
$s2t -v corpus --out data/corpus --train-hours 20 --seed 0 --jobs 2 --resume
$s2t -v train --corpus data/corpus --out runs/demo --vocab-size 500 --max-steps 100000 \
  --max-minutes 45 --warmup-steps 300 --lr 0.0015 --eval-every 300 --save-every 300 \
  --max-frames 8000 --export assets/models/s2t-demo-en --average 5 "$@"
$s2t -v eval data/corpus/test.jsonl --model assets/models/s2t-demo-en --beams 1,5 \
  --limit 100 --json runs/demo/test_wer.json
.venv/bin/python scripts/model_card.py
