"""What the service keeps: the database engine (database), its schema migrations (migrations,
migration_scripts/), clinician feedback (feedback), the cards issued (issued_cards) and the overrides
that quiet later cards (acknowledgements)."""
