"""A CTC head over the encoder, for joint CTC/attention decoding.

The trainer learns a linear CTC head beside the decoder (the auxiliary loss, `ctc_weight`);
exported with the model, it lets search score every hypothesis by how well the whole prefix
fits the audio, frame by frame, as well as by the decoder's next-token probability:

    score(h + c) = (1 − μ) · log p_att(c | h, x) + μ · (log p_ctc(h + c…| x) − log p_ctc(h…| x))

where p_ctc(h…| x) is the CTC prefix probability, the total probability of every alignment
of the frames that starts with `h` (Watanabe et al. 2017, "Hybrid CTC/Attention Architecture
for End-to-End Speech Recognition", §3.2 and Algorithm 2). An attention decoder alone may drop
or repeat a stretch of audio, or end early; the prefix score penalises both, and keeps a fused
LM (`lm.py`) from writing words that are not there.

On disk it lives in the model directory's `ctc/` folder: `config.json` (`CTCConfig`) and
`model.safetensors`; a model directory without one decodes as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from s2t_stream.errors import CheckpointError, OptionsError, S2TError
from s2t_stream.model import addons
from s2t_stream.model.config import MAX_CTC_WEIGHT, check_weight
from s2t_stream.model.network import EncoderOutput

CTC_DIR = "ctc"
"""The CTC head's folder inside a model directory."""

NEG = -1.0e9
"""The reference search's "impossible" score offset: search adds it, and joint decoding scores
a token it rules out (not a CTC candidate) with it."""


