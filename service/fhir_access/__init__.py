"""Reading the patient's data: prefetch (prefetch), the FHIR server when prefetch is missing
(fhir_client), bounded outbound HTTP (outbound) and which FHIR servers may be called (url_policy)."""
