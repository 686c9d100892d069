"""What decides a training run: `TrainOptions` (saved with every checkpoint) and the help text
of each field's command-line flag. Torch-free, so the command line can build its parser cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from s2t_stream.model.config import MAX_LM_WEIGHT, ModelConfig, check_weight

TARGETS = ("words", "captions")
"""What an ASR model learns to write: the manifests' `text` (lower case, no punctuation) or
their `caption` (cased and punctuated, numbers in words; `textnorm.caption_text`)."""
TRAIN_SPLITS = ("train", "train-phone", "train-words", "train-real")
"""The corpus splits a model can learn from: the synthesised utterances, a share of them again
at 8 kHz (`corpus.TRAIN_PHONE_CODECS`), isolated words (`isolated.py`), and real recordings
(`realsets.REAL_TRAIN_SPLIT`)."""
DEFAULT_TRAIN_SPLITS = TRAIN_SPLITS[:3]
"""What a run learns from unless told: the synthesised splits (real recordings are opt-in)."""


@dataclass(frozen=True)
class TrainOptions:
    """Everything that decides a training run (saved with every checkpoint)."""

    corpus: str = "data/corpus"
    out: str = "runs/demo"
    vocab_size: int = 500
    d_model: int = 256
    encoder_layers: int = 6
    decoder_layers: int = 3
    heads: int = 4
    ffn_dim: int = 1024
    conv_channels: int = 512
    dropout: float = 0.1
    max_frames: int = 12000  # input frames per batch (10 ms each)
    max_steps: int = 3000
    max_minutes: float = 0.0  # > 0: also end (and anneal the learning rate) by wall time
    warmup_steps: int = 300
    lr: float = 2e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    ctc_weight: float = 0.3  # auxiliary CTC loss on the encoder: learns alignment much sooner
    guided_attention: float = 0.0  # weight of the diagonal prior on the decoder's cross-attention
    spec_augment: bool = True
    band_mask: bool = False  # zero the empty band of 8 kHz audio, as inference does
    eval_every: int = 250
    save_every: int = 250
    keep_checkpoints: int = 5
    dev_limit: int = 200
    seed: int = 0
    init_from: str = ""  # start from an exported model directory or another run's directory
    threads: int = 0  # 0: torch's default
    device: str = "auto"  # auto: CUDA when there is a GPU, else CPU
    precision: str = "auto"  # auto: bf16 autocast where the device computes bf16 natively; fp32
    tgt_langs: str = ""  # speech translation into these languages, e.g. "es,ca" ("": ASR)
    targets: str = "words"  # ASR targets: "words" (the manifests' text) or "captions"
    train_splits: str = ",".join(DEFAULT_TRAIN_SPLITS)  # a split the corpus lacks is skipped

    def splits(self) -> tuple[str, ...]:
        """The corpus splits to learn from (`train_splits`), each once."""
        return _names(self.train_splits)

    def languages(self) -> tuple[str, ...]:
        """The target languages of a speech-translation run (empty for ASR)."""
        return _names(self.tgt_langs)

    def exports_ctc_head(self) -> bool:
        """Whether the export has a CTC head: a speech-recognition run with a CTC loss (CTC over
        translations cannot guide a search; a head never trained neither)."""
        return self.ctc_weight > 0 and not self.languages()

    def __post_init__(self) -> None:
        if "train" not in self.splits() or not set(self.splits()) <= set(TRAIN_SPLITS):
            raise ValueError(
                f"train_splits: expected train and any of {', '.join(TRAIN_SPLITS[1:])}, "
                f"comma-separated, got {self.train_splits!r}"
            )
        if self.targets not in TARGETS:
            raise ValueError(f"targets: expected one of {', '.join(TARGETS)}, got {self.targets!r}")
        if self.targets != "words" and self.languages():
            raise ValueError(
                f"--targets {self.targets} is for ASR: a speech-translation run (--tgt-langs "
                f"{self.tgt_langs}) learns its translations"
            )

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.vocab_size,
            d_model=self.d_model,
            encoder_layers=self.encoder_layers,
            decoder_layers=self.decoder_layers,
            encoder_attention_heads=self.heads,
            decoder_attention_heads=self.heads,
            encoder_ffn_dim=self.ffn_dim,
            decoder_ffn_dim=self.ffn_dim,
            conv_channels=self.conv_channels,
            dropout=self.dropout,
            tie_word_embeddings=True,
        )


@dataclass(frozen=True)
class TextPretrainOptions:
    """Everything that decides a text-pretraining run (saved with every checkpoint)."""

    pairs: str = "data/corpus/text-pairs/train.jsonl"
    dev: str = "data/corpus/dev.jsonl"  # a manifest with translations: dev BLEU on its text
    init_from: str = "assets/models/s2t-demo-en"  # the ASR model: encoder and source vocabulary
    out: str = "runs/text1"
    tgt_langs: str = "es,ca"
    vocab_size: int = 1000
    max_tokens: int = 6000  # target tokens per batch (padded)
    max_minutes: float = 30.0
    max_steps: int = 0  # > 0: also end (and anneal the learning rate) after this many updates
    warmup_steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    eval_every: int = 500
    dev_limit: int = 100
    seed: int = 0
    threads: int = 0
    device: str = "auto"

    def languages(self) -> tuple[str, ...]:
        return _names(self.tgt_langs)

    def __post_init__(self) -> None:
        if not self.languages():
            raise ValueError("tgt_langs: expected target languages, e.g. 'es,ca'")
        check_run_limits(self.max_minutes, self.max_steps, self.max_tokens, self.eval_every)


@dataclass(frozen=True)
class LMOptions:
    """Everything that decides a language-model run (`lm_train.py`; saved with its checkpoint)."""

    model: str = "assets/models/s2t-demo-en"  # the ASR model: vocabulary, and where lm/ goes
    out: str = "runs/lm"
    text: str = ""  # sentence files of a domain, comma-separated (default: the corpus's text)
    exclude: str = ""  # manifests whose sentences the LM must not learn, comma-separated
    embed_dim: int = 256
    hidden_dim: int = 512
    layers: int = 1
    dropout: float = 0.1
    max_tokens: int = 8000  # padded tokens per batch
    max_minutes: float = 30.0
    max_steps: int = 0  # > 0: also end (and anneal the learning rate) after this many updates
    warmup_steps: int = 200
    lr: float = 2e-3
    weight_decay: float = 0.01
    eval_every: int = 500
    weight: float = 0.0  # beam search's fusion weight, written into the export (tuned afterwards)
    seed: int = 0
    threads: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_run_limits(self.max_minutes, self.max_steps, self.max_tokens, self.eval_every)
        check_weight(self.weight, "weight", MAX_LM_WEIGHT)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {self.dropout}")


def check_run_limits(max_minutes: float, max_steps: int, max_tokens: int, eval_every: int) -> None:
    """A text-only run's limits (`TextPretrainOptions`, `LMOptions`); ValueError if wrong."""
    if max_minutes <= 0 or max_steps < 0 or max_tokens < 64 or eval_every < 1:
        raise ValueError(
            "expected max_minutes > 0, max_steps >= 0, max_tokens >= 64 and eval_every >= 1, "
            f"got {max_minutes}, {max_steps}, {max_tokens} and {eval_every}"
        )


