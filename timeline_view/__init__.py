"""One patient's immunotherapy timeline as people see it: the plain view model (model), the HTML shell
and escaping (html) and the SVG timeline page (render). The reviewers' workbench draws it from a bulk
export; the SMART app draws it from the live record. Nothing here reads FHIR or talks HTTP."""
