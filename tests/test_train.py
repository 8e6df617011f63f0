"""advlab.train and advlab.liveplot: the shared loop learns, is deterministic, takes extra loss
terms, and its live plot updates one display in place (or none, outside Jupyter)."""

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from advlab import liveplot
from advlab.models import SmallCNN
from advlab.train import Batch, fit


def quiet_fit(model, data, **kwargs):
    return fit(model, data, progress=False, **kwargs)


def test_loss_decreases_on_a_small_batch_of_real_pairs(small_mixture):
    x, y = small_mixture
    torch.manual_seed(0)
    model = SmallCNN()
    before = F.cross_entropy(model(x), y).item()
    history = quiet_fit(model, (x, y), epochs=4, batch_size=32, live=False)
    after = F.cross_entropy(model.eval()(x), y).item()
    assert after < 0.6 * before
    assert history.values("train acc")[-1] > 0.75
    assert len(history.epoch_seconds) == 4
    assert all(p.grad is None for p in model.parameters()), "fit leaves no gradients behind"


def test_same_seed_same_numbers(small_mixture):
    x, y = small_mixture

    def run():
        torch.manual_seed(0)
        model = SmallCNN()
        history = quiet_fit(model, (x[:128], y[:128]), epochs=2, batch_size=16, seed=4, live=False)
        return history, model

    (h1, m1), (h2, m2) = run(), run()
    assert h1 == h2
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def test_extra_loss_terms_see_the_batch_and_are_logged(small_mixture):
    x, y = small_mixture
    seen = []

    def l2_penalty(model, batch):
        assert isinstance(batch, Batch) and batch.logits.requires_grad
        seen.append(batch.progress)
        return 1e-3 * sum(p.pow(2).sum() for p in model.parameters())

    history = quiet_fit(SmallCNN(), (x[:64], y[:64]), epochs=2, batch_size=16, extra_losses={"l2 loss": l2_penalty}, live=False)
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] < 1
    assert {"l2 loss", "clean loss", "train loss"} <= set(history)
    total, clean, l2 = (history.values(k)[-1] for k in ("train loss", "clean loss", "l2 loss"))
    assert total == pytest.approx(clean + l2, rel=1e-5)


def test_clean_weight_zero_trains_on_the_extra_term_only(small_mixture):
    x, y = small_mixture
    torch.manual_seed(0)
    model = SmallCNN()
    head_before = model.head.weight.detach().clone()

    def only_features(model, batch):  # touches the extractor, never the head
        return model.features(batch.x).pow(2).mean()

    quiet_fit(model, (x[:64], y[:64]), epochs=1, batch_size=32, clean_weight=0.0, extra_losses={"f loss": only_features}, live=False)
    assert torch.equal(model.head.weight, head_before)


def test_metrics_are_logged_each_epoch_in_eval_mode(small_mixture):
    x, y = small_mixture
    modes = []

    def probe(model):
        modes.append(model.training)
        return 0.5

    history = quiet_fit(SmallCNN(), (x[:64], y[:64]), epochs=3, batch_size=32, metrics={"probe acc": probe}, live=False)
    assert history["probe acc"] == [(1.0, 0.5), (2.0, 0.5), (3.0, 0.5)]
    assert modes == [False, False, False]


def test_live_plot_degrades_to_a_static_figure_without_a_display(small_mixture):
    x, y = small_mixture
    assert not liveplot.in_jupyter_kernel()
    history = quiet_fit(SmallCNN(), (x[:64], y[:64]), epochs=2, batch_size=16, live=True)
    assert isinstance(history.figure, Figure)
    loss_ax, acc_ax = history.figure.axes[:2]
    assert [line.get_label() for line in loss_ax.lines] == ["train loss"]
    assert [line.get_label() for line in acc_ax.lines] == ["train acc"]
    assert len(acc_ax.lines[0].get_xdata()) == 2


def test_live_plot_shows_one_output_and_updates_it_in_place(monkeypatch):
    """In Jupyter the figure is displayed once and later redraws replace it: no duplicates."""
    import IPython.display

    shown = []

    class Handle:
        updates = 0

        def update(self, obj):
            Handle.updates += 1
            assert obj.data[:8] == b"\x89PNG\r\n\x1a\n"

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    plot = liveplot.LivePlot(show=True, min_interval_s=0.0, headless=False)
    history = liveplot.History()
    for epoch in range(1, 4):
        history.log("train loss", epoch, 1 / epoch)
        history.log("test acc", epoch, 0.5 + 0.1 * epoch)
        plot.update(history)
    assert len(shown) == 1 and Handle.updates == 2


