"""`python -m vla_r1_cli ...` (what `accelerate launch -m vla_r1_cli train ...` runs): the `vla-r1` command."""

import sys

from vla_r1_cli.main import main

sys.exit(main())
