"""The SMART on FHIR timeline app: launched from a card's link (EHR launch, SMART App Launch 2.0) or
standalone for testing, it signs in with the authorization code flow and PKCE, reads the patient's live
record through the hook path's readers and guards (service/fhir_access) and draws the shared timeline
(timeline_view) with today's cards. Tokens stay on the server (sessions.py); pages carry no script.

Mounted by service/app.py at /smart when CDS_SMART_APP_ENABLED is set."""
