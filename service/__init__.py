"""CDS Hooks 2.0 service: brain MRI advice and neurotoxicity flags for immunotherapy."""
