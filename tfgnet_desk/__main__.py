"""``python -m tfgnet_desk``: the same as the ``tfgnet-desk`` command.

The guard matters: the generation engine runs in a ``spawn``-ed child process, which imports the main
module again (as ``__mp_main__``); without it, the child would start a second application.
"""

import sys

if __name__ == "__main__":
    from tfgnet_desk.cli import main

    sys.exit(main())
