"""advlab.meta: episodes, MAML's meta-gradient (finite differences, first vs second order), ADML's crossing,
the baselines MAML-AD and adversarial querying, and the adversarial-support evaluation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab import attacks, data, meta


@pytest.fixture(scope="module")
def mnist_train():
    return data.load_mnist("train")


def tiny_model(n_way=2, seed=0):
    """A 2-layer tanh MLP on 4x4-pooled digits, in double precision (smooth, so finite differences work)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(16, 5), nn.Tanh(), nn.Linear(5, n_way)).double()


def tiny_episode(mnist_train, seed=0):
    images, labels = mnist_train
    episode = meta.EpisodeSampler(images, labels, range(6), n_way=2, k_shot=3, n_query=4, seed=seed).sample()
    return meta.Episode(episode.support_x.double(), episode.support_y, episode.query_x.double(), episode.query_y)


def meta_loss_at(model, episode, first_order=False, **kw):
    params = meta.parameters_of(model)
    return meta.maml_task_loss(model, params, episode, inner_lr=0.5, inner_steps=2, first_order=first_order).loss


# ----------------------------------------------------------------------------- episodes
def test_episode_shapes_labels_and_classes(mnist_train):
    images, labels = mnist_train
    sampler = meta.EpisodeSampler(images, labels, range(6), n_way=5, k_shot=3, n_query=4, seed=1)
    episode = sampler.sample()
    assert episode.support_x.shape == (15, 1, 28, 28) and episode.query_x.shape == (20, 1, 28, 28)
    assert torch.equal(episode.support_y, torch.arange(5).repeat_interleave(3))
    assert torch.equal(episode.query_y, torch.arange(5).repeat_interleave(4))
    assert 0 <= episode.support_x.min() and episode.support_x.max() <= 1
    assert set(episode.classes) <= set(range(6)) and len(set(episode.classes)) == 5
    # the re-indexed label k really is original digit classes[k]: find each support image in MNIST
    for x, y in zip(episode.support_x, episode.support_y):
        match = (images == x).flatten(1).all(dim=1).nonzero().squeeze(1)
        assert labels[match[0]] == episode.classes[y]


def test_support_and_query_do_not_share_images(mnist_train):
    images, labels = mnist_train
    episode = meta.EpisodeSampler(images, labels, range(6, 10), n_way=2, k_shot=5, n_query=10, seed=0).sample()
    distances = torch.cdist(episode.support_x.flatten(1), episode.query_x.flatten(1))
    assert distances.min() > 0


def test_meta_train_and_meta_test_classes_are_disjoint(mnist_train):
    images, labels = mnist_train
    train = meta.EpisodeSampler(images, labels, range(6), 2, 5, seed=0)
    test = meta.EpisodeSampler(images, labels, range(6, 10), 2, 5, seed=0)
    train_classes = {c for e in train.batch(30) for c in e.classes}
    test_classes = {c for e in test.batch(30) for c in e.classes}
    assert train_classes <= set(range(6)) and test_classes <= set(range(6, 10))
    assert not train_classes & test_classes


def test_episodes_are_deterministic_for_a_seed(mnist_train):
    images, labels = mnist_train
    a = meta.EpisodeSampler(images, labels, range(6), 3, 2, seed=7).batch(3)
    b = meta.EpisodeSampler(images, labels, range(6), 3, 2, seed=7).batch(3)
    c = meta.EpisodeSampler(images, labels, range(6), 3, 2, seed=8).batch(3)
    assert all(torch.equal(x.support_x, y.support_x) and torch.equal(x.query_x, y.query_x) for x, y in zip(a, b))
    assert not all(torch.equal(x.support_x, y.support_x) for x, y in zip(a, c))


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(n_way=1), ValueError, "n_way"),
        (dict(n_way=7), ValueError, "n_way"),
        (dict(n_way=2.0), TypeError, "n_way"),
        (dict(k_shot=0), ValueError, "k_shot"),
        (dict(k_shot=500), ValueError, "k_shot"),
        (dict(n_query=0), ValueError, "n_query"),
    ],
)
def test_bad_episode_arguments_raise(mnist_train, kwargs, error, name):
    images, labels = mnist_train
    arguments = dict(n_way=2, k_shot=5, n_query=5) | kwargs
    with pytest.raises(error, match=name):
        meta.EpisodeSampler(images, labels, range(6), **arguments)


