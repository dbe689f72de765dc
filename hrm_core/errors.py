"""Typed errors of the core. Faces (pages, CLI) turn them into one clear line."""


class HRMError(Exception):
    """Base class: every error the core raises on purpose."""


class DataError(HRMError):
    """Market data is missing, malformed or unusable."""


class UnknownSymbolError(DataError):
    """No source knows the requested symbol."""


class EmptyDataError(DataError):
    """A source returned no rows for the request."""


class InsufficientDataError(DataError):
    """Too few bars for the model window or the feature warm-up."""


class InvalidBarsError(DataError):
    """Bars violate the contract: NaN/inf, non-positive prices, high < low, bad timestamps, missing columns."""


class ModelError(HRMError):
    """A model or checkpoint cannot be built, loaded or run."""


class CheckpointError(ModelError):
    """A checkpoint is corrupt, unsafe, or does not match the code's config/feature spec."""


class CacheError(DataError):
    """The SQLite market-data cache cannot be opened, read or written (locked too long, corrupt, read-only)."""
