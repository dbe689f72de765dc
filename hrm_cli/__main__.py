"""`python -m hrm_cli ...` (and `torchrun -m hrm_cli train ...`) run the `hrm` command."""
import sys

from hrm_cli.command import main

sys.exit(main())