@dataclass(frozen=True)
class CTCConfig:
    """Shape of the head, its blank token and the joint-decoding weight it was tuned with.

    `vocab_size` and `d_model` must equal the model's; `weight` (μ) is the default CTC weight
    of beam search, used when decoding asks for none.
    """

    vocab_size: int
    d_model: int
    blank: int = 0
    weight: float = 0.0
    vocabulary: str = ""
    """`addons.vocabulary_fingerprint` of the pieces it was trained on ("": not checked)."""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CTCConfig.{name} must be an integer ≥ 1, got {value!r}")
        if not isinstance(self.blank, int) or not 0 <= self.blank < self.vocab_size:
            raise ValueError(f"CTCConfig.blank must be a token id, got {self.blank!r}")
        check_weight(self.weight, "CTCConfig.weight", MAX_CTC_WEIGHT)

    @classmethod
    def from_dict(cls, raw: dict[str, object], source: str) -> CTCConfig:
        """CheckpointError naming `source` for what is not a CTC head's config."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})  # type: ignore[arg-type]
        except (TypeError, ValueError, OptionsError) as e:
            raise CheckpointError(f"{source}: not a CTC head config ({e})") from e


class CTCHead(nn.Module):
    """Encoder states (B, S, d_model) → CTC log-probabilities (B, S, V), float32."""

    def __init__(self, config: CTCConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, hidden: Tensor) -> Tensor:
        """Any float dtype in (the head stays float32 when the model is half precision)."""
        return torch.log_softmax(self.proj(hidden.to(self.proj.weight.dtype)).float(), -1)


def resolve_ctc_weight(
    asked: float | None, head: CTCHead | None, model: str = "the model", *, greedy: bool = False
) -> float:
    """The CTC weight a search uses: `asked`, else the head's tuned one for beam search (a
    `greedy` search, the streaming engine's included, takes 0 unless asked: so that
    `transcribe --beam 1` and a stream decode by the same rule), else 0 (no head). Raises S2TError
    for a weight > 0 asked of a model without a CTC head."""
    if asked is not None and asked > 0 and head is None:
        raise S2TError(
            f"--ctc-weight {asked:g}: {model} has no CTC head (expected {CTC_DIR}/config.json "
            f"and {CTC_DIR}/model.safetensors in its directory; `s2t-stream train` exports one "
            "with the model, scripts/fit_ctc_head.py fits one to a model without)"
        )
    if asked is not None:
        return asked
    return 0.0 if head is None or greedy else head.config.weight


def _shift(values: Tensor, fill: float) -> Tensor:
    """`values` (N, T, …) moved one frame later along dim 1, `fill` at frame 0."""
    first = torch.full_like(values[:, :1], fill)
    return torch.cat([first, values[:, :-1]], 1)


def extend_prefixes(
    ctc: Tensor,
    blank: Tensor,
    frames: Tensor,
    forward: Tensor,
    last: Tensor,
    candidates: Tensor,
) -> tuple[Tensor, Tensor]:
    """CTC prefix scores of every prefix `h` extended by each of its candidate tokens `c`.

    Args: `ctc` (N, T, K) log p_ctc of each candidate per frame; `blank` (N, T) of the blank;
    `frames` (N,) valid frames per row; `forward` (N, T, 2) log r^n_t(h), r^b_t(h), the
    probability of frames ≤ t given the prefix, its last frame a token (n) or blank (b);
    `last` (N,) the prefix's last token (-1: the empty prefix); `candidates` (N, K) the c.
    Returns `forward` of each h + c (N, K, T, 2) and log p_ctc(h + c…| x) (N, K). Every
    log-probability must be finite (a log-softmax of finite logits is): −inf would turn the
    cumulative sums into NaN.

    Watanabe et al.'s Algorithm 2 is a recursion over frames; both of its recursions are
    linear, r_t = (r_{t-1} + a_{t-1}) · x_t, so r_t = Σ_{s≤t} a_{s-1} Π_{u=s..t} x_u, which is a
    cumulative log-sum-exp of a − cumsum(log x): one pass of tensor operations, no loop over
    frames (in float64: the cumulative sums grow to thousands).
    """
    n, t, _ = ctc.shape
    empty = (last < 0)[:, None, None]
    r_n, r_b = forward[..., 0:1], forward[..., 1:2]  # (N, T, 1)
    repeat = (last[:, None] == candidates)[:, None, :]  # c = last(h): only via a blank
    phi = torch.where(repeat, r_b, torch.logaddexp(r_n, r_b))  # (N, T, K)
    # a_{t-1} for frame t: phi of the previous frame; at frame 0, 1 for the empty prefix
    start = torch.where(empty, 0.0, -math.inf).to(ctc.dtype).expand(n, 1, ctc.shape[2])
    before = torch.cat([start, phi[:, :-1]], 1)
    cum = torch.cumsum(ctc, 1)
    r_n_new = cum + torch.logcumsumexp(before - _shift(cum, 0.0), 1)
    cum_b = torch.cumsum(blank, 1)[..., None]
    r_b_new = cum_b + torch.logcumsumexp(_shift(r_n_new, -math.inf) - _shift(cum_b, 0.0), 1)
    valid = (torch.arange(t, device=ctc.device)[None, :] < frames[:, None])[..., None]
    prefix = torch.logsumexp(torch.where(valid, before + ctc, -math.inf), 1)  # (N, K)
    extended = torch.stack([r_n_new, r_b_new], -1).permute(0, 2, 1, 3)  # (N, K, T, 2)
    return extended, prefix


class CTCPrefixScorer:
    """The CTC side of joint decoding during one search: each decoder row's CTC prefix state,
    fed the same tokens and reordered with the same rows as the decoder's cache (as
    `lm.Fusion`). Only eos and the `candidates` − 1 best other tokens of the decoder are
    scored per row and step (Watanabe et al.'s pre-beam); the others are ruled out (`NEG`).
    Inactive without a head or with weight 0.

    Rows are grouped by utterance: row r belongs to utterance r // `rows_per_utterance`.
    Tokens in `skip` (language tags, forced by the search) never reach the CTC prefix.
    """

    def __init__(
        self,
        head: CTCHead | None,
        weight: float,
        encoder: EncoderOutput,
        *,
        rows_per_utterance: int = 1,
        candidates: int = 10,
        skip: Iterable[int] = (),
        eos: int = 2,
    ) -> None:
        self.weight = weight if head is not None else 0.0
        if not self.active:
            return
        assert head is not None
        self.blank, self.eos, self.k = head.config.blank, eos, candidates
        self.never = torch.tensor([head.config.blank, eos, *skip], dtype=torch.long)
        with torch.inference_mode():
            log_probs = head(encoder.hidden)  # (B, T, V) float32; the slices used go float64
        batch, frames = log_probs.shape[:2]
        lengths = (
            encoder.mask.sum(-1)
            if encoder.mask is not None
            else torch.full((batch,), frames, device=log_probs.device)
        )
        self.utterance = torch.arange(batch * rows_per_utterance) // rows_per_utterance
        self.utterance = self.utterance.to(log_probs.device)
        self.log_probs, self.lengths = log_probs, lengths
        rows = len(self.utterance)
        self.forward = torch.full((rows, frames, 2), -math.inf, dtype=torch.float64)
        self.forward = self.forward.to(log_probs.device)
        self.forward[..., 1] = torch.cumsum(log_probs[self.utterance, :, self.blank].double(), 1)
        self.prefix = torch.zeros(rows, dtype=torch.float64, device=log_probs.device)
        self.last = torch.full((rows,), -1, dtype=torch.long, device=log_probs.device)
        self.pending: tuple[Tensor, Tensor, Tensor] | None = None  # candidates, forward, prefix

    @property
    def active(self) -> bool:
        return self.weight > 0

    def add(self, log_probs: Tensor, tokens: Tensor) -> Tensor:
        """`log_probs` (N, V) of the decoder after `tokens` (N,) → joint scores (N, V):
        (1 − μ) · log p_att + μ · Δ log p_ctc for each row's candidates, NEG for the rest;
        unchanged when inactive. The prefix state first takes in `tokens` (`take`)."""
        if not self.active:
            return log_probs
        self.take(tokens)
        pool = log_probs.detach().clone()
        pool[:, self.never.to(pool.device)] = -math.inf
        best = torch.topk(pool, self.k - 1, -1).indices.to(self.last.device)
        eos = torch.full_like(best[:, :1], self.eos)  # a hypothesis may always end
        candidates = torch.cat([best, eos], 1)  # (N, K)
        forward, prefix = self._extend(candidates)
        frames = self.lengths[self.utterance]
        rows = torch.arange(len(frames), device=frames.device)
        end = self.forward[rows, frames - 1].logsumexp(-1)  # (N,)
        prefix = torch.where(candidates == self.eos, end[:, None], prefix)
        self.pending = candidates, forward, prefix
        delta = (prefix - self.prefix[:, None]).nan_to_num(nan=NEG).clamp(min=NEG)
        joint = (1 - self.weight) * log_probs.gather(1, candidates.to(log_probs.device))
        joint = joint + self.weight * delta.to(log_probs)
        scores = torch.full_like(log_probs, NEG)
        return scores.scatter(1, candidates.to(log_probs.device), joint.clamp(min=NEG))

    def take(self, tokens: Tensor) -> None:
        """Extend each row's prefix by its token (N,), from the last step's candidates or, for
        a token that was none of them, computed afresh (search only ever picks candidates; a
        caller forcing tokens — a committed prefix — need not); tokens in the never-set (blank,
        eos — the decoder's start token too —, padding, forced tags) leave the row as it was.
        A no-op when inactive."""
        if not self.active:
            return
        tokens = tokens.to(self.last.device)
        extend = ~torch.isin(tokens, self.never.to(tokens.device))
        if self.pending is not None:
            candidates, forward, prefix = self.pending
            match = candidates == tokens[:, None]  # (N, K)
            found = match.any(-1) & extend
            k = match.long().argmax(-1)
            rows = torch.arange(len(tokens), device=tokens.device)
            self._set(found, forward[rows, k], prefix[rows, k], tokens)
            extend &= ~found
            self.pending = None
        if extend.any():
            forward, prefix = self._extend(tokens[:, None])
            self._set(extend, forward[:, 0], prefix[:, 0], tokens)

    def _extend(self, candidates: Tensor) -> tuple[Tensor, Tensor]:
        """`extend_prefixes` of every row's prefix by its `candidates` (N, K)."""
        utterance = self.utterance[:, None, None]
        time = torch.arange(self.log_probs.shape[1], device=utterance.device)[None, :, None]
        ctc = self.log_probs[utterance, time, candidates[:, None, :]].double()  # (N, T, K)
        blank = self.log_probs[self.utterance, :, self.blank].double()  # (N, T)
        frames = self.lengths[self.utterance]
        return extend_prefixes(ctc, blank, frames, self.forward, self.last, candidates)

    def _set(self, rows: Tensor, forward: Tensor, prefix: Tensor, tokens: Tensor) -> None:
        """Where `rows` (N,) bool: the prefix state becomes `forward` (N, T, 2), `prefix`
        (N,), its last token `tokens` (N,)."""
        self.forward = torch.where(rows[:, None, None], forward, self.forward)
        self.prefix = torch.where(rows, prefix, self.prefix)
        self.last = torch.where(rows, tokens, self.last)

    def reorder(self, rows: Tensor) -> None:
        """Keep the states of `rows` (M,), in that order (beam search's reorder)."""
        if not self.active:
            return
        index = rows.to(self.last.device)
        self.forward, self.prefix = self.forward[index], self.prefix[index]
        self.last, self.utterance = self.last[index], self.utterance[index]
        if self.pending is not None:
            self.pending = tuple(part[index] for part in self.pending)  # type: ignore[assignment]


def load_ctc(
    model_dir: Path, config_vocab: int, d_model: int, pieces: Sequence[str], *, device: str = "cpu"
) -> CTCHead | None:
    """The CTC head in `model_dir/ctc/` for a model of `config_vocab` outputs, `d_model` encoder
    width and tokenizer `pieces`, or None when the directory has no `ctc/` folder. Raises
    CheckpointError for a folder without its config or weights, a config that is not a CTC
    head's, weights that do not fit it, and a head of another vocabulary or width."""
    folder = model_dir / CTC_DIR
    raw = addons.read_config(folder, "a CTC head", "`train`")
    if raw is None:
        return None
    config = CTCConfig.from_dict(raw, str(folder / "config.json"))
    if (config.vocab_size, config.d_model) != (config_vocab, d_model):
        raise CheckpointError(
            f"{folder}: a CTC head of {config.vocab_size} tokens over {config.d_model} encoder "
            f"features, but the model has {config_vocab} and {d_model}: it belongs to another "
            "model"
        )
    remedy = "fit one for this model (scripts/fit_ctc_head.py)"
    addons.check_vocabulary(folder, config.vocabulary, pieces, "a CTC head", remedy)
    head = CTCHead(config)
    addons.load_weights(head, folder, "CTC head")
    return head.to(device).eval()


def save_ctc(head: CTCHead, model_dir: Path, *, dtype: torch.dtype = torch.float16) -> None:
    """Write `model_dir/ctc/config.json` and `model.safetensors` (weights in `dtype`)."""
    addons.save(head, head.config, model_dir / CTC_DIR, dtype)
