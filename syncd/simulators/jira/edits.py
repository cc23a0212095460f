"""Validate and apply field values from ``fields`` and ``update`` in create, edit and
transition requests. Each function records a changelog item per changed field and
collects per-field errors in Jira's words instead of stopping at the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.simulators.jira.adf import ADF_ERROR, adf_to_text, is_adf_document
from syncd.simulators.jira.catalog import (
    CUSTOM_FIELDS,
    PRIORITIES,
    PRIORITY_BY_ID,
    RESOLUTIONS,
    Named,
)
from syncd.simulators.jira.errors import cannot_set
from syncd.simulators.jira.model import ChangeItem, IssueCore, Text

MAX_SUMMARY = 255
MAX_TEXT_FIELD = 255
MAX_LONG_TEXT = 32767  # description and comment bodies
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


@dataclass
class EditResult:
    changes: list[ChangeItem] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # Comments added through ``update.comment``: (body, visibility).
    comments: list[tuple[Text, dict[str, str] | None]] = field(default_factory=list)


UserLookup = Callable[[Mapping[str, Any]], str | None]


def parse_text(value: Any, version: str, field_name: str, result: EditResult) -> Text | None:
    """A description or comment body: a string on v2, an ADF document on v3."""
    if value is None:
        return None
    if version == "3":
        if not is_adf_document(value):
            result.errors[field_name] = ADF_ERROR
            return None
        text = Text(adf_to_text(value), value)
    elif not isinstance(value, str):
        result.errors[field_name] = "Operation value must be a string"
        return None
    else:
        text = Text(value)
    if len(text.wiki) > MAX_LONG_TEXT:
        result.errors[field_name] = TOO_LONG
        return None
    return text


def _lookup_named(value: Any, catalog: tuple[Named, ...]) -> Named | None:
    if not isinstance(value, Mapping):
        return None
    if "id" in value:
        return next((item for item in catalog if item.id == str(value["id"])), None)
    if "name" in value:
        return next((item for item in catalog if item.name == value["name"]), None)
    return None


def parse_resolution(value: Any, result: EditResult) -> Named | None:
    found = _lookup_named(value, RESOLUTIONS)
    if found is None:
        result.errors["resolution"] = "Specify a valid value for resolution"
    return found


def _text_str(text: Text | None) -> str | None:
    return None if text is None else text.wiki


class FieldWriter:
    """Applies one request's field values to an issue, collecting changes and errors."""

    def __init__(self, core: IssueCore, version: str, users: UserLookup, result: EditResult):
        self.core = core
        self.version = version
        self.users = users
        self.result = result

    def _change(
        self,
        name: str,
        field_id: str,
        old: Any,
        new: Any,
        old_string: str | None,
        new_string: str | None,
    ) -> None:
        if (old, old_string) == (new, new_string):
            return
        self.result.changes.append(
            ChangeItem(
                name,
                field_id,
                None if old is None else str(old),
                old_string,
                None if new is None else str(new),
                new_string,
                "custom" if field_id.startswith("customfield_") else "jira",
            )
        )

    def set(self, field_id: str, value: Any) -> None:
        handler = {
            "summary": self._summary,
            "description": self._description,
            "labels": self._labels,
            "priority": self._priority,
            "assignee": self._assignee,
            "reporter": self._reporter,
        }.get(field_id)
        if handler is not None:
            handler(value)
        elif field_id in CUSTOM_FIELDS:
            self._custom(field_id, value)
        else:
            self.result.errors[field_id] = cannot_set(field_id)

    def _summary(self, value: Any) -> None:
        if not isinstance(value, str) or value.strip() == "":
            self.result.errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in value or "\r" in value:
            self.result.errors["summary"] = (
                "The summary is invalid because it contains newline characters."
            )
        elif len(value) > MAX_SUMMARY:
            self.result.errors["summary"] = "Summary must be less than 255 characters."
        else:
            self._change("summary", "summary", None, None, self.core.summary, value)
            self.core.summary = value

    def _description(self, value: Any) -> None:
        before = len(self.result.errors)
        text = parse_text(value, self.version, "description", self.result)
        if len(self.result.errors) > before:
            return
        old = _text_str(self.core.description)
        self._change("description", "description", None, None, old, _text_str(text))
        self.core.description = text

    def _set_labels(self, labels: list[str]) -> None:
        old = " ".join(self.core.labels)
        new = " ".join(labels)
        if old != new:
            self.result.changes.append(ChangeItem("labels", "labels", None, old, None, new))
        self.core.labels = labels

    def _check_labels(self, labels: Any) -> list[str] | None:
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            self.result.errors["labels"] = "Operation value must be a string array"
            return None
        for label in labels:
            if label == "" or any(ch.isspace() for ch in label):
                self.result.errors["labels"] = (
                    f"The label '{label}' contains spaces which is invalid."
                )
                return None
            if len(label) > 255:
                self.result.errors["labels"] = "The label must not exceed 255 characters."
                return None
        return list(dict.fromkeys(labels))

    def _labels(self, value: Any) -> None:
        labels = self._check_labels([] if value is None else value)
        if labels is not None:
            self._set_labels(labels)

    def _priority(self, value: Any) -> None:
        found = _lookup_named(value, PRIORITIES)
        if found is None:
            if isinstance(value, Mapping) and "name" in value:
                self.result.errors["priority"] = f"Priority name '{value['name']}' is not valid"
            else:
                self.result.errors["priority"] = "Specify a valid id or name for priority"
            return
        old = self.core.priority_id
        old_name = PRIORITY_BY_ID[old].name if old else None
        self._change("priority", "priority", old, found.id, old_name, found.name)
        self.core.priority_id = found.id

    def _user(self, name: str, value: Any) -> str | bool | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.result.errors[name] = f"Specify a valid value for {name}"
            return False
        account = self.users(value)
        if account is None:
            self.result.errors[name] = f"Specify a valid value for {name}"
            return False
        return account

    def _assignee(self, value: Any) -> None:
        account = self._user("assignee", value)
        if account is False:
            return
        assert account is None or isinstance(account, str)
        self._change("assignee", "assignee", self.core.assignee_id, account, None, None)
        self.core.assignee_id = account

    def _reporter(self, value: Any) -> None:
        account = self._user("reporter", value)
        if account is False or account is None:
            if account is None:
                self.result.errors["reporter"] = "Reporter is required."
            return
        assert isinstance(account, str)
        self._change("reporter", "reporter", self.core.reporter_id, account, None, None)
        self.core.reporter_id = account

    def _custom(self, field_id: str, value: Any) -> None:
        definition = CUSTOM_FIELDS[field_id]
        if value is not None:
            if definition.schema_type == "number":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.result.errors[field_id] = "Operation value must be a number"
                    return
            elif not isinstance(value, str):
                self.result.errors[field_id] = "Operation value must be a string"
                return
            elif len(value) > MAX_TEXT_FIELD:
                self.result.errors[field_id] = (
                    "The entered text is too long. It exceeds the allowed limit of 255 characters."
                )
                return
        old = self.core.custom.get(field_id)
        self._change(
            definition.name,
            field_id,
            None,
            None,
            None if old is None else str(old),
            None if value is None else str(value),
        )
        self.core.custom[field_id] = value

    def update(self, field_id: str, operations: Any) -> None:
        """Apply ``update`` operations (``set``, ``add``, ``remove``) to one field."""
        if not isinstance(operations, list):
            self.result.errors[field_id] = "Operations must be a list"
            return
        for operation in operations:
            if not isinstance(operation, Mapping) or len(operation) != 1:
                self.result.errors[field_id] = "Each operation must have exactly one verb"
                return
            ((verb, value),) = operation.items()
            if field_id == "comment":
                self._comment_operation(verb, value)
            elif field_id == "labels":
                self._label_operation(verb, value)
            elif verb == "set":
                self.set(field_id, value)
            else:
                self.result.errors[field_id] = (
                    f"Field '{field_id}' does not support operation '{verb}'"
                )

    def _comment_operation(self, verb: str, value: Any) -> None:
        if verb != "add" or not isinstance(value, Mapping):
            self.result.errors["comment"] = f"Field 'comment' does not support operation '{verb}'"
            return
        before = len(self.result.errors)
        text = parse_text(value.get("body"), self.version, "comment", self.result)
        if len(self.result.errors) > before:
            return
        if text is None or text.wiki.strip() == "":
            self.result.errors["comment"] = "Comment body can not be empty!"
            return
        visibility = value.get("visibility")
        self.result.comments.append(
            (text, dict(visibility) if isinstance(visibility, Mapping) else None)
        )

    def _label_operation(self, verb: str, value: Any) -> None:
        if verb == "set":
            self._labels(value)
            return
        checked = self._check_labels([value])
        if checked is None:
            return
        label = checked[0]
        if verb == "add":
            if label not in self.core.labels:
                self._set_labels([*self.core.labels, label])
        elif verb == "remove":
            self._set_labels([x for x in self.core.labels if x != label])
        else:
            self.result.errors["labels"] = f"Field 'labels' does not support operation '{verb}'"
