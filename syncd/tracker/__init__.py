"""The Jira adapter: the only code in syncd that imports the ``jira`` library."""

from syncd.tracker.adapter import JiraAdapter
from syncd.tracker.markup import DESCRIPTION_MAX_CHARS, escape_wiki
from syncd.tracker.options import JiraOptions

__all__ = ["DESCRIPTION_MAX_CHARS", "JiraAdapter", "JiraOptions", "escape_wiki"]