def test_live_plot_throttles_redraws():
    plot = liveplot.LivePlot(show=False, min_interval_s=60, headless=False)
    history = liveplot.History()
    history.log("train loss", 0.1, 1.0)
    assert plot.update(history) is True
    assert plot.update(history) is False
    assert plot.update(history, force=True) is True


def test_headless_live_plot_draws_only_its_final_frame():
    plot = liveplot.LivePlot(show=False, min_interval_s=0.0, headless=True)
    history = liveplot.History()
    history.log("train loss", 0.1, 1.0)
    assert plot.update(history) is False
    assert plot.update(history, force=True) is False
    assert plot.update(history, final=True) is True
    assert plot.redraws == 1


def test_fit_redraws_a_number_of_times_fixed_by_the_work(small_mixture, monkeypatch):
    """However slow the machine, a watched fit redraws at most once per logged point and once per epoch."""
    monkeypatch.setattr(liveplot.time, "perf_counter", lambda: 0.0)  # a frozen clock: no redraw is skipped by time
    redraws = []
    original_update = liveplot.LivePlot.update

    def counting_update(self, history, force=False, final=False):
        drew = original_update(self, history, force=force, final=final)
        redraws.append(drew)
        return drew

    monkeypatch.setattr(liveplot.LivePlot, "update", counting_update)
    monkeypatch.setattr(liveplot, "in_jupyter_kernel", lambda: False)
    monkeypatch.setenv("ADVLAB_HEADLESS", "0")
    fit(SmallCNN(), small_mixture, epochs=2, batch_size=64, points_per_epoch=4, progress=False)
    steps_per_epoch = -(-len(small_mixture[1]) // 64)
    assert len(redraws) == 2 * (4 + 1), f"{len(redraws)} update calls for 2 epochs of {steps_per_epoch} steps"


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"clean_weight": 0.0}, ValueError, "clean_weight"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_fit_rejects_bad_arguments(small_mixture, kwargs, error, word):
    x, y = small_mixture
    with pytest.raises(error, match=word):
        quiet_fit(SmallCNN(), (x[:8], y[:8]), live=False, **kwargs)


def test_fit_rejects_labels_that_do_not_match(small_mixture):
    x, y = small_mixture
    with pytest.raises(ValueError, match=r"train_data\[1\]"):
        quiet_fit(SmallCNN(), (x[:8], y[:7]), live=False)
    with pytest.raises(TypeError, match=r"train_data\[1\]"):
        quiet_fit(SmallCNN(), (x[:8], y[:8].float()), live=False)


class _HashedEmbedding(torch.nn.Module):
    """Token ids -> an embedding of (id mod 7): exact only if the ids arrive as int64, unrounded."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(7, 4)
        self.head = torch.nn.Linear(4, 2)
        self.dtypes = set()

    def forward(self, ids):
        self.dtypes.add(ids.dtype)
        return self.head(self.embedding(ids % 7).mean(dim=1))


def test_int64_token_ids_train_uncast_even_beyond_float32_precision():
    base = 2**24 + 1  # float32 rounds it to 2**24, which is another id mod 7
    ids = base + torch.arange(48 * 5).view(48, 5)
    assert (ids.float().long() != ids).any(), "the float path would change these ids"
    y = (ids[:, 0] % 2).long()
    seen = []
    model = _HashedEmbedding()
    quiet_fit(model, (ids, y), epochs=2, batch_size=16, live=False,
              extra_losses={"probe": lambda m, batch: seen.append(batch.x.dtype) or batch.logits.sum() * 0})
    assert model.dtypes == {torch.int64} and set(seen) == {torch.int64}
    reference = _HashedEmbedding()  # the same steps on ids reduced by hand: identical weights
    quiet_fit(reference, (ids % 7, y), epochs=2, batch_size=16, live=False,
              extra_losses={"probe": lambda m, batch: batch.logits.sum() * 0})
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.uint8])
def test_fit_rejects_inputs_that_are_neither_float_nor_int64(dtype):
    with pytest.raises(TypeError, match=r"train_data\[0\].*int64"):
        quiet_fit(_HashedEmbedding(), (torch.ones(8, 5, dtype=dtype), torch.zeros(8, dtype=torch.int64)), live=False)
