"""A scripted browser for the simulator's login page: open, press a button, read the redirect.

Stands in for the operator during `syncd auth login` in tests and the demo.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx


class _FormReader(HTMLParser):
    """Collects the consent form's inputs, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


def browser_consent(authorize_url: str, decision: str = "approve") -> str:
    """Open the authorize URL, press a consent button, return the redirect Location."""
    with httpx.Client(follow_redirects=False, timeout=5.0) as browser:
        page = browser.get(authorize_url)
        page.raise_for_status()
        form = _FormReader()
        form.feed(page.text)
        target = page.url.join(form.action or page.url.path)
        answer = browser.post(target, data={**form.fields, "decision": decision})
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"consent was not redirected: {answer.status_code}")
        return answer.headers["location"]
