"""A token language model for shallow fusion: an LSTM over the ASR model's own SentencePiece
pieces, trained on text alone (`training/lm_train.py`), so that search can prefer continuations
that are likely English as well as likely sound.

Shallow fusion scores each candidate token by log p_ASR(y | x, y<) + λ · log p_LM(y | y<)
(Gulcehre et al. 2015, "On Using Monolingual Corpora in Neural Machine Translation"; Kannan
et al. 2018, "An Analysis of Incorporating an External Language Model into a Sequence-to-
Sequence Model"). The LM reads the same sequence the decoder does — the decoder start token
first — and predicts the next piece or eos.

On disk it lives in the model directory's `lm/` folder: `config.json` (`LMConfig`) and
`model.safetensors`; a model directory without one has no LM and decodes as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from s2t_stream.errors import CheckpointError, OptionsError, S2TError
from s2t_stream.model import addons
from s2t_stream.model.config import MAX_LM_WEIGHT, check_weight

LM_DIR = "lm"
"""The LM's folder inside a model directory."""


@dataclass(frozen=True)
class LMConfig:
    """Shape of the LM and the fusion weight it was tuned with.

    `vocab_size` must equal the ASR model's; `weight` (λ) is the default fusion weight of beam
    search, used when decoding asks for none (`s2t-stream lm --weight`, chosen with `eval
    --lm-weight` on a dev set).
    """

    vocab_size: int
    embed_dim: int = 256
    hidden_dim: int = 512
    layers: int = 1
    weight: float = 0.0
    vocabulary: str = ""
    """`addons.vocabulary_fingerprint` of the pieces it was trained on ("": not recorded, not
    checked):
    two SentencePiece models of the same size number different pieces."""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_dim", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LMConfig.{name} must be an integer ≥ 1, got {value!r}")
        check_weight(self.weight, "LMConfig.weight", MAX_LM_WEIGHT)

    @classmethod
    def from_dict(cls, raw: dict[str, object], source: str) -> LMConfig:
        """CheckpointError naming `source` for what is not an LM config."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})  # type: ignore[arg-type]
        except (TypeError, ValueError, OptionsError) as e:
            raise CheckpointError(f"{source}: not an LM config ({e})") from e


def resolve_lm_weight(
    asked: float | None, lm: TokenLM | None, model: str = "the model", *, greedy: bool = False
) -> float:
    """The fusion weight a search uses: `asked`, else the LM's tuned one (`LMConfig.weight`)
    for beam search — a `greedy` one (greedy search, the streaming engine) takes 0, as the
    weight is tuned for beam search and greedy gains nothing from it (README, "lm") —, else 0
    (no LM). Raises S2TError for a weight > 0 asked of a model without an LM, which would
    otherwise be silently ignored."""
    if asked is not None and asked > 0 and lm is None:
        raise S2TError(
            f"--lm-weight {asked:g}: {model} has no language model (expected "
            f"{LM_DIR}/config.json and {LM_DIR}/model.safetensors in its directory; "
            "`s2t-stream lm` makes one)"
        )
    if asked is not None:
        return asked
    return 0.0 if lm is None or greedy else lm.config.weight


LMState = tuple[Tensor, Tensor]
"""The LSTM's (h, c), each (layers, N, hidden_dim): one row per hypothesis."""


