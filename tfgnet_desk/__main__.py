"""``python -m tfgnet_desk``: the same as the ``tfgnet-desk`` command."""

import sys

from tfgnet_desk.cli import main

sys.exit(main())
