"""Decoder pretraining on text translation, for a speech-translation model that has little
speech: the ASR model's encoder reads English *tokens* instead of fbank frames, and a new
decoder learns to translate what it makes of them from hundreds of thousands of sentence pairs
(`text_pairs.py`) — far more text than the corpus has audio. `train --init-from` the export
then fine-tunes on speech, where the decoder meets the same encoder fed by the audio.

Shared speech and text encoders are how joint speech-text training carries text translation
into speech translation (Tang et al. 2021, "Improving Speech Translation by Understanding and
Learning from the Auxiliary Text Translation Task"; Bapna et al. 2021, SLAM). Here the encoder
stays frozen, so the export's encoder is exactly the ASR model's and the decoder learns that
encoder's output space; a text front end of its own — the ASR vocabulary's embeddings (started
from its decoder's), the encoder's sinusoidal positions and one transformer layer — turns
tokens into input the encoder layers can read.

The run resumes from `{out}/checkpoint_last.pt`; it ends by wall time (`max_minutes`), the
learning rate annealed to it, and writes an exported model (HF layout) to `{out}/export`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import Bundle, load_bundle, save_bundle
from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.network import EncoderLayer, EncoderOutput, Speech2Text, position_ids
from s2t_stream.model.search import SearchSettings, search
from s2t_stream.model.tokenizer import Tokenizer, train_sentencepiece
from s2t_stream.training.bleu import corpus_bleu
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.options import TextPretrainOptions
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.text_pairs import TextPair, read_text_pairs
from s2t_stream.training.timed_run import TimedRun
from s2t_stream.training.train import TOKEN_WEIGHTS, initialise, teacher_forcing

log = logging.getLogger(__name__)


class TextFrontEnd(nn.Module):
    """Source token ids (B, S) → encoder-layer input (B, S, d_model): token embeddings scaled
    as the encoder scales its convolution's output, the encoder's sinusoidal positions, then
    one transformer layer of its own."""

    def __init__(self, model: Speech2Text, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, model.config.d_model, pad_id)
        self.adapter = EncoderLayer(model.config)

    def forward(self, model: Speech2Text, ids: torch.Tensor) -> EncoderOutput:
        """The frozen encoder's output for `ids` (B, S) right-padded with `pad_id`."""
        encoder = model.encoder
        valid = ids != self.pad_id
        x = self.embed(ids) * encoder.embed_scale
        x = encoder.dropout(x + encoder.embed_positions(position_ids((~valid).long())))
        mask = valid[:, None, None, :]
        x = self.adapter(x, mask)
        for layer in encoder.layers:
            x = layer(x, mask)
        return EncoderOutput(encoder.layer_norm(x), valid)


@dataclass(frozen=True)
class _Example:
    source: list[int]
    target: list[int]