class TokenLM(nn.Module):
    """Embedding → LSTM → projection to the vocabulary."""

    def __init__(self, config: LMConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        self.drop = nn.Dropout(dropout)  # training only: a no-op in eval mode
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(
            config.embed_dim, config.hidden_dim, num_layers=config.layers, batch_first=True
        )
        self.out = nn.Linear(config.hidden_dim, config.vocab_size)

    def forward(self, tokens: Tensor, state: LMState | None = None) -> tuple[Tensor, LMState]:
        """`tokens` (N, T) → logits (N, T, V) of the token after each position, and the state
        after the last position."""
        hidden, new_state = self.lstm(self.drop(self.embed(tokens)), state)
        return self.out(self.drop(hidden)), new_state

    @torch.inference_mode()
    def start(self, sequences: Sequence[Sequence[int]]) -> tuple[list[Tensor], LMState]:
        """Read each (non-empty) sequence whole: per row, log-probabilities (len, V) of the
        token after each of its positions, and the state after its last token (rows stacked
        in the given order). Sequences of different lengths are read in one packed call."""
        lengths = torch.tensor([len(s) for s in sequences])
        if not len(sequences) or int(lengths.min()) < 1:
            raise ValueError("every sequence needs at least its start token")
        device = self.embed.weight.device
        ids = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
        for n, sequence in enumerate(sequences):
            ids[n, : len(sequence)] = torch.tensor(list(sequence), dtype=torch.long)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(ids.to(device)), lengths, batch_first=True, enforce_sorted=False
        )
        hidden, state = self.lstm(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(hidden, batch_first=True)
        log_probs = torch.log_softmax(self.out(padded).float(), -1)
        return [log_probs[n, : len(s)] for n, s in enumerate(sequences)], state

    @torch.inference_mode()
    def step(self, tokens: Tensor, state: LMState | None) -> tuple[Tensor, LMState]:
        """One token per row (N,) after `state` (None: the sequence starts here) →
        log-probabilities (N, V) of the next token, and the new state."""
        logits, state = self(tokens[:, None].to(self.embed.weight.device), state)
        return torch.log_softmax(logits[:, -1].float(), -1), state


class Fusion:
    """The LM's side of shallow fusion during one search: its state for every decoder row, fed
    the same tokens and reordered with the same rows as the decoder's cache. Inactive (adds
    nothing) without an LM or with weight 0."""

    def __init__(self, lm: TokenLM | None, weight: float) -> None:
        self.lm = lm if weight > 0 else None
        self.weight = weight
        self.state: LMState | None = None

    @property
    def active(self) -> bool:
        return self.lm is not None

    def read(self, sequences: Sequence[Sequence[int]]) -> list[Tensor]:
        """Start every row afresh from its whole sequence: per row, λ · log p_LM (len, V) of
        the token after each position; the state is then after each row's last token."""
        assert self.lm is not None, "read() on an inactive Fusion"
        log_probs, self.state = self.lm.start(sequences)
        return [self.weight * row for row in log_probs]

    def step(self, tokens: Tensor) -> Tensor:
        """Read one token per row, `tokens` (N,): λ · log p_LM (N, V) of the token after it."""
        assert self.lm is not None, "step() on an inactive Fusion"
        log_probs, self.state = self.lm.step(tokens, self.state)
        return self.weight * log_probs

    def add(self, log_probs: Tensor, tokens: Tensor) -> Tensor:
        """`log_probs` (N, V) of the decoder after `tokens` (N,), plus λ · log p_LM after the
        same tokens, which the LM reads (`step`: its state advances); unchanged when
        inactive."""
        if self.lm is None:
            return log_probs
        return log_probs + self.step(tokens).to(log_probs.device)

    def reorder(self, rows: Tensor) -> None:
        """Keep the states of `rows` (M,), in that order (beam search's reorder)."""
        if self.state is not None:
            index = rows.to(self.state[0].device)
            self.state = self.state[0].index_select(1, index), self.state[1].index_select(1, index)


def load_lm(
    model_dir: Path, vocab_size: int, pieces: Sequence[str], *, device: str = "cpu"
) -> TokenLM | None:
    """The LM in `model_dir/lm/` for a model of `vocab_size` outputs and the tokenizer `pieces`
    (in id order), or None when the directory has no `lm/` folder. Raises CheckpointError for
    a folder without its config or weights, a config that is not an LM's, unreadable weights
    or weights that do not fit the config, and an LM of another vocabulary (size, or recorded
    pieces)."""
    folder = model_dir / LM_DIR
    raw = addons.read_config(folder, "a language model", "`s2t-stream lm`")
    if raw is None:
        return None
    config = LMConfig.from_dict(raw, str(folder / "config.json"))
    if config.vocab_size != vocab_size:
        raise CheckpointError(
            f"{folder}: an LM of {config.vocab_size} tokens, but the model has {vocab_size}: "
            "it was trained for another model's vocabulary"
        )
    remedy = "train one for this model (`s2t-stream lm --model`)"
    addons.check_vocabulary(folder, config.vocabulary, pieces, "an LM", remedy)
    lm = TokenLM(config)
    addons.load_weights(lm, folder, "LM")
    return lm.to(device).eval()


def save_lm(lm: TokenLM, model_dir: Path, *, dtype: torch.dtype = torch.float16) -> None:
    """Write `model_dir/lm/config.json` and `model.safetensors` (weights in `dtype`)."""
    addons.save(lm, lm.config, model_dir / LM_DIR, dtype)
