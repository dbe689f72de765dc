"""SQLite plumbing shared by every cache: the one BEGIN IMMEDIATE transaction helper and the
results store (explain and diagnostics periods) with its path. Imports only the hrm_core root."""
