"""The reviewers' workbench: reading exports, alert burden over a date range, HTML report and timelines.

Everything clinical goes through `clinical_adapter`, the one module that knows the clinical core's API.
"""
