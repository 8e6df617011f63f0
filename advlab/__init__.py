"""advlab: the helper package behind the advlab notebooks on adversarial machine learning.

One module a concept; the data flow one way:

    checks, config, progress, idx, stats, flops -> data -> mnist_files | text -> models -> attacks
        -> vat | grl | meta | blackbox | poisoning -> evaluate -> liveplot -> train -> runs
        -> adversarial_training | text_adversarial | smoothing -> certify
        -> plots | widgets -> reports -> results | exercises
"""

__version__ = "0.1.0"
