"""Captum attribution of the HRM (module, cycle, feature x time) and stakeholder reports."""
