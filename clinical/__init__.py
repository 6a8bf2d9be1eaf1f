"""The clinical core: reviewed knowledge, the patient timeline read from FHIR data, the rules and the
cards. Pure Python over plain JSON: it imports nothing from HTTP, the database, authentication or
settings (tests/test_layering.py and the import-linter contract in pyproject.toml keep it so)."""
