"""scripts/fit_ctc_head.py: a CTC head learnt on a frozen model, saved with a copy of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.training.train import Trainer, export
from tests.helpers import REPO_ROOT, tiny_train_options

TEXTS = ["the cat sat", "a dog ran", "we like tea", "birds sing"]


def test_the_head_learns_and_the_copy_loads_with_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    for split in ("train", "dev"):
        with (corpus / f"{split}.jsonl").open("w") as f:
            for i, text in enumerate(TEXTS):
                wave = 0.3 * np.sin(np.arange(12000) * (0.05 + 0.08 * i)).astype(np.float32)
                sf.write(corpus / "audio" / f"{i}.wav", wave, 16000)
                f.write(json.dumps({"audio": f"audio/{i}.wav", "text": text}) + "\n")
    options = tiny_train_options(corpus, tmp_path / "run", max_steps=4, ctc_weight=0.0)
    trainer = Trainer(replace(options, vocab_size=24))
    trainer.run()
    model = export(trainer, tmp_path / "model", average=1)
    assert load_bundle(model).ctc is None  # trained without CTC: no head exported
    out = tmp_path / "with-ctc"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "fit_ctc_head.py"), "--model", str(model),
         "--corpus", str(corpus), "--out", str(out), "--epochs", "40", "--lr", "0.02",
         "--weight", "0.2"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    losses = [float(x) for x in re.findall(r"CTC loss ([0-9.]+)", result.stderr)]
    assert len(losses) == 40
    assert losses[-1] < 0.5 * losses[0]
    bundle = load_bundle(out)
    assert bundle.ctc is not None
    assert bundle.ctc.config.weight == 0.2
    assert bundle.ctc.config.blank == bundle.tokenizer.bos_id
    assert (out / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