def test_bad_inner_loop_arguments_raise(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params = meta.parameters_of(model)
    with pytest.raises(ValueError, match="inner_steps"):
        meta.adapt(model, params, episode.support_x, episode.support_y, 0.1, inner_steps=-1)
    with pytest.raises(TypeError, match="inner_steps"):
        meta.adapt(model, params, episode.support_x, episode.support_y, 0.1, inner_steps=1.5)
    with pytest.raises(ValueError, match="inner_lr"):
        meta.adapt(model, params, episode.support_x, episode.support_y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        meta.adml_task_loss(model, params, episode, 0.1, eps=-0.1)
    with pytest.raises(ValueError, match="method"):
        meta.meta_step(model, torch.optim.SGD(model.parameters(), 0.1), [episode], method="reptile")


@pytest.mark.parametrize("call", ["meta_step", "meta_gradient", "task_loss"])
def test_unknown_method_raises_naming_the_argument_and_the_choices(mnist_train, call):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    calls = {
        "meta_step": lambda m: meta.meta_step(model, torch.optim.SGD(model.parameters(), 0.1), [episode], method=m),
        "meta_gradient": lambda m: meta.meta_gradient(model, episode, method=m),
        "task_loss": lambda m: meta.task_loss(model, meta.parameters_of(model), episode, method=m),
    }
    before = [p.detach().clone() for p in model.parameters()]
    for bad in ["MAML-AD", "adv-query", "", None]:
        with pytest.raises(ValueError, match=r"method must be one of .*'maml_ad'.*'adv_query'"):
            calls[call](bad)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters())), "a refused call must not train"


