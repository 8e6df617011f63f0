"""Embedding-space adversarial training terms and the character-substitution attack (issue 15)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advlab import attacks, text
from advlab import text_adversarial as ta
from advlab.train import Batch, fit


@pytest.fixture(scope="module")
def reviews():
    texts, labels = text.load_reviews("train", seed=0)
    vocab = text.Vocabulary.build(texts, max_len=40)
    return vocab, vocab.encode(texts[:48]), labels[:48]


def fresh_model(vocab, seed=0, dropout=0.5):
    torch.manual_seed(seed)
    return text.CharCNN(len(vocab), vocab.frequencies(), embed_dim=16, channels=12, dropout=dropout)


@pytest.fixture(scope="module")
def trained(reviews):
    """A model trained briefly on 600 real reviews, so gradients are not those of a random net."""
    vocab, _, _ = reviews
    texts, labels = text.load_reviews("train", seed=0)
    model = fresh_model(vocab)
    fit(model, (vocab.encode(texts[48:648]), labels[48:648]), epochs=2, live=False, progress=False)
    return model.eval()


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def assert_untouched(model, before, training):
    assert model.training == training
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]), name
        assert param.grad is None, f"{name} was left with a .grad"


# ----------------------------------------------------------------------------- per-example perturbations
def test_embedding_fgm_has_norm_eps_per_review_and_nothing_at_padding(reviews, trained):
    vocab, tokens, y = reviews
    trained.train()
    before = snapshot(trained)
    r = ta.embedding_fgm(trained, tokens, y, eps=2.0)
    assert_untouched(trained, before, training=True)
    trained.eval()
    assert r.shape == (*tokens.shape, 16)
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((len(y),), 2.0), atol=1e-5)
    assert r[~text.token_mask(tokens)].abs().max() == 0
    single = ta.embedding_fgm(trained, tokens[3:4], y[3:4], eps=2.0)
    assert torch.allclose(single, r[3:4], atol=1e-6), "one review's r is its slice of the batch's"


def test_embedding_fgm_matches_a_from_scratch_gradient(reviews, trained):
    vocab, tokens, y = reviews
    s = trained.embed(tokens).detach().requires_grad_(True)
    F.cross_entropy(trained.classify(s, tokens != text.PAD), y, reduction="sum").backward()
    expected = 0.5 * s.grad / s.grad.flatten(1).norm(dim=1).view(-1, 1, 1)
    assert torch.allclose(ta.embedding_fgm(trained, tokens, y, 0.5), expected, atol=1e-6)
    trained.zero_grad(set_to_none=True)


def test_fgm_raises_the_loss_and_pgd_raises_it_more_inside_the_ball(reviews, trained):
    vocab, tokens, y = reviews
    before = snapshot(trained)
    r_fgm = ta.embedding_fgm(trained, tokens, y, 3.0)
    r_pgd = ta.embedding_pgd(trained, tokens, y, 3.0, alpha=1.0, steps=8)
    assert_untouched(trained, before, training=False)
    assert (r_pgd.flatten(1).norm(dim=1) <= 3.0 + 1e-4).all()
    with torch.no_grad():
        clean, fgm, pgd = (F.cross_entropy(ta.perturbed_logits(trained, tokens, r), y).item()
                           for r in (torch.zeros_like(r_fgm), r_fgm, r_pgd))
    assert clean < fgm < pgd


def test_one_pgd_step_of_eps_is_fgm(reviews, trained):
    vocab, tokens, y = reviews
    assert torch.allclose(ta.embedding_pgd(trained, tokens, y, 1.5, alpha=1.5, steps=1),
                          ta.embedding_fgm(trained, tokens, y, 1.5), atol=1e-6)


def test_bad_arguments_name_themselves(reviews, trained):
    vocab, tokens, y = reviews
    with pytest.raises(ValueError, match="eps"):
        ta.embedding_fgm(trained, tokens, y, -1.0)
    with pytest.raises(ValueError, match="steps"):
        ta.embedding_pgd(trained, tokens, y, 1.0, 0.5, 0)
    with pytest.raises(ValueError, match="tokens"):
        ta.embedding_fgm(trained, tokens[0], y, 1.0)
    with pytest.raises(ValueError, match="y"):
        ta.embedding_fgm(trained, tokens, y[:3], 1.0)


# ----------------------------------------------------------------------------- the matrix FGM of seed 001
def batch_for(model, tokens, y):
    return Batch(x=tokens, y=y, logits=model(tokens), progress=0.0)


def test_matrix_fgm_is_the_competition_loop_and_restores_the_weights(reviews):
    vocab, tokens, y = reviews
    model = fresh_model(vocab, dropout=0.0)
    before = snapshot(model)
    batch = batch_for(model, tokens, y)
    term = ta.MatrixFGM(eps=1.0)
    total = F.cross_entropy(batch.logits, y) + term(model, batch)
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]) and param.grad is None
    assert term.last_delta_norm == pytest.approx(1.0, rel=1e-4)
    total.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}

    reference = fresh_model(vocab, dropout=0.0)  # the competition loop, with the new forward pass
    F.cross_entropy(reference(tokens), y).backward()
    with attacks.perturb_parameters(reference, ["embedding.weight"], 1.0):
        F.cross_entropy(reference(tokens), y).backward()
    for name, param in reference.named_parameters():
        assert torch.allclose(ours[name], param.grad, atol=1e-6), name


def test_matrix_fgm_restores_weights_and_grads_when_the_pass_raises(reviews):
    vocab, tokens, y = reviews
    model = fresh_model(vocab)
    before = snapshot(model)
    batch = batch_for(model, tokens, y)
    model.head.weight.grad = torch.ones_like(model.head.weight)
    original_classify = model.classify

    def exploding(*args):
        raise RuntimeError("boom")

    model.classify = exploding
    with pytest.raises(RuntimeError, match="boom"):
        ta.MatrixFGM(eps=5.0)(model, batch)
    model.classify = original_classify
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]), name
    assert model.embedding.weight.grad is None and torch.equal(model.head.weight.grad, torch.ones_like(model.head.weight))


def test_seed_001_loop_trains_on_the_clean_loss_twice(reviews):
    """Seed 001 computes loss_adv from the logits of BEFORE attack(): it equals the clean loss."""
    vocab, tokens, y = reviews
    model = fresh_model(vocab, dropout=0.0)
    logits = model(tokens)
    loss = F.cross_entropy(logits, y)
    loss.backward(retain_graph=True)
    clean_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    with attacks.perturb_parameters(model, ["embedding.weight"], 1.0):
        loss_adv = F.cross_entropy(logits, y)  # the seed's bug: no new forward pass
        loss_adv.backward(retain_graph=True)
        loss_new = F.cross_entropy(model(tokens), y)  # what a new forward pass gives
    assert loss_adv.item() == loss.item()
    assert loss_new.item() > loss.item()
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, 2 * clean_grads[name]), name


# ----------------------------------------------------------------------------- gradient penalty (seed 004)
def test_gradient_penalty_is_the_first_order_gain_of_fgm(reviews, trained):
    vocab, tokens, y = reviews
    model = trained.double()
    try:
        norms = ta.embedding_gradient_norms(model, tokens, y)
        s = model.embed(tokens).detach()
        losses = F.cross_entropy(model.classify(s, text.token_mask(tokens)), y, reduction="none")
        for eps in (1e-4, 1e-3):
            r = ta.embedding_fgm(model, tokens, y, eps)
            with torch.no_grad():
                gain = F.cross_entropy(ta.perturbed_logits(model, tokens, r), y, reduction="none") - losses
            assert torch.allclose(gain, eps * norms, rtol=0.02, atol=1e-12)
        term = ta.GradientPenalty(0.5)
        model.eval()
        value = term(model, batch_for(model, tokens, y))
        assert value.item() == pytest.approx(0.5 * norms.mean().item(), rel=1e-6)
        value.backward()
        assert model.convs[0].weight.grad.abs().sum() > 0, "double backprop reaches the weights"
    finally:
        model.zero_grad(set_to_none=True)
        model.float()


# ----------------------------------------------------------------------------- FreeLB (Zhu et al. 2020)
def freelb_by_hand(model, tokens, y, eps, alpha, steps, init_mag, seed):
    """FreeLB's K passes written out: the loss and the parameter gradient at every point of the path."""
    mask = tokens != text.PAD
    n, length = tokens.shape
    dim = model.embedding.embedding_dim
    noise = torch.rand((n, length, dim), generator=torch.Generator().manual_seed(seed)) * 2 - 1
    delta = noise * mask.unsqueeze(-1) * (init_mag / (mask.sum(1) * dim).float().sqrt()).view(-1, 1, 1)
    params = list(model.parameters())
    losses, grads = [], []
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model.classify(model.embed(tokens) + delta, mask), y)
        *g_params, g_delta = torch.autograd.grad(loss, params + [delta])
        losses.append(loss.item())
        grads.append(g_params)
        delta = delta.detach() + alpha * g_delta / g_delta.flatten(1).norm(dim=1).view(-1, 1, 1)
        norms = delta.flatten(1).norm(dim=1)
        delta = delta * (eps / norms).clamp(max=1).view(-1, 1, 1)
    return losses, grads


