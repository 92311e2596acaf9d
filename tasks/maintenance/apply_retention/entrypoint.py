"""A step image's entrypoint: its declaration in mindpulse.catalog (and `--help`) says what it does."""

from mindpulse.protocol import main

if __name__ == "__main__":
    main("apply_retention")