@pytest.mark.parametrize("method", ["adml", "maml_ad", "adv_query"])
def test_baselines_refuse_bad_eps_steps_and_a_loss_fn_they_ignore(mnist_train, method):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    with pytest.raises(ValueError, match="eps"):
        meta.meta_gradient(model, episode, method, eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        meta.meta_gradient(model, episode, method, eps=float("nan"))
    with pytest.raises(ValueError, match="loss_fn"):
        meta.meta_gradient(model, episode, method, eps=0.1, loss_fn=F.mse_loss)
    if method == "adv_query":
        with pytest.raises(ValueError, match="steps"):
            meta.meta_gradient(model, episode, method, eps=0.1, attack_steps=0)


# ----------------------------------------------------------------------------- MAML
def test_inner_step_reduces_the_support_loss(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params = meta.parameters_of(model)
    before = meta.functional_loss(model, params, episode.support_x, episode.support_y)
    adapted = meta.adapt(model, params, episode.support_x, episode.support_y, inner_lr=0.1, inner_steps=1)
    after = meta.functional_loss(model, adapted, episode.support_x, episode.support_y)
    assert after < before


def test_second_order_meta_gradient_matches_finite_differences(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    grads = meta.meta_gradient(model, episode, inner_lr=0.5, inner_steps=2)
    step = 1e-6
    with torch.no_grad():
        for name, param in meta.parameters_of(model).items():
            for index in [(0,) * param.dim(), tuple(s - 1 for s in param.shape)]:
                original = param[index].item()
                param[index] = original + step
                plus = meta_loss_at(model, episode).item()
                param[index] = original - step
                minus = meta_loss_at(model, episode).item()
                param[index] = original
                numeric = (plus - minus) / (2 * step)
                assert grads[name][index].item() == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


def test_first_order_gradient_drops_the_second_order_term(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    second = meta.meta_gradient(model, episode, inner_lr=0.5, inner_steps=2)
    first = meta.meta_gradient(model, episode, inner_lr=0.5, inner_steps=2, first_order=True)
    difference = max((second[n] - first[n]).abs().max().item() for n in second)
    assert difference > 1e-4, "the Hessian term must change the meta-gradient"
    # FOMAML is the query-loss gradient at θ', taken as if θ' were the parameters
    params = meta.parameters_of(model)
    adapted = meta.adapt(model, params, episode.support_x, episode.support_y, 0.5, 2, first_order=True)
    adapted = {n: p.detach().requires_grad_(True) for n, p in adapted.items()}
    query_loss = meta.functional_loss(model, adapted, episode.query_x, episode.query_y)
    expected = torch.autograd.grad(query_loss, list(adapted.values()))
    for name, g in zip(adapted, expected):
        torch.testing.assert_close(first[name], g)
    # with a zero inner learning rate, both are the plain query-loss gradient
    second0 = meta.meta_gradient(model, episode, inner_lr=0.0, inner_steps=2)
    first0 = meta.meta_gradient(model, episode, inner_lr=0.0, inner_steps=2, first_order=True)
    for name in second0:
        torch.testing.assert_close(second0[name], first0[name])


def test_meta_step_changes_parameters_and_leaves_no_copies(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    before = [p.detach().clone() for p in model.parameters()]
    ids = [id(p) for p in model.parameters()]
    loss, accuracy = meta.meta_step(model, torch.optim.SGD(model.parameters(), lr=0.1), [episode], inner_lr=0.1)
    assert [id(p) for p in model.parameters()] == ids
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert loss > 0 and 0 <= accuracy <= 1


# ----------------------------------------------------------------------------- ADML
def test_adml_loss_crosses_the_adapted_parameters_and_query_sets(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params, eps, lr = meta.parameters_of(model), 0.2, 0.5
    support_adv = meta.fgsm_against(model, params, episode.support_x, episode.support_y, eps)
    query_adv = meta.fgsm_against(model, params, episode.query_x, episode.query_y, eps)
    theta_clean = meta.adapt(model, params, episode.support_x, episode.support_y, lr)
    theta_adv = meta.adapt(model, params, support_adv, episode.support_y, lr)

    def q(theta, x):
        return meta.functional_loss(model, theta, x, episode.query_y)

    crossed = q(theta_clean, query_adv) + q(theta_adv, episode.query_x)
    uncrossed = q(theta_clean, episode.query_x) + q(theta_adv, query_adv)
    loss = meta.adml_task_loss(model, params, episode, lr, eps).loss
    torch.testing.assert_close(loss, crossed)
    assert abs(loss.item() - uncrossed.item()) > 1e-3


def test_adml_adversarial_examples_come_from_the_current_parameters(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params = meta.parameters_of(model)
    x_adv = meta.fgsm_against(model, params, episode.query_x, episode.query_y, 0.1)
    x = episode.query_x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), episode.query_y), x)
    torch.testing.assert_close(x_adv, (episode.query_x + 0.1 * grad.sign()).clamp(0, 1))
    assert not x_adv.requires_grad
    with torch.no_grad():
        model[-1].weight.neg_()  # flipped output weights flip the input gradient
    moved = meta.fgsm_against(model, meta.parameters_of(model), episode.query_x, episode.query_y, 0.1)
    assert not torch.equal(moved, x_adv)


def test_adml_with_zero_eps_is_twice_maml(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params = meta.parameters_of(model)
    adml = meta.adml_task_loss(model, params, episode, 0.3, eps=0.0).loss
    maml = meta.maml_task_loss(model, params, episode, 0.3).loss
    torch.testing.assert_close(adml, 2 * maml)


def test_batched_fgsm_copies_equal_each_episodes_own_attack(mnist_train):
    model = tiny_model()
    episodes = [tiny_episode(mnist_train, seed=s) for s in range(3)]
    params = meta.parameters_of(model)
    copies = meta.fgsm_copies(model, params, episodes, 0.2)
    assert len(copies) == len(episodes)
    for episode, (support_adv, query_adv) in zip(episodes, copies):
        torch.testing.assert_close(support_adv, meta.fgsm_against(model, params, episode.support_x, episode.support_y, 0.2))
        torch.testing.assert_close(query_adv, meta.fgsm_against(model, params, episode.query_x, episode.query_y, 0.2))


@pytest.mark.parametrize("first_order, inner_steps", [(False, 1), (False, 2), (True, 2)])
@pytest.mark.parametrize("method", ["maml", "adml", "maml_ad", "adv_query"])
@pytest.mark.parametrize("same_shapes", [True, False])
def test_meta_step_is_the_mean_of_the_task_gradients(mnist_train, method, first_order, inner_steps, same_shapes):
    """meta_step computes a meta-batch at once (vmap; batched attacks), or task by task when the shapes differ:
    either way the update is the mean of the per-task meta-gradients of task_loss."""
    episodes = [tiny_episode(mnist_train, seed=s) for s in range(3)]
    if not same_shapes:  # a shorter query set: one task at a time
        e = episodes[1]
        episodes[1] = meta.Episode(e.support_x, e.support_y, e.query_x[:5], e.query_y[:5])
    model = tiny_model()
    kw = dict(inner_lr=0.5, inner_steps=inner_steps, first_order=first_order, eps=0.2, attack_steps=2)
    expected = {n: p.detach().clone() for n, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(5)  # AQ's random starts, drawn episode after episode
    for episode in episodes:
        grads = meta.meta_gradient(model, episode, method, generator=generator, **kw)
        for n in expected:
            expected[n] -= 0.1 * grads[n] / len(episodes)
    meta.meta_step(model, torch.optim.SGD(model.parameters(), lr=0.1), episodes, method,
                   generator=torch.Generator().manual_seed(5), **kw)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), expected[n])


def test_meta_step_on_regression_tasks_is_the_mean_of_the_task_gradients():
    generator = torch.Generator().manual_seed(0)
    episodes = [meta.sine_episode(generator, 5, 5) for _ in range(3)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    episodes = [meta.Episode(e.support_x.double(), e.support_y.double(), e.query_x.double(), e.query_y.double())
                for e in episodes]
    expected = {n: p.detach().clone() for n, p in model.named_parameters()}
    for episode in episodes:
        grads = meta.meta_gradient(model, episode, "maml", inner_lr=0.05, loss_fn=F.mse_loss)
        for n in expected:
            expected[n] -= 0.1 * grads[n] / len(episodes)
    loss, accuracy = meta.meta_step(model, torch.optim.SGD(model.parameters(), lr=0.1), episodes, "maml",
                                    inner_lr=0.05, loss_fn=F.mse_loss)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), expected[n])
    assert loss > 0 and accuracy != accuracy  # regression: no accuracy (NaN)


# ----------------------------------------------------------------------------- MAML-AD
def test_maml_ad_is_maml_on_fgsm_support_and_fgsm_query(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params, eps, lr = meta.parameters_of(model), 0.2, 0.5
    # by hand: FGSM against θ (before adaptation) for both sets, then plain MAML on that episode
    support_adv = meta.fgsm_against(model, params, episode.support_x, episode.support_y, eps)
    query_adv = meta.fgsm_against(model, params, episode.query_x, episode.query_y, eps)
    by_hand = meta.Episode(support_adv, episode.support_y, query_adv, episode.query_y)
    expected = meta.meta_gradient(model, by_hand, "maml", inner_lr=lr, inner_steps=2)
    got = meta.meta_gradient(model, episode, "maml_ad", inner_lr=lr, inner_steps=2, eps=eps)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name])
    loss = meta.maml_ad_task_loss(model, params, episode, lr, eps, inner_steps=2).loss
    torch.testing.assert_close(loss, meta.maml_task_loss(model, params, by_hand, lr, 2).loss)
    # it is not ADML: no clean term and no crossing
    adml = meta.adml_task_loss(model, params, episode, lr, eps, inner_steps=2).loss
    clean_query = meta.Episode(support_adv, episode.support_y, episode.query_x, episode.query_y)
    assert abs(loss.item() - (adml - meta.maml_task_loss(model, params, clean_query, lr, 2).loss).item()) > 1e-3
    # the attack mattered: MAML on the clean episode gives another loss
    assert abs(loss.item() - meta.maml_task_loss(model, params, episode, lr, 2).loss.item()) > 1e-3


def test_maml_ad_and_adversarial_querying_with_zero_eps_are_maml(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    maml = meta.meta_gradient(model, episode, "maml", inner_lr=0.3)
    for method in ["maml_ad", "adv_query"]:
        got = meta.meta_gradient(model, episode, method, inner_lr=0.3, eps=0.0)
        for name in maml:
            torch.testing.assert_close(got[name], maml[name])


# ----------------------------------------------------------------------------- adversarial querying
def test_adversarial_querying_is_maml_on_a_pgd_query_against_the_adapted_parameters(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params, eps, lr, steps = meta.parameters_of(model), 0.2, 0.5, 4
    # by hand: adapt on the clean support, PGD (random start, alpha 2.5 eps / steps) against θ' ...
    adapted = meta.adapt(model, params, episode.support_x, episode.support_y, lr, 2)
    adapted_model = meta.Functional(model, adapted)
    query_adv = attacks.pgd(adapted_model, episode.query_x, episode.query_y, eps, alpha=2.5 * eps / steps, steps=steps,
                            random_start=True, generator=torch.Generator().manual_seed(3))
    assert (query_adv - episode.query_x).abs().max() > eps / 2, "the hand-made query is adversarial"
    # ... then the adversarial query is data: MAML's meta-gradient on an episode that carries it
    by_hand = meta.Episode(episode.support_x, episode.support_y, query_adv, episode.query_y)
    expected = meta.meta_gradient(model, by_hand, "maml", inner_lr=lr, inner_steps=2)
    got = meta.meta_gradient(model, episode, "adv_query", inner_lr=lr, inner_steps=2, eps=eps, attack_steps=steps,
                             generator=torch.Generator().manual_seed(3))
    for name in expected:
        torch.testing.assert_close(got[name], expected[name])
    loss = meta.adv_query_task_loss(model, params, episode, lr, eps, 2, attack_steps=steps,
                                    generator=torch.Generator().manual_seed(3)).loss
    torch.testing.assert_close(loss, meta.maml_task_loss(model, params, by_hand, lr, 2).loss)
    # the adversarial query raises the adapted model's loss over the clean query
    assert loss.item() > meta.maml_task_loss(model, params, episode, lr, 2).loss.item() + 1e-3


def test_batched_pgd_queries_equal_each_episodes_own_pgd(mnist_train):
    model, episodes = tiny_model(), [tiny_episode(mnist_train, seed=s) for s in range(3)]
    params, eps, steps = meta.parameters_of(model), 0.2, 3
    adapted = [meta.adapt(model, params, e.support_x, e.support_y, 1.0) for e in episodes]
    got = meta.pgd_queries(model, adapted, [e.query_x for e in episodes], [e.query_y for e in episodes], eps, steps,
                           torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(1)
    for a, e, x_adv in zip(adapted, episodes, got):
        expected = attacks.pgd(meta.Functional(model, a), e.query_x, e.query_y, eps, alpha=2.5 * eps / steps, steps=steps,
                               random_start=True, generator=generator)
        torch.testing.assert_close(x_adv, expected)
        assert not x_adv.requires_grad and not torch.equal(x_adv, e.query_x)
    # query sets of different sizes go one episode at a time, with the same result
    short = meta.Episode(episodes[1].support_x, episodes[1].support_y, episodes[1].query_x[:5], episodes[1].query_y[:5])
    mixed = meta.pgd_queries(model, adapted[:2], [episodes[0].query_x, short.query_x], [episodes[0].query_y, short.query_y],
                             eps, steps, torch.Generator().manual_seed(1))
    torch.testing.assert_close(mixed[0], got[0])
    assert mixed[1].shape == short.query_x.shape
    with pytest.raises(ValueError, match="one entry per episode"):
        meta.pgd_queries(model, adapted, [e.query_x for e in episodes[:2]], [e.query_y for e in episodes], eps, steps)


def test_adversarial_querying_attacks_the_adapted_parameters_not_theta(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    params, eps, lr, steps = meta.parameters_of(model), 0.2, 2.0, 3
    adapted = meta.adapt(model, params, episode.support_x, episode.support_y, lr)
    x_adapted = meta.pgd_query(model, adapted, episode.query_x, episode.query_y, eps, steps, torch.Generator().manual_seed(0))
    x_theta = meta.pgd_query(model, params, episode.query_x, episode.query_y, eps, steps, torch.Generator().manual_seed(0))
    assert not torch.equal(x_adapted, x_theta), "a large inner step moves the attack"
    assert not x_adapted.requires_grad and (x_adapted - episode.query_x).abs().max() <= eps + 1e-12
    loss = meta.adv_query_task_loss(model, params, episode, lr, eps, attack_steps=steps,
                                    generator=torch.Generator().manual_seed(0)).loss
    on_adapted = meta.functional_loss(model, adapted, x_adapted, episode.query_y)
    on_theta = meta.functional_loss(model, adapted, x_theta, episode.query_y)
    torch.testing.assert_close(loss, on_adapted)
    assert abs(loss.item() - on_theta.item()) > 1e-3


def test_meta_step_trains_every_method_and_leaves_the_episode_alone(mnist_train):
    episode = tiny_episode(mnist_train)
    copies = [t.clone() for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y)]
    for method in meta.METHODS:
        model = tiny_model()
        before = [p.detach().clone() for p in model.parameters()]
        loss, accuracy = meta.meta_step(model, torch.optim.SGD(model.parameters(), lr=0.1), [episode], method,
                                        inner_lr=0.1, eps=0.1)
        assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters())), method
        assert loss > 0 and 0 <= accuracy <= 1, method
    for copy, now in zip(copies, (episode.support_x, episode.support_y, episode.query_x, episode.query_y)):
        assert torch.equal(copy, now)


# ----------------------------------------------------------------------------- adversarial support at meta-test time
def fgsm_attack(f, x, y):
    return attacks.fgsm(f, x, y, 0.2)


def test_poison_support_attacks_the_support_against_theta_only(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    copies = [t.clone() for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y)]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = [p.requires_grad for p in model.parameters()]
    poisoned = meta.poison_support(model, episode, fgsm_attack)
    # the support changed, exactly into FGSM against θ; the query did not
    expected = meta.fgsm_against(model, meta.parameters_of(model), episode.support_x, episode.support_y, 0.2)
    torch.testing.assert_close(poisoned.support_x, expected)
    assert not torch.equal(poisoned.support_x, episode.support_x)
    assert poisoned.query_x is episode.query_x and torch.equal(poisoned.support_y, episode.support_y)
    # the caller's tensors and the model are untouched, and no gradient is left behind
    for copy, now in zip(copies, (episode.support_x, episode.support_y, episode.query_x, episode.query_y)):
        assert torch.equal(copy, now)
    for name, p in model.named_parameters():
        assert torch.equal(before[name], p) and p.grad is None
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not poisoned.support_x.requires_grad


def test_adversarial_support_accuracy_is_the_clean_query_accuracy_after_adapting_on_the_poison(mnist_train):
    model, episodes = tiny_model(), [tiny_episode(mnist_train, seed=s) for s in range(3)]
    lr = 2.0
    got = meta.adversarial_support_accuracies(model, episodes, lr, 1, fgsm_attack)
    poisoned = [meta.poison_support(model, e, fgsm_attack) for e in episodes]
    assert got == meta.adapted_accuracies(model, poisoned, lr, 1)
    # an attack that changes nothing gives the clean-support accuracies; the FGSM poison changes the adapted model
    assert meta.adversarial_support_accuracies(model, episodes, lr, 1, lambda f, x, y: x) == \
        meta.adapted_accuracies(model, episodes, lr, 1)
    for clean, bad in zip(episodes, poisoned):
        a = meta.adapted_parameters(model, clean, lr, 1)
        b = meta.adapted_parameters(model, bad, lr, 1)
        assert max((a[n] - b[n]).abs().max().item() for n in a) > 1e-4


def test_poison_support_refuses_a_bad_attack(mnist_train):
    model, episode = tiny_model(), tiny_episode(mnist_train)
    with pytest.raises(TypeError, match="attack"):
        meta.poison_support(model, episode, "fgsm")
    with pytest.raises(ValueError, match="attack"):
        meta.poison_support(model, episode, lambda f, x, y: x[:1])


def test_sine_episodes_are_learnable_functions_of_x():
    episode = meta.sine_episode(torch.Generator().manual_seed(0), k_shot=10, n_query=5)
    amplitude, phase = episode.classes
    torch.testing.assert_close(episode.support_y, amplitude * torch.sin(episode.support_x - phase))
    assert episode.support_x.shape == (10, 1) and episode.query_x.shape == (5, 1)
