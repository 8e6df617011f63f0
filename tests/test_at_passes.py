"""The pass counts notebook 04 prints are the passes `fit` really makes (issue 20: the clean
forward that the loop always runs was missing from the count)."""

import pytest

from advlab import adversarial_training as at
from advlab.models import SmallCNN
from advlab.train import fit


@pytest.mark.parametrize("method, kwargs", [("fgsm", {}), ("fgm", {}), ("pgd", {"steps": 3}), ("fast", {})])
def test_forward_passes_per_batch_are_the_forward_calls_fit_makes(small_mixture, method, kwargs):
    x, y = small_mixture
    model = SmallCNN(2)
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    setup = at.setup(method, 1.0 if method == "fgm" else 0.1, **kwargs)
    fit(model, (x[:32], y[:32]), epochs=1, batch_size=32, live=False, progress=False, **setup)
    term = setup["extra_losses"]["adv loss"]
    assert len(calls) == term.forward_passes_per_batch
    assert term.forward_passes_per_batch == term.attack_passes + 2  # attack, adversarial, clean
    assert term.backward_passes_per_batch == term.passes_per_batch
