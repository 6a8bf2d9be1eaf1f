"""The words of the burden report and the timeline pages, per language (the German hospitals review:
"the burden report and timelines in German on request"). Each language has the same keys and, in each
text, the same {placeholders}; tests/test_report_words.py checks it. Dates are written as each language
writes them (2026-12-04 in English, 04.12.2026 in German), as the cards do."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    # formats
    "date_format": "%Y-%m-%d",
    "month_format": "%Y-%m",
    "span": "{first} to {last}",
    "unknown": "unknown",
    # indicators
    "indicator.critical": "critical",
    "indicator.warning": "warning",
    "indicator.info": "info",
    # the timeline figure
    "therapy.ici": "Immune checkpoint inhibitor",
    "therapy.car_t": "CAR-T cell therapy",
    "therapy.t_cell_engager": "T-cell engager",
    "score.ice": "ICE score",
    "score.capd": "CAPD score",
    "lane.imaging_windows": "Imaging windows",
    "lane.brain_mri": "Brain MRI",
    "lane.findings": "Neurological findings",
    "lane.card": "Card: {topic}",
    "stage.administered": "administered",
    "stage.ordered": "ordered",
    "stage.planned": "planned",
    "mri.done": "done",
    "mri.ordered": "ordered",
    "course_title": "{therapy} ({agents}): {first} to {last}",
    "ongoing": "ongoing",
    "planned_note": "planned",
    "day_zero": "day 0",
    "day_zero_title": "day 0: {date} ({source})",
    "brain_mri_title": "brain MRI {state} {date} ({source})",
    "window_title": "{window}: {first} to {last}",
    "card_run_title": "{first} to {last} ({days} days) {rule}: {summary}",
    "evaluated_title": "evaluated: {first} to {last}",
    "timeline_label": "Timeline of patient {patient}",
    # evidence behind a card
    "evidence.grade": ", grade {grade}",
    "evidence.suspected": " (suspected)",
    # the live timeline's first section (the SMART app)
    "today.heading": "Today's cards",
    "today.none": "No card fires today: the service has nothing to advise on this record now.",
    "today.therapy_day": "Therapy day today",
    "today.therapy_day_item": "{therapy}: day {day} (day 0 {day_zero})",
    "evidence.score": "{name} score {score} on {date}",
    "evidence.plan": "planned {what} ({kind})",
    "evidence.start": "planned start {date}",
    "evidence.window": "window {window} ({therapy}, day 0 {day_zero})",
    "evidence.iupd": "iRECIST unconfirmed progression (iUPD) reported {date}",
    "therapy_day": "day {first}",
    "therapy_days": "day {first}-{last}",
    "days.one": "{count} day",
    "days.many": "{count} days",
    # the timeline page
    "timeline.title": "Timeline: patient {patient}",
    "timeline.heading": "Patient {patient}",
    "timeline.sub": "Cards as patient-view would answer them, {when}",
    "timeline.back": "Back to the report",
    "timeline.orphan": "Orphan: the export holds no Patient resource for this id. Its records are shown "
    "here but it is not counted as a patient of the cohort.",
    "cards.heading": "Cards",
    "cards.none": "No card fires on any day of the range.",
    "cards.runs_note": "Repeated cards are merged into runs: the same topic and rule on consecutive days, "
    "with its strongest indicator, the last day's wording and the records behind it.",
    "cards.order_heading": "Cards only an order shows (order-select simulated at the order's authoredOn)",
    "undated.heading": "Recorded without a usable date",
    "legend.administered": "administered",
    "legend.ordered": "ordered",
    "legend.planned": "planned",
    "legend.day_zero": "day 0",
    "legend.mri_done": "brain MRI done",
    "legend.mri_ordered": "brain MRI ordered",
    "legend.grade": "ICANS grade",
    "legend.range": "evaluated range",
    # the report
    "report.title": "Alert burden report",
    "report.heading": "Alert burden",
    "report.sub": "What patient-view would answer for every patient of {source}, every day {when} "
    "({days} days), evaluated at 12:00 UTC.",
    "report.as_of": "Each day sees only what had entered the chart by then (no look-ahead). Statuses are "
    "as exported: an order stopped or entered in error later is seen with its final status on every day, "
    "because an export holds no history. A card-day is one card on one day; an episode is the same topic "
    "for the same patient on consecutive days, counted once. Per 100 patients per week: card-days / "
    "({patients} patients x {days} days) x 700; exposed patients are those with a checkpoint inhibitor, "
    "CAR-T or T-cell engager on record ({exposed}).",
    "report.files": "Each patient's timeline is in {patients_dir}; every card is in {cards_file}; the "
    "numbers are in {summary_file}.",
    "stat.patients": "patients",
    "stat.exposed": "exposed patients",
    "stat.with_cards": "patients with any card",
    "stat.with_critical": "patients with a critical card",
    "stat.card_days": "card-days",
    "stat.episodes": "episodes",
    "stat.rate": "cards per 100 patients per week",
    "stat.rate_exposed": "cards per 100 exposed patients per week",
    "stat.order_time": "order-time cards",
    "stat.unreadable": "resources not readable",
    "heading.cards": "Cards",
    "heading.by_rule": "By rule",
    "heading.order_time": "Order-time cards",
    "heading.patients": "Patients with cards",
    "heading.critical": "Patients with critical cards",
    "heading.data_quality": "Data quality",
    "chart.rate_title": "Cards per 100 patients per week, by topic and indicator",
    "chart.rate_label": "cards per 100 patients per week",
    "chart.rate_axis": "card-days per 100 patients per week",
    "chart.rule_title": "By rule: card-days, episodes and patients",
    "chart.rule_label": "card-days, episodes and patients by rule",
    "chart.count": "count",
    "chart.per_patient_title": "Card-days per patient (patients with at least one card)",
    "chart.per_patient_label": "patients by card-days",
    "chart.per_patient_axis": "card-days per patient over the range",
    "chart.patients": "patients",
    "chart.zero_bin": "Not drawn: {count} patients with no card.",
    "chart.over_time_title": "Cards per day over the range, by indicator",
    "chart.cards_per_day": "cards per day",
    "chart.date_axis": "date (evaluated at 12:00 UTC)",
    "series.card_days": "card-days",
    "series.episodes": "episodes",
    "series.patients": "patients",
    "head.rule": "Rule",
    "head.card_days": "Card-days",
    "head.episodes": "Episodes",
    "head.patients": "Patients",
    "head.rate": "Card-days per 100 patients per week",
    "head.order_time_cards": "Order-time cards",
    "head.patient": "Patient",
    "head.therapy": "Therapy",
    "head.topics": "Topics",
    "head.first_day": "First day",
    "head.last_day": "Last day",
    "head.worst": "Worst",
    "head.topic": "Topic",
    "head.per_100": "Per 100 patients per week",
    "head.critical_days": "Days with a critical card",
    "head.first": "First",
    "head.last": "Last",
    "head.reason": "Reason",
    "head.resources": "Resources",
    "head.meaning": "What it means",
    "head.element": "Element",
    "head.error": "Error",
    "head.problem": "Problem",
    "head.count": "Count",
    "head.system": "System",
    "head.code": "Code",
    "head.display": "Display or text",
    "head.records": "Records",
    "head.resource_type": "Resource type",
    "head.validated": "Validated (sample)",
    "head.not_conforming": "Not conforming",
    "head.example": "Example",
    "head.id": "Id",
    "head.first_problem": "First problem",
    "rules.none": "No rule fired on any day of the range.",
    "order_time.text": "Hooks simulated besides patient-view: {hooks}, at each therapy order's authoredOn "
    "within the range, with the chart as of the day before and the MedicationRequest itself as the draft "
    "order. {orders} orders simulated; {cards} cards that only the order hook shows (not shown by "
    "patient-view that day). Not counted in the card-days above; listed in {file}.",
    "patients.none": "No patient has a card on any day of the range.",
    "patients.no_therapy": "none on record",
    "patients.orphan": "(orphan: no Patient resource)",
    "patients.more": "{count} more in {patients_file} and {cards_file}.",
    "critical.none": "No patient has a critical card on any day of the range.",
    "critical.more": "{count} more not listed.",
    "quality.read": "{read} resources read; {skipped} could not be read and were left out.",
    "quality.dates_heading": "Dates the rules read that cannot be parsed",
    "quality.dates_note": "The resource is read; its date is read as unknown.",
    "quality.ignored": "Resource types the rules do not read (ignored): {types}",
    "quality.failed_heading": "Patients whose evaluation failed",
    "quality.encoding": "lines not in their file's encoding, read as Latin-1; by file: {files}",
    "quality.none": "none",
    "quality.file_encoding": "file {name}",
    "quality.wrong_file": "wrong file {name}",
    "quality.oversized": "oversized in {name}",
    "quality.codes_heading": "Medication codes the therapy catalog does not recognise (most frequent 20)",
    "quality.codes_note": "Every MedicationRequest, MedicationAdministration and MedicationStatement whose "
    "codes and texts match no agent of the catalog: most are other medicines; a therapy known here only "
    "by a local code is invisible to the rules until it is mapped.",
    "problem.invalid_json": "lines that are not JSON (truncated, garbage): left out",
    "problem.missing_resource_type": "JSON objects without a resourceType: left out",
    "problem.wrong_file": "resources in the file of another type (an Observation in Condition.ndjson): read",
    "problem.duplicates": "a resource type and id seen before: read once",
    "problem.orphan_references": "resources naming a patient with no Patient resource: not in the "
    "denominator",
    "problem.orphan_patient_ids": "patient ids named only by such resources (flagged on their timelines)",
    "problem.undated": "clinical resources with no chart-entry date: seen from the first day",
    "problem.unparseable_dates": "dates the rules read that cannot be parsed: the resource read, the date "
    "unknown",
    "problem.unrecognised_therapy_codes": "medication records whose codes and texts match no catalog agent",
    "problem.oversized_lines": "lines over the size cap (--max-line-mib): skipped, never read whole",
    "skip.invalid-json": "the line is not JSON (truncated or garbage)",
    "skip.not-a-resource": "JSON, but not a FHIR resource (no resourceType)",
    "skip.invalid-id": "the id is not a string",
    "skip.invalid-patient-reference": "subject/patient is not a Reference object with a string reference",
    "skip.no-patient-reference": "names no patient, and the export holds several",
    "skip.patient-without-id": "a Patient without an id",
    "validation.heading": "FHIR R4B validation",
    "validation.text": "{validated} resources of the types the rules read were validated against the FHIR "
    "R4B models (fhir.resources): a random sample of up to {per_type} per type, drawn across every "
    "resource of the type (seed {seed}); {invalid} do not conform. The service reads them anyway, "
    "defensively; this list is for the team that builds the export.",
    "validation.problems_heading": "What does not conform",
    "validation.failures_heading": "The resources that failed",
}

_DE: dict[str, str] = {
    "date_format": "%d.%m.%Y",
    "month_format": "%m.%Y",
    "span": "{first} bis {last}",
    "unknown": "unbekannt",
    "indicator.critical": "kritisch",
    "indicator.warning": "Warnung",
    "indicator.info": "Info",
    "therapy.ici": "Immun-Checkpoint-Inhibitor",
    "therapy.car_t": "CAR-T-Zelltherapie",
    "therapy.t_cell_engager": "T-Zell-Engager",
    "score.ice": "ICE-Score",
    "score.capd": "CAPD-Score",
    "lane.imaging_windows": "Bildgebungsfenster",
    "lane.brain_mri": "MRT des Schädels",
    "lane.findings": "Neurologische Befunde",
    "lane.card": "Karte: {topic}",
    "stage.administered": "verabreicht",
    "stage.ordered": "angeordnet",
    "stage.planned": "geplant",
    "mri.done": "durchgeführt",
    "mri.ordered": "angeordnet",
    "course_title": "{therapy} ({agents}): {first} bis {last}",
    "ongoing": "laufend",
    "planned_note": "geplant",
    "day_zero": "Tag 0",
    "day_zero_title": "Tag 0: {date} ({source})",
    "brain_mri_title": "MRT des Schädels {state} {date} ({source})",
    "window_title": "{window}: {first} bis {last}",
    "card_run_title": "{first} bis {last} ({days} Tage) {rule}: {summary}",
    "evaluated_title": "ausgewertet: {first} bis {last}",
    "timeline_label": "Zeitstrahl von Patient {patient}",
    "evidence.grade": ", Grad {grade}",
    "evidence.suspected": " (Verdacht)",
    # the live timeline's first section (the SMART app)
    "today.heading": "Karten von heute",
    "today.none": "Heute keine Karte: der Dienst hat zu diesem Datensatz derzeit keinen Hinweis.",
    "today.therapy_day": "Therapietag heute",
    "today.therapy_day_item": "{therapy}: Tag {day} (Tag 0 am {day_zero})",
    "evidence.score": "{name}-Score {score} am {date}",
    "evidence.plan": "geplant: {what} ({kind})",
    "evidence.start": "geplanter Beginn {date}",
    "evidence.window": "Fenster {window} ({therapy}, Tag 0 {day_zero})",
    "evidence.iupd": "iRECIST: unbestätigte Progression (iUPD) befundet am {date}",
    "therapy_day": "Tag {first}",
    "therapy_days": "Tag {first}-{last}",
    "days.one": "{count} Tag",
    "days.many": "{count} Tage",
    "timeline.title": "Zeitstrahl: Patient {patient}",
    "timeline.heading": "Patient {patient}",
    "timeline.sub": "Karten, wie patient-view sie beantworten würde, {when}",
    "timeline.back": "Zurück zum Bericht",
    "timeline.orphan": "Verwaist: der Export enthält keine Patient-Ressource zu dieser ID. Ihre "
    "Dokumente werden hier gezeigt, sie zählt aber nicht als Patient der Kohorte.",
    "cards.heading": "Karten",
    "cards.none": "An keinem Tag des Zeitraums erscheint eine Karte.",
    "cards.runs_note": "Wiederholte Karten sind zu Serien zusammengefasst: gleiches Thema und gleiche Regel "
    "an aufeinanderfolgenden Tagen, mit dem stärksten Indikator, dem Wortlaut des letzten Tages und den "
    "zugrunde liegenden Dokumenten.",
    "cards.order_heading": "Karten, die nur eine Anordnung zeigt (order-select zum authoredOn der "
    "Anordnung simuliert)",
    "undated.heading": "Ohne verwertbares Datum dokumentiert",
    "legend.administered": "verabreicht",
    "legend.ordered": "angeordnet",
    "legend.planned": "geplant",
    "legend.day_zero": "Tag 0",
    "legend.mri_done": "MRT des Schädels durchgeführt",
    "legend.mri_ordered": "MRT des Schädels angeordnet",
    "legend.grade": "ICANS-Grad",
    "legend.range": "ausgewerteter Zeitraum",
    "report.title": "Bericht zur Kartenlast",
    "report.heading": "Kartenlast",
    "report.sub": "Was patient-view für jeden Patienten aus {source} antworten würde, jeden Tag {when} "
    "({days} Tage), ausgewertet um 12:00 UTC.",
    "report.as_of": "Jeder Tag sieht nur, was bis dahin dokumentiert war (kein Vorgriff). Status wie "
    "exportiert: eine später abgesetzte oder als Fehleintrag markierte Anordnung erscheint an jedem Tag mit "
    "ihrem letzten Status, da ein Export keine Historie enthält. Ein Kartentag ist eine Karte an einem Tag; "
    "eine Episode ist dasselbe Thema beim selben Patienten an aufeinanderfolgenden Tagen, einmal gezählt. "
    "Pro 100 Patienten und Woche: Kartentage / ({patients} Patienten x {days} Tage) x 700; exponierte "
    "Patienten sind solche mit dokumentiertem Checkpoint-Inhibitor, CAR-T oder T-Zell-Engager ({exposed}).",
    "report.files": "Der Zeitstrahl jedes Patienten liegt in {patients_dir}; jede Karte in {cards_file}; "
    "die Zahlen in {summary_file}.",
    "stat.patients": "Patienten",
    "stat.exposed": "exponierte Patienten",
    "stat.with_cards": "Patienten mit mindestens einer Karte",
    "stat.with_critical": "Patienten mit einer kritischen Karte",
    "stat.card_days": "Kartentage",
    "stat.episodes": "Episoden",
    "stat.rate": "Karten pro 100 Patienten und Woche",
    "stat.rate_exposed": "Karten pro 100 exponierte Patienten und Woche",
    "stat.order_time": "Karten zum Anordnungszeitpunkt",
    "stat.unreadable": "nicht lesbare Ressourcen",
    "heading.cards": "Karten",
    "heading.by_rule": "Nach Regel",
    "heading.order_time": "Karten zum Anordnungszeitpunkt",
    "heading.patients": "Patienten mit Karten",
    "heading.critical": "Patienten mit kritischen Karten",
    "heading.data_quality": "Datenqualität",
    "chart.rate_title": "Karten pro 100 Patienten und Woche, nach Thema und Indikator",
    "chart.rate_label": "Karten pro 100 Patienten und Woche",
    "chart.rate_axis": "Kartentage pro 100 Patienten und Woche",
    "chart.rule_title": "Nach Regel: Kartentage, Episoden und Patienten",
    "chart.rule_label": "Kartentage, Episoden und Patienten nach Regel",
    "chart.count": "Anzahl",
    "chart.per_patient_title": "Kartentage pro Patient (Patienten mit mindestens einer Karte)",
    "chart.per_patient_label": "Patienten nach Kartentagen",
    "chart.per_patient_axis": "Kartentage pro Patient im Zeitraum",
    "chart.patients": "Patienten",
    "chart.zero_bin": "Nicht gezeichnet: {count} Patienten ohne Karte.",
    "chart.over_time_title": "Karten pro Tag im Zeitraum, nach Indikator",
    "chart.cards_per_day": "Karten pro Tag",
    "chart.date_axis": "Datum (ausgewertet um 12:00 UTC)",
    "series.card_days": "Kartentage",
    "series.episodes": "Episoden",
    "series.patients": "Patienten",
    "head.rule": "Regel",
    "head.card_days": "Kartentage",
    "head.episodes": "Episoden",
    "head.patients": "Patienten",
    "head.rate": "Kartentage pro 100 Patienten und Woche",
    "head.order_time_cards": "Karten zum Anordnungszeitpunkt",
    "head.patient": "Patient",
    "head.therapy": "Therapie",
    "head.topics": "Themen",
    "head.first_day": "Erster Tag",
    "head.last_day": "Letzter Tag",
    "head.worst": "Höchster Indikator",
    "head.topic": "Thema",
    "head.per_100": "Pro 100 Patienten und Woche",
    "head.critical_days": "Tage mit kritischer Karte",
    "head.first": "Erster",
    "head.last": "Letzter",
    "head.reason": "Grund",
    "head.resources": "Ressourcen",
    "head.meaning": "Bedeutung",
    "head.element": "Element",
    "head.error": "Fehler",
    "head.problem": "Problem",
    "head.count": "Anzahl",
    "head.system": "System",
    "head.code": "Code",
    "head.display": "Anzeige oder Text",
    "head.records": "Dokumente",
    "head.resource_type": "Ressourcentyp",
    "head.validated": "Validiert (Stichprobe)",
    "head.not_conforming": "Nicht konform",
    "head.example": "Beispiel",
    "head.id": "ID",
    "head.first_problem": "Erstes Problem",
    "rules.none": "An keinem Tag des Zeitraums hat eine Regel ausgelöst.",
    "order_time.text": "Neben patient-view simulierte Hooks: {hooks}, zum authoredOn jeder "
    "Therapieanordnung im Zeitraum, mit der Akte vom Vortag und der MedicationRequest selbst als "
    "Anordnungsentwurf. {orders} Anordnungen simuliert; {cards} Karten, die nur der Anordnungs-Hook zeigt "
    "(an dem Tag nicht von patient-view gezeigt). Nicht in den Kartentagen oben gezählt; aufgeführt in "
    "{file}.",
    "patients.none": "An keinem Tag des Zeitraums hat ein Patient eine Karte.",
    "patients.no_therapy": "keine dokumentiert",
    "patients.orphan": "(verwaist: keine Patient-Ressource)",
    "patients.more": "{count} weitere in {patients_file} und {cards_file}.",
    "critical.none": "An keinem Tag des Zeitraums hat ein Patient eine kritische Karte.",
    "critical.more": "{count} weitere nicht aufgeführt.",
    "quality.read": "{read} Ressourcen gelesen; {skipped} waren nicht lesbar und wurden ausgelassen.",
    "quality.dates_heading": "Von den Regeln gelesene Datumsangaben, die nicht lesbar sind",
    "quality.dates_note": "Die Ressource wird gelesen; ihr Datum gilt als unbekannt.",
    "quality.ignored": "Ressourcentypen, die die Regeln nicht lesen (ignoriert): {types}",
    "quality.failed_heading": "Patienten, deren Auswertung fehlschlug",
    "quality.encoding": "Zeilen nicht in der Kodierung ihrer Datei, als Latin-1 gelesen; nach Datei: {files}",
    "quality.none": "keine",
    "quality.file_encoding": "Datei {name}",
    "quality.wrong_file": "falsche Datei {name}",
    "quality.oversized": "zu groß in {name}",
    "quality.codes_heading": "Medikationscodes, die der Therapiekatalog nicht kennt (die 20 häufigsten)",
    "quality.codes_note": "Jede MedicationRequest, MedicationAdministration und MedicationStatement, deren "
    "Codes und Texte keinem Wirkstoff des Katalogs entsprechen: meist andere Arzneimittel; eine Therapie, "
    "die hier nur unter einem lokalen Code bekannt ist, bleibt für die Regeln unsichtbar, bis sie "
    "zugeordnet ist.",
    "problem.invalid_json": "Zeilen, die kein JSON sind (abgeschnitten, unlesbar): ausgelassen",
    "problem.missing_resource_type": "JSON-Objekte ohne resourceType: ausgelassen",
    "problem.wrong_file": "Ressourcen in der Datei eines anderen Typs (eine Observation in "
    "Condition.ndjson): gelesen",
    "problem.duplicates": "Ressourcentyp und ID schon gesehen: einmal gelesen",
    "problem.orphan_references": "Ressourcen, die einen Patienten ohne Patient-Ressource nennen: nicht im "
    "Nenner",
    "problem.orphan_patient_ids": "Patienten-IDs, die nur von solchen Ressourcen genannt werden (auf ihrem "
    "Zeitstrahl markiert)",
    "problem.undated": "klinische Ressourcen ohne Dokumentationsdatum: ab dem ersten Tag sichtbar",
    "problem.unparseable_dates": "von den Regeln gelesene Datumsangaben, die nicht lesbar sind: Ressource "
    "gelesen, Datum unbekannt",
    "problem.unrecognised_therapy_codes": "Medikationsdokumente, deren Codes und Texte keinem Wirkstoff "
    "des Katalogs entsprechen",
    "problem.oversized_lines": "Zeilen über der Größengrenze (--max-line-mib): übersprungen, nie ganz "
    "gelesen",
    "skip.invalid-json": "die Zeile ist kein JSON (abgeschnitten oder unlesbar)",
    "skip.not-a-resource": "JSON, aber keine FHIR-Ressource (kein resourceType)",
    "skip.invalid-id": "die ID ist keine Zeichenkette",
    "skip.invalid-patient-reference": "subject/patient ist kein Reference-Objekt mit einer Referenz als "
    "Zeichenkette",
    "skip.no-patient-reference": "nennt keinen Patienten, und der Export enthält mehrere",
    "skip.patient-without-id": "eine Patient-Ressource ohne ID",
    "validation.heading": "FHIR-R4B-Validierung",
    "validation.text": "{validated} Ressourcen der Typen, die die Regeln lesen, wurden gegen die FHIR-R4B-"
    "Modelle (fhir.resources) validiert: eine Zufallsstichprobe von bis zu {per_type} pro Typ über alle "
    "Ressourcen des Typs (Seed {seed}); {invalid} sind nicht konform. Der Dienst liest sie trotzdem, "
    "defensiv; diese Liste ist für das Team, das den Export erstellt.",
    "validation.problems_heading": "Was nicht konform ist",
    "validation.failures_heading": "Die Ressourcen, die durchfielen",
}

LANGUAGES: Mapping[str, Mapping[str, str]] = {"en": _EN, "de": _DE}


def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@dataclass(frozen=True)
class Words:
    """One language's words: `w["key"]`, `w.fill("key", name=value)`, `w.day(a_date)`."""

    language: str
    texts: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.texts[key]

    def fill(self, key: str, **values: object) -> str:
        return self.texts[key].format(**values)

    def day(self, value: date | None) -> str:
        return value.strftime(self.texts["date_format"]) if value is not None else self.texts["unknown"]

    def month(self, value: date) -> str:
        return value.strftime(self.texts["month_format"])

    def span(self, first: date, last: date) -> str:
        """One day, or "first to last"."""
        return (
            self.day(first)
            if first == last
            else self.fill("span", first=self.day(first), last=self.day(last))
        )

    def indicator(self, name: str) -> str:
        return self.texts.get(f"indicator.{name}", name)

    def days(self, count: int) -> str:
        return self.fill("days.one" if count == 1 else "days.many", count=count)


def words_for(language: str) -> Words:
    """The words of `language`; a language without words here is English."""
    chosen = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return Words(chosen, LANGUAGES[chosen])


ENGLISH = words_for(DEFAULT_LANGUAGE)
