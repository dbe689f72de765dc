"""What the dashboard's pages show, computed once per model file, data, settings and code and kept in
results.db (results.py), and the warm-up that fills it before anyone asks (warm.py). Imports every engine layer
and explain; never Streamlit (the pages' caches in ui/loaders.py sit on top of it)."""
