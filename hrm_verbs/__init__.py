"""Verbs of the `hrm` command that live beside hrm_cli.py: one module per capability, each with add_verbs(sub)."""