def test_freelb_gradient_is_the_mean_of_the_gradients_along_the_path(reviews, trained):
    vocab, tokens, y = reviews
    model = fresh_model(vocab, dropout=0.0)
    model.load_state_dict(trained.state_dict())
    losses, grads = freelb_by_hand(model, tokens, y, eps=2.0, alpha=1.0, steps=3, init_mag=0.5, seed=7)
    assert losses[0] < losses[1] < losses[2], "each ascent step raises the loss"
    term = ta.FreeLB(2.0, steps=3, alpha=1.0, init_mag=0.5, generator=torch.Generator().manual_seed(7))
    value = term(model.train(), batch_for(model, tokens, y))
    assert term.last_losses == pytest.approx(losses, rel=1e-5)
    assert value.item() == pytest.approx(sum(losses) / 3, rel=1e-5)
    value.backward()
    for (name, param), *per_step in zip(model.named_parameters(), *grads):
        assert torch.allclose(param.grad, sum(per_step) / 3, atol=1e-6), name
    assert not torch.allclose(model.head.weight.grad, grads[0][-2], atol=1e-4), "not just the first point's gradient"


def test_freelb_with_one_step_and_no_start_is_the_clean_loss(reviews, trained):
    vocab, tokens, y = reviews
    model = fresh_model(vocab)  # dropout 0.5, train mode: the term's pass draws the mask the clean pass would
    model.load_state_dict(trained.state_dict())
    torch.manual_seed(3)
    F.cross_entropy(model(tokens), y).backward()
    clean = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    clean_loss = F.cross_entropy(model(tokens), y).item()
    torch.manual_seed(3)
    term = ta.FreeLB(1.0, steps=1, init_mag=0.0, generator=torch.Generator().manual_seed(0))
    value = term(model, Batch(x=tokens, y=y, logits=torch.zeros(len(y), 2), progress=0.0))
    assert value.item() == clean_loss
    value.backward()
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, clean[name], atol=1e-7), name


