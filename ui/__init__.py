"""Dashboard helpers shared by app.py and views/: the sidebar selection, cached loaders, error boundary, charts.

UI only: every number shown is computed in hrm_core/ or explain/.
"""
