"""Entry point of the PyInstaller bundle: the same ``tfgnet-desk`` command as the installed script."""

import multiprocessing
import sys

from tfgnet_desk.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
