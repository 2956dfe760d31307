"""The evaluation and benchmark command lines behind ``evaluate/*.py`` and ``benchmarks/benchmark.py``.

Each module has ``main(argv)``; the scripts pass the checkout's root (default paths) or its
preset folder, so the modules themselves read nothing from the checkout.
"""
