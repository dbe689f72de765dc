"""`hrm diagnose` verbs (being built)."""


def add_verbs(sub) -> None:
    """Register this module's verbs on the `hrm` subparsers."""
