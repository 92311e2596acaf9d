"""`python -m mindpulse.catalog --build-list`: one line per step for build_images.sh (name, image, family, folder)."""

import sys

from mindpulse.catalog import STEPS

if sys.argv[1:] != ["--build-list"]:
    sys.exit("usage: python -m mindpulse.catalog --build-list")
for step in STEPS:
    print(step.name, step.image_name, step.family, step.folder)
