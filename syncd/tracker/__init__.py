"""The Jira adapter: the only code in syncd that imports the ``jira`` library.

Modules: ``options`` (JiraOptions), ``transport`` (clients, pacing, retries, error
mapping), ``catalog`` (cached metadata), ``jql`` (query text, watermarks), ``workflow``
(transition graphs, BFS), ``parse`` (issue JSON -> records), ``ratelimit`` (429 headers,
scoped pauses), ``markup`` (escaping untrusted text), ``adapter`` (``JiraSide``).

Where ``reference/jira-api.md`` marks a fact unknown or inferred, the behaviour we
chose is listed in one table: ``CHOICES.md`` next to this file.
"""

from syncd.tracker.adapter import JiraAdapter
from syncd.tracker.markup import DESCRIPTION_MAX_CHARS, escape_wiki
from syncd.tracker.options import JiraOptions

__all__ = ["DESCRIPTION_MAX_CHARS", "JiraAdapter", "JiraOptions", "escape_wiki"]
