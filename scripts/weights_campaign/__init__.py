"""The weights campaign: the zoo's weights trained further in chunks of about 90 minutes that survive restarts,
x3 and x4 warm-started from the x2 body, every published figure backed by a ``basicsr test`` JSON and a log.

    python -m scripts.weights_campaign chunk --scale 2     # one chunk (see __main__ for every option)
    python -m scripts.weights_campaign status              # curves, targets, stopping rule

Modules: ``log`` (the committed per-scale log, targets, stopping rule; no torch), ``evaluate`` (``basicsr
test`` of one file -> its evidence record), ``chunk`` (one chunk: start weights, training, evaluation,
publishing on improvement), ``warmstart`` (the equal-budget warm start vs scratch check), ``__main__`` (the
command line).
"""
