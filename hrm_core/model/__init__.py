"""The networks and their files: configs and presets, layers, the HRM and the flat transformer,
the position rule's stored form, and safe checkpoints with model cards. Imports data, storage and
the root; never trading (a checkpoint stores its position rule as plain data)."""
