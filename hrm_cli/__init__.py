"""The `hrm` command: a face like the dashboard pages, above hrm_core and explain (it may import both;
nothing below imports it). `command` holds the parser and the small verbs; explain, diagnose, live
(with reconcile and health) and walkforward hold the larger ones."""
from hrm_cli.command import main

__all__ = ["main"]
