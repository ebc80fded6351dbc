#!/usr/bin/env python3
"""Classic AGI entry point (process per call): AGI(ivr_agi.py,ants-3400) in the dialplan.

Installed next to Asterisk's agi-bin with the `ivr` package importable (the
project's virtualenv). Settings come from IVR_* environment variables, as for
`ivr serve`.
"""

import sys

from ivr.server.classic import main

if __name__ == "__main__":
    sys.exit(main())
