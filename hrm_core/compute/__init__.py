"""Where sweeps run: one `concurrent.futures.Executor` seam over in-process, local processes and Dask.

Imports only the engine's root modules (errors, runtime); the layers above submit their jobs here.
"""
