"""Dashboard helpers shared by app.py and pages/: the sidebar selection, cached loaders, error boundary, charts.

UI only: every number shown is computed in hrm_core/ or explain/.
"""
