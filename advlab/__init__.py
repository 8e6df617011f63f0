"""advlab: the helper package behind the advlab notebooks on adversarial machine learning.

One module a concept; the data flow one way:

    checks, config -> data -> models -> attacks | vat | grl | meta -> evaluate
                   -> liveplot -> train -> plots | widgets -> reports
"""

__version__ = "0.1.0"
