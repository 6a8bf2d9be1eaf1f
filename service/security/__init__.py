"""Who may call: the CDS client JWT check (authentication), the clients' key sets (jwks), the
trusted-clients file (trusted_clients) and the jti replay store (replay_store)."""