def test_freelb_passes_share_one_dropout_mask(reviews, trained):
    vocab, tokens, y = reviews
    model = fresh_model(vocab)
    model.load_state_dict(trained.state_dict())
    values = []
    for steps in (1, 3):  # eps = 0: every point is the clean review, so only the dropout mask could differ
        torch.manual_seed(11)
        term = ta.FreeLB(0.0, steps=steps, alpha=1.0, init_mag=0.0, generator=torch.Generator().manual_seed(0))
        term(model, batch_for(model, tokens[:16], y[:16]))
        values.append(term.last_losses)
    assert values[1] == values[0] * 3, "the three passes saw the mask of the one-pass term"
    torch.manual_seed(12)
    other = ta.FreeLB(0.0, steps=1, alpha=1.0, init_mag=0.0)(model, batch_for(model, tokens[:16], y[:16])).item()
    assert abs(other - values[0][0]) > 1e-3, "another generator state, another dropout mask: the check can tell"
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_freelb_leaves_the_callers_tensors_and_the_model_alone(reviews, trained, mode):
    vocab, tokens, y = reviews
    model = fresh_model(vocab)
    model.load_state_dict(trained.state_dict())
    model.train(mode == "train")
    before, tokens_before, y_before = snapshot(model), tokens.clone(), y.clone()
    batch = batch_for(model, tokens, y)
    ta.FreeLB(1.0, steps=3)(model, batch)
    assert_untouched(model, before, training=mode == "train")
    assert torch.equal(tokens, tokens_before) and torch.equal(y, y_before) and batch.x is tokens


def test_freelb_start_is_uniform_on_real_characters_within_init_mag():
    mask = torch.tensor([[True] * 5 + [False] * 3, [True] * 8])
    delta = ta.freelb_start(mask, 4, 0.6, torch.Generator().manual_seed(0))
    assert delta.shape == (2, 8, 4) and delta[0, 5:].abs().max() == 0
    assert (delta.flatten(1).norm(dim=1) <= 0.6).all()
    assert delta[0, :5].abs().max() <= 0.6 / (5 * 4) ** 0.5 and delta[1].abs().max() <= 0.6 / (8 * 4) ** 0.5
    with pytest.raises(ValueError, match="init_mag"):
        ta.freelb_start(mask, 4, -1.0)


