"""Strict checks of CDS Hooks 2.0 service responses, for every test that gets cards back.

    from cds_validation import assert_valid_cds_response
    assert_valid_cds_response(response.json())

`cds_response_problems(body)` returns the list of problems (each "<json path>: <what is wrong>");
`assert_valid_cds_response(body)` raises AssertionError listing all of them. Rules (CDS Hooks 2.0 plus
this project's stricter requirements, marked *):

* the body is ``{"cards": [...]}`` with optional non-empty ``systemActions`` (and ``extension``);
* nowhere inside a card, action or extension is a value ``null``, ``""``, ``[]`` or ``{}``;
  no unknown fields;
* card: ``uuid`` (*required, a UUID), ``summary`` (required, under 140 characters), ``detail``,
  ``indicator`` info|warning|critical, ``source`` {``label`` required, ``url`` and ``icon`` absolute
  http(s) URLs, ``topic`` a Coding with ``code``}, ``suggestions``, ``selectionBehavior``
  at-most-one|any (required when there are suggestions, and only then), ``overrideReasons`` (Codings
  with ``code`` and ``display``), ``links``;
* suggestion: ``label`` required, ``uuid`` (*required, a UUID), ``isRecommended`` boolean, ``actions``;
* action: ``type`` create|update|delete and ``description`` required; ``resource`` (a FHIR resource)
  required for create and update and absent for delete; ``resourceId`` (``Type/id``) required for
  delete and absent otherwise; an update's resource has an ``id``;
* link: ``label``, ``url`` (absolute http(s)) and ``type`` absolute|smart required; ``appContext``
  only on smart links; ``autolaunchable`` boolean;
* uuids are unique across the response's cards and suggestions (feedback names them).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

SUMMARY_MAX_EXCLUSIVE = 140
INDICATORS = frozenset({"info", "warning", "critical"})
SELECTION_BEHAVIORS = frozenset({"at-most-one", "any"})
ACTION_TYPES = frozenset({"create", "update", "delete"})
LINK_TYPES = frozenset({"absolute", "smart"})

RESPONSE_FIELDS = frozenset({"cards", "systemActions", "extension"})
CARD_FIELDS = frozenset(
    {
        "uuid",
        "summary",
        "detail",
        "indicator",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
        "extension",
    }
)
SOURCE_FIELDS = frozenset({"label", "url", "icon", "topic"})
CODING_FIELDS = frozenset({"system", "code", "display"})
SUGGESTION_FIELDS = frozenset({"label", "uuid", "isRecommended", "actions", "extension"})
ACTION_FIELDS = frozenset({"type", "description", "resource", "resourceId", "extension"})
LINK_FIELDS = frozenset({"label", "url", "type", "appContext", "autolaunchable", "extension"})
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.uuids: dict[str, str] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # -- generic ---------------------------------------------------------------------------

    def no_empty_values(self, value: Any, path: str) -> None:
        if value is None:
            self.problem(path, "is null; omit optional fields that have no value")
        elif isinstance(value, str) and value == "":
            self.problem(path, 'is ""; omit optional fields that have no value')
        elif isinstance(value, list):
            if not value:
                self.problem(path, "is []; omit optional fields that have no value")
            for index, item in enumerate(value):
                self.no_empty_values(item, f"{path}[{index}]")
        elif isinstance(value, dict):
            if not value:
                self.problem(path, "is {}; omit optional fields that have no value")
            for key, item in value.items():
                self.no_empty_values(item, f"{path}.{key}")

    def is_object(self, value: Any, path: str, allowed: frozenset[str]) -> bool:
        if not isinstance(value, dict):
            self.problem(path, f"must be an object, not {type(value).__name__}")
            return False
        for key in sorted(set(value) - allowed):
            self.problem(f"{path}.{key}", "is not a field CDS Hooks 2.0 defines here")
        return True

    def text(self, holder: dict[str, Any], key: str, path: str, *, required: bool) -> str | None:
        if key not in holder:
            if required:
                self.problem(f"{path}.{key}", "is required")
            return None
        value = holder[key]
        if not isinstance(value, str):
            self.problem(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
            return None
        if not value.strip():
            self.problem(f"{path}.{key}", "must not be blank")
            return None
        return value

    def boolean(self, holder: dict[str, Any], key: str, path: str) -> None:
        if key in holder and not isinstance(holder[key], bool):
            self.problem(f"{path}.{key}", "must be a boolean")

    def choice(self, holder: dict[str, Any], key: str, path: str, allowed: frozenset[str]) -> str | None:
        value = self.text(holder, key, path, required=True)
        if value is not None and value not in allowed:
            self.problem(f"{path}.{key}", f"must be one of {sorted(allowed)}, not {value!r}")
            return None
        return value

    def absolute_url(self, holder: dict[str, Any], key: str, path: str, *, required: bool) -> None:
        value = self.text(holder, key, path, required=required)
        if value is None:
            return
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(f"{path}.{key}", f"must be an absolute http(s) URL, not {value!r}")

    def unique_uuid(self, holder: dict[str, Any], path: str) -> None:
        value = self.text(holder, "uuid", path, required=True)
        if value is None:
            return
        try:
            uuid.UUID(value)
        except ValueError:
            self.problem(f"{path}.uuid", f"must be a UUID, not {value!r}")
            return
        if value in self.uuids:
            self.problem(f"{path}.uuid", f"repeats the uuid of {self.uuids[value]}")
        else:
            self.uuids[value] = path

    def list_of(self, holder: dict[str, Any], key: str, path: str) -> list[Any]:
        if key not in holder:
            return []
        value = holder[key]
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", "must be an array")
            return []
        return value

    def coding(self, value: Any, path: str, *, display_required: bool) -> None:
        if not self.is_object(value, path, CODING_FIELDS):
            return
        self.text(value, "code", path, required=True)
        self.text(value, "system", path, required=False)
        self.text(value, "display", path, required=display_required)

    def extension(self, holder: dict[str, Any], path: str) -> None:
        if "extension" in holder and not isinstance(holder["extension"], dict):
            self.problem(f"{path}.extension", "must be an object")

    # -- CDS Hooks structures ------------------------------------------------------------------

    def response(self, body: Any) -> None:
        if not self.is_object(body, "$", RESPONSE_FIELDS):
            return
        if "cards" not in body:
            self.problem("$.cards", "is required (use [] when there is nothing to say)")
        elif not isinstance(body["cards"], list):
            self.problem("$.cards", "must be an array")
        else:
            for index, card in enumerate(body["cards"]):
                self.card(card, f"$.cards[{index}]")
        if "systemActions" in body:
            self.no_empty_values(body["systemActions"], "$.systemActions")
            for index, action in enumerate(self.list_of(body, "systemActions", "$")):
                self.action(action, f"$.systemActions[{index}]")
        if "extension" in body:
            self.no_empty_values(body["extension"], "$.extension")
            self.extension(body, "$")

    def card(self, card: Any, path: str) -> None:
        if not self.is_object(card, path, CARD_FIELDS):
            return
        self.no_empty_values(card, path)
        self.unique_uuid(card, path)
        summary = self.text(card, "summary", path, required=True)
        if summary is not None and len(summary) >= SUMMARY_MAX_EXCLUSIVE:
            self.problem(
                f"{path}.summary", f"has {len(summary)} characters; it must be under {SUMMARY_MAX_EXCLUSIVE}"
            )
        self.text(card, "detail", path, required=False)
        self.choice(card, "indicator", path, INDICATORS)
        self.extension(card, path)

        if "source" not in card:
            self.problem(f"{path}.source", "is required")
        elif self.is_object(card["source"], f"{path}.source", SOURCE_FIELDS):
            source = card["source"]
            self.text(source, "label", f"{path}.source", required=True)
            self.absolute_url(source, "url", f"{path}.source", required=False)
            self.absolute_url(source, "icon", f"{path}.source", required=False)
            if "topic" in source:
                self.coding(source["topic"], f"{path}.source.topic", display_required=False)

        suggestions = self.list_of(card, "suggestions", path)
        for index, suggestion in enumerate(suggestions):
            self.suggestion(suggestion, f"{path}.suggestions[{index}]")
        if suggestions:
            if "selectionBehavior" not in card:
                self.problem(f"{path}.selectionBehavior", "is required when there are suggestions")
            else:
                self.choice(card, "selectionBehavior", path, SELECTION_BEHAVIORS)
        elif "selectionBehavior" in card:
            self.problem(f"{path}.selectionBehavior", "is only meaningful with suggestions")

        for index, reason in enumerate(self.list_of(card, "overrideReasons", path)):
            self.coding(reason, f"{path}.overrideReasons[{index}]", display_required=True)
        for index, link in enumerate(self.list_of(card, "links", path)):
            self.link(link, f"{path}.links[{index}]")

    def suggestion(self, suggestion: Any, path: str) -> None:
        if not self.is_object(suggestion, path, SUGGESTION_FIELDS):
            return
        self.text(suggestion, "label", path, required=True)
        self.unique_uuid(suggestion, path)
        self.boolean(suggestion, "isRecommended", path)
        self.extension(suggestion, path)
        for index, action in enumerate(self.list_of(suggestion, "actions", path)):
            self.action(action, f"{path}.actions[{index}]")

    def action(self, action: Any, path: str) -> None:
        if not self.is_object(action, path, ACTION_FIELDS):
            return
        kind = self.choice(action, "type", path, ACTION_TYPES)
        self.text(action, "description", path, required=True)
        self.extension(action, path)
        if kind in ("create", "update"):
            if "resource" not in action:
                self.problem(f"{path}.resource", f"is required for a {kind} action")
            else:
                resource = action["resource"]
                if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                    self.problem(f"{path}.resource", "must be a FHIR resource with a resourceType")
                elif kind == "update" and not isinstance(resource.get("id"), str):
                    self.problem(f"{path}.resource.id", "is required for an update action")
            if "resourceId" in action:
                self.problem(f"{path}.resourceId", f"is for delete actions, not {kind}")
        elif kind == "delete":
            resource_id = self.text(action, "resourceId", path, required=True)
            if resource_id is not None and not _RELATIVE_REFERENCE.match(resource_id):
                self.problem(
                    f"{path}.resourceId", f"must be a relative reference Type/id, not {resource_id!r}"
                )
            if "resource" in action:
                self.problem(f"{path}.resource", "is not allowed on a delete action")

    def link(self, link: Any, path: str) -> None:
        if not self.is_object(link, path, LINK_FIELDS):
            return
        self.text(link, "label", path, required=True)
        self.absolute_url(link, "url", path, required=True)
        kind = self.choice(link, "type", path, LINK_TYPES)
        if "appContext" in link:
            self.text(link, "appContext", path, required=False)
            if kind == "absolute":
                self.problem(f"{path}.appContext", "is only allowed on smart links")
        self.boolean(link, "autolaunchable", path)
        self.extension(link, path)


def cds_response_problems(body: Any) -> list[str]:
    """Every way `body` breaks the CDS Hooks 2.0 response rules; [] when it is valid."""
    checker = _Checker()
    checker.response(body)
    return checker.problems


def assert_valid_cds_response(body: Any) -> None:
    """Raise AssertionError naming every problem when `body` is not a valid CDS Hooks 2.0 response."""
    problems = cds_response_problems(body)
    if problems:
        raise AssertionError("invalid CDS Hooks response:\n  " + "\n  ".join(problems))
