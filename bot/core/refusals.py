"""Refusals: requests the bot turns down before any money is spent."""

from __future__ import annotations


class Refused(Exception):
    """A request the bot will not run. `template` is a short English sentence, safe to show the
    requester, with `{name}` places for `params`; the cogs translate the template, then fill
    it in. `message` is the English sentence, filled in, for logs."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        self.message = template.format(**params) if params else template
        super().__init__(self.message)