# ----------------------------------------------------------------------------- VAT on embeddings
def test_text_vat_is_deterministic_positive_and_leaves_the_model_alone(reviews, trained):
    vocab, tokens, y = reviews
    trained.train()
    before = snapshot(trained)
    with torch.no_grad():
        one = ta.text_vat_loss(trained, tokens, xi=1.0, eps=2.0, generator=torch.Generator().manual_seed(1))
        two = ta.text_vat_loss(trained, tokens, xi=1.0, eps=2.0, generator=torch.Generator().manual_seed(1))
    assert_untouched(trained, before, training=True)
    trained.eval()
    assert one.item() == two.item() > 0
    term = ta.TextVAT(tokens[24:], unlabelled_batch_size=8, eps=2.0, seed=0)
    loss = term(trained, batch_for(trained, tokens[:8], y[:8]))
    loss.backward()
    assert trained.embedding.weight.grad.abs().sum() > 0 and term.last_lds == pytest.approx(loss.item())
    trained.zero_grad(set_to_none=True)


def test_vat_direction_beats_a_random_one(reviews, trained):
    vocab, tokens, y = reviews
    mask = text.token_mask(tokens)
    with torch.no_grad():
        s = trained.embed(tokens)
        p = trained.classify(s, mask)
    module = ta._OnEmbeddings(trained, mask)
    r = ta.vat.virtual_adversarial_perturbation(module, s, 1.0, 2.0, 2, generator=torch.Generator().manual_seed(0))
    noise = 2.0 * attacks.unit_l2(torch.randn(s.shape, generator=torch.Generator().manual_seed(1)) * mask.unsqueeze(-1))
    with torch.no_grad():
        kl_vat = ta.vat.kl_from_logits(p, trained.classify(s + r, mask)).item()
        kl_random = ta.vat.kl_from_logits(p, trained.classify(s + noise, mask)).item()
    assert kl_vat > 3 * kl_random


# ----------------------------------------------------------------------------- training through fit
@pytest.mark.parametrize("term", [ta.MatrixFGM(1.0), ta.EmbeddingFGM(1.0), ta.EmbeddingPGD(1.0, steps=2),
                                  ta.GradientPenalty(0.5), ta.FreeLB(1.0, steps=2)], ids=lambda t: type(t).__name__)
def test_every_term_trains_through_fit_deterministically(reviews, term):
    vocab, tokens, y = reviews
    runs = []
    for _ in range(2):
        model = fresh_model(vocab)
        history = fit(model, (tokens, y), epochs=1, batch_size=16, extra_losses={"adv": term},
                      live=False, progress=False)
        runs.append((history.values("adv"), model.head.weight.detach().clone()))
        assert all(p.grad is None for p in model.parameters())
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert all(value > 0 for value in runs[0][0])


# ----------------------------------------------------------------------------- real edits
def test_greedy_substitution_respects_the_budget_and_the_candidates(reviews, trained):
    vocab, tokens, y = reviews
    candidates = ta.nearest_neighbour_candidates(trained, m=4)
    assert candidates.shape == (len(vocab), 4)
    assert not (candidates == torch.arange(len(vocab)).view(-1, 1)).any()
    before = snapshot(trained)
    adversarial, edits = ta.greedy_substitution(trained, tokens, y, candidates, budget=2)
    assert_untouched(trained, before, training=False)
    changed = adversarial != tokens
    assert torch.equal(changed.sum(dim=1), edits) and (edits <= 2).all()
    assert not changed[tokens == text.PAD].any()
    for row, col in changed.nonzero().tolist():
        assert adversarial[row, col] in candidates[tokens[row, col]]
    clean_correct = trained(tokens).argmax(1) == y
    adv_correct = trained(adversarial).argmax(1) == y
    assert (adv_correct <= clean_correct).all() and adv_correct.sum() < clean_correct.sum()
    assert (edits[~clean_correct] == 0).all(), "misclassified reviews are not edited"
    same, none = ta.greedy_substitution(trained, tokens, y, candidates, budget=0)
    assert torch.equal(same, tokens) and none.sum() == 0
