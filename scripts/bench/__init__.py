"""The benchmarks behind the docs' figures and their shared helpers, run from the repository root
(``python -m scripts.bench.<name>``); each module's docstring gives its command and options, and the
contributing page lists which report each one writes.
"""
