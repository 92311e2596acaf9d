import sys

from mindpulse_guard.server import main

sys.exit(main(sys.argv))
