"""Session-state namespaces shared by the sidebar (ui.state) and the upload box (ui.uploads) that it draws."""
SIDEBAR = "sidebar."