def _names(text: str) -> tuple[str, ...]:
    """The names of a comma-separated list, in order, each once."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


HELP = {
    "corpus": "corpus directory made by `s2t-stream corpus` (train/dev manifests)",
    "out": "run directory (checkpoints, tokenizer); a rerun resumes from it",
    "vocab_size": "SentencePiece pieces (trained on the training text on first run)",
    "d_model": "model width",
    "encoder_layers": "transformer encoder layers",
    "decoder_layers": "transformer decoder layers",
    "heads": "attention heads (encoder and decoder)",
    "ffn_dim": "feed-forward width",
    "conv_channels": "channels of the convolutional subsampler",
    "dropout": "dropout probability",
    "max_frames": "input frames (10 ms each) per batch",
    "max_steps": "stop after this many updates",
    "max_minutes": "> 0: also stop (and anneal the learning rate) after this much training time",
    "warmup_steps": "linear learning-rate warm-up, then cosine decay",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "label_smoothing": "label smoothing of the decoder's cross-entropy",
    "ctc_weight": "weight of the auxiliary CTC loss on the encoder (0: off)",
    "guided_attention": "weight of the diagonal prior on the cross-attention (0: off)",
    "spec_augment": "SpecAugment time and frequency masks (true/false)",
    "band_mask": "zero the empty band of audio from a lower rate in the training and dev "
    "features, as inference does by default (true/false; cached apart from the unmasked "
    "features)",
    "eval_every": "dev WER (greedy) every this many steps",
    "save_every": "checkpoint every this many steps",
    "keep_checkpoints": "step checkpoints kept besides the last",
    "dev_limit": "dev utterances scored at each evaluation",
    "seed": "random seed (batches, augmentation, initialisation)",
    "init_from": "start from an exported model directory or another run's directory",
    "threads": "torch threads (0: torch's default)",
    "device": "auto (CUDA when there is a GPU), cpu or cuda",
    "precision": "auto (bf16 autocast where native), bf16 or fp32",
    "tgt_langs": "speech translation: target languages (e.g. es,ca), learnt from the manifests' "
    "translations (`corpus --tgt-langs`); the model writes <lang:xx> first, as the multilingual "
    "MuST-C model does (default: ASR)",
    "targets": "what an ASR model writes: words (lower case, no punctuation: the manifests' "
    "text) or captions (cased and punctuated, as people read them: their caption); WER is "
    "scored on normalised words either way",
    "train_splits": "corpus splits to learn from, comma-separated: train, and train-phone (its "
    "8 kHz copies), train-words (isolated words) and train-real (real recordings, `corpus "
    "--fsdd-dir`; not by default); one the corpus lacks is skipped with a warning",
}


TEXT_PRETRAIN_HELP = {
    "pairs": "text pairs made by `corpus --text-pairs N --tgt-langs ...`",
    "dev": "a corpus manifest with translations: greedy dev BLEU on its sentences' text",
    "init_from": "the ASR model whose encoder (frozen) and vocabulary read the English text",
    "out": "run directory (checkpoint, tokenizer, export/); a rerun resumes from it",
    "tgt_langs": "target languages, comma-separated (their <lang:xx> tags lead the targets)",
    "vocab_size": "SentencePiece pieces of the target vocabulary (with the language tags)",
    "max_tokens": "padded target tokens per batch",
    "max_minutes": "training time; the learning rate anneals to it",
    "max_steps": "> 0: stop after this many updates if that comes sooner",
    "warmup_steps": "linear learning-rate warm-up, then cosine decay",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "label_smoothing": "label smoothing of the decoder's cross-entropy",
    "eval_every": "dev BLEU (and a checkpoint) every this many steps",
    "dev_limit": "dev sentences scored per language",
    "seed": "random seed (batches, initialisation)",
    "threads": "torch threads (0: torch's default)",
    "device": "auto (CUDA when there is a GPU), cpu or cuda",
}


LM_HELP = {
    "model": "the ASR model whose vocabulary the LM learns (copy OUT/export/lm/ into its "
    "directory to fuse it)",
    "out": "run directory (checkpoint, export); a rerun resumes from it",
    "text": "sentence files (one per line, plain or .gz; comma-separated) of the domain to learn, "
    "instead of the corpus's training text; a tenth of them (at most 200, in a seeded shuffle) "
    "are the dev set",
    "exclude": "manifests (comma-separated) whose sentences are left out of the LM's text, "
    "e.g. evaluation sets whose text would otherwise be learnt",
    "embed_dim": "token embedding width",
    "hidden_dim": "LSTM width",
    "layers": "LSTM layers",
    "dropout": "dropout on the embeddings and the LSTM output",
    "max_tokens": "padded tokens per batch",
    "max_minutes": "training time; the learning rate anneals to it",
    "max_steps": "> 0: stop after this many updates if that comes sooner",
    "warmup_steps": "linear learning-rate warm-up, then cosine decay",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "eval_every": "dev perplexity (and a checkpoint) every this many steps",
    "weight": "fusion weight written into the export's lm/config.json, the default of every "
    "beam search that loads it (greedy search and streaming fuse only when asked); choose it "
    "with `eval --lm-weight W` on a dev set (a finished run re-exports with a new weight at once)",
    "seed": "random seed (batches, initialisation)",
    "threads": "torch threads (0: torch's default)",
    "device": "auto (CUDA when there is a GPU), cpu or cuda",
}