class TextPretrainer(TimedRun):
    """One run: tokenizers, model (ASR encoder, frozen; new decoder; text front end), the
    loop, dev BLEU, checkpoints (`TimedRun`) and export."""

    def __init__(self, options: TextPretrainOptions) -> None:
        super().__init__(options)
        self.options: TextPretrainOptions = options
        self.languages = options.languages()
        asr = load_bundle(Path(options.init_from))
        self.source_tokenizer = asr.tokenizer
        pairs = read_text_pairs(Path(options.pairs))
        self.tokenizer = self._tokenizer(pairs)
        self.examples = self._examples(pairs)
        self.dev = self._dev_pairs()
        torch.manual_seed(options.seed)
        config = replace(asr.config, vocab_size=options.vocab_size)
        self.model = Speech2Text(config)
        initialise(self.model)
        kept = {k: v for k, v in asr.model.state_dict().items() if k not in TOKEN_WEIGHTS}
        missing = self.model.load_state_dict(kept, strict=False).missing_keys
        assert set(missing) <= TOKEN_WEIGHTS, missing
        self.model.encoder.requires_grad_(False)
        self.front = TextFrontEnd(
            self.model, self.source_tokenizer.vocab_size, self.source_tokenizer.pad_id
        )
        with torch.no_grad():  # English pieces start as the ASR decoder knew them
            self.front.embed.weight.copy_(asr.model.decoder.embed_tokens.weight.float())
        self.model.to(self.device)
        self.front.to(self.device)
        self.optimizer = torch.optim.AdamW(
            [p for p in [*self.model.parameters(), *self.front.parameters()] if p.requires_grad],
            lr=options.lr,
            betas=(0.9, 0.98),
            weight_decay=options.weight_decay,
        )

    # --- data -------------------------------------------------------------------------------

    def _tokenizer(self, pairs: list[TextPair]) -> Tokenizer:
        """The run's own (a rerun), else a SentencePiece model of the translations with the
        language tags (as `train --tgt-langs` makes one)."""
        folder = self.out / "tokenizer"
        if (folder / "vocab.json").is_file():
            return Tokenizer.from_dir(folder)
        texts = [
            normalize_translation(p.translations[lang])
            for lang in self.languages
            for p in pairs
            if p.translations.get(lang)
        ]
        return train_sentencepiece(
            texts, folder, self.options.vocab_size, lang_codes=self.languages
        )

    def _examples(self, pairs: list[TextPair]) -> list[_Example]:
        missing = [
            lang for lang in self.languages if not any(lang in p.translations for p in pairs)
        ]
        if missing:
            raise S2TError(f"{self.options.pairs}: no translation into {', '.join(missing)}")
        log.info("tokenising %d pairs into %s", len(pairs), ", ".join(self.languages))
        sources = [self.source_tokenizer.encode(p.text) for p in pairs]
        return [
            _Example(source, self.tokenizer.encode(normalize_translation(target), tgt_lang=lang))
            for lang in self.languages
            for p, source in zip(pairs, sources, strict=True)
            if (target := p.translations.get(lang))
        ]

    def _dev_pairs(self) -> dict[str, tuple[list[list[int]], list[str]]]:
        """Per language: the dev manifest's first sentences (source ids) and references."""
        dev = read_manifest(Path(self.options.dev))
        found: dict[str, tuple[list[list[int]], list[str]]] = {}
        for lang in self.languages:
            chosen = [u for u in dev if u.translations.get(lang)][: self.options.dev_limit]
            if not chosen:
                raise S2TError(
                    f"{self.options.dev}: no sentence translated into {lang}, expected a dev "
                    f"manifest of a corpus built with --tgt-langs {self.options.tgt_langs}"
                )
            found[lang] = (
                [self.source_tokenizer.encode(u.text) for u in chosen],
                [u.translations[lang] for u in chosen],
            )
        return found

    def _padded(self, rows: list[list[int]]) -> torch.Tensor:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.source_tokenizer.pad_id, dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
        return ids.to(self.device)

    # --- training ---------------------------------------------------------------------------

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "front": self.front}

    def train_step(self, indices: list[int]) -> float:
        self.model.train()
        self.front.train()
        batch = [self.examples[i] for i in indices]
        source = self._padded([e.source for e in batch])
        inputs, labels = teacher_forcing(
            [e.target for e in batch], self.tokenizer.pad_id, self.tokenizer.eos_id
        )
        inputs, labels = inputs.to(self.device), labels.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        encoder = self.front(self.model, source)
        logits = self.model.decode(inputs, self.model.new_cache(encoder))
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=self.tokenizer.pad_id,
            label_smoothing=self.options.label_smoothing,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], 5.0)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def run(self) -> Path:
        """Train until the run is done (`progress()` reaches 1; a rerun resumes first), with
        the dev BLEU and a checkpoint every `eval_every` steps and at the end, then export."""
        self.resume()
        log.info(
            "text pretraining on %d examples (%d trainable parameters), step %d",
            len(self.examples),
            sum(p.numel() for g in self.optimizer.param_groups for p in g["params"]),
            self.step,
        )
        self.loop(
            np.array([len(e.target) + 1 for e in self.examples]),
            self.options.max_tokens,
            self.options.eval_every,
            log_every=50,
        )
        return self.export()

    def evaluate(self) -> dict[str, Any]:
        return {"dev_bleu": self.dev_bleu()}

    def dev_bleu(self) -> dict[str, float]:
        """Greedy BLEU (0–100) per language on the dev sentences' text."""
        self.model.eval()
        self.front.eval()
        generation = GenerationConfig(num_beams=1, max_length=200)
        scores = {}
        for lang, (sources, refs) in self.dev.items():
            settings = SearchSettings.resolve(
                DecodingOptions(
                    num_beams=1,
                    max_length=200,
                    forced_bos_token_id=self.tokenizer.lang_code_to_id[lang],
                ),
                generation,
            )
            hyps: list[str] = []
            for start in range(0, len(sources), 32):
                with torch.inference_mode():
                    encoder = self.front(self.model, self._padded(sources[start : start + 32]))
                    results = search(self.model, encoder, settings)
                hyps += [self.tokenizer.decode(h.tokens) for h in results]
            scores[lang] = round(corpus_bleu(refs, hyps), 2)
        return scores

    def export(self) -> Path:
        """The ASR encoder and the pretrained decoder, with the target tokenizer, in the HF
        layout under `{out}/export` (the text front end is not part of it)."""
        destination = self.out / "export"
        generation = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)
        bundle = Bundle(self.model, self.tokenizer, generation, FeatureOptions(), str(self.out))
        save_bundle(bundle, destination, dtype=torch.float16)
        summary = {
            "step": self.step,
            "trained_s": self.trained_s,
            "options": asdict(self.options),
            "history": self.history,
        }
        (self.out / "export.json").write_text(json.dumps(summary, indent=2) + "\n")
        log.info("exported %s", destination)
        return destination
