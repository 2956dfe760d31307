"""The training stages' command lines: one module per script in ``train/``, each with ``main(argv)``."""
