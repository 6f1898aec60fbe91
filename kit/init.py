"""``kit init``: from answers to a site on disk.

The wizard's logic (:class:`IniterBase`: which answers are fixed, which come
from an existing site, validation and re-asking) is separate from its
prompting (:class:`TerminalIniter`, questionary), so the logic is tested
without a terminal and the terminal part stays thin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.answers import (
    Answers,
    Question,
    answers_from_raw,
    collect_answers,
    load_answers_file,
    parse_set_options,
)
from kit.exceptions import AnswerError, AnswerFileError

__all__ = ["IniterBase", "TerminalIniter", "resolve_preset", "existing_answers", "load_site"]


def existing_answers(site_dir: Path) -> dict[str, Any] | None:
    """The raw answers of an existing site, used as defaults when re-running."""
    from kit.render import ANSWERS_FILE, read_manifest

    if not site_dir.is_dir() or read_manifest(site_dir) is None:
        return None
    path = site_dir / ANSWERS_FILE
    raw = load_answers_file(path)
    _check_file_values(path, raw)
    return raw


def load_site(site_dir: Path) -> Answers:
    """The validated answers of an existing site; :class:`SiteDirError` if it is not one."""
    from kit.exceptions import SiteDirError

    raw = existing_answers(site_dir)
    if raw is None:
        raise SiteDirError(f"{site_dir} is not a kit site; create one with: kit init {site_dir}")
    return answers_from_raw(raw)


def _check_file_values(path: Path, raw: dict[str, Any]) -> None:
    try:
        answers_from_raw(raw)
    except AnswerError as exc:
        raise AnswerFileError(f"{path}: {exc}") from None


def resolve_preset(answers_file: Path | None, set_options: list[str]) -> dict[str, Any]:
    """The fixed answers: an answer file, then ``--set`` overrides on top."""
    raw: dict[str, Any] = {}
    if answers_file is not None:
        raw = load_answers_file(answers_file)
        _check_file_values(answers_file, raw)
    raw.update(parse_set_options(set_options))
    return raw


class IniterBase:
    """Walks :data:`~kit.answers.QUESTIONS`; subclasses say how to ask."""

    def __init__(self, preset: dict[str, Any] | None = None, base: dict[str, Any] | None = None):
        self.preset = preset or {}
        self.base = base

    def ask(self, question: Question, default: Any, answers: dict) -> Any:
        """Return the raw reply to ``question`` ("" or None for the default)."""
        raise NotImplementedError

    def show_error(self, error: AnswerError) -> None:
        """Tell the user why a reply was refused; the question is asked again."""
        raise NotImplementedError

    def run(self) -> Answers:
        return collect_answers(self.preset, self.base, ask=self.ask, on_error=self.show_error)


class TerminalIniter(IniterBase):
    """Asks with questionary; Ctrl-C raises KeyboardInterrupt (the CLI exits 130)."""

    def ask(self, question: Question, default: Any, answers: dict) -> Any:
        import questionary

        def validate(reply: Any) -> bool | str:
            if reply == "" or reply is None:
                return True
            try:
                question.parse(reply, answers)
            except AnswerError as exc:
                return str(exc)
            return True

        if question.kind == "checkbox":
            choices = [
                questionary.Choice(title=f"{key}: {label}", value=key, checked=key in default)
                for key, label in question.choices.items()
            ]
            prompt = questionary.checkbox(
                question.prompt, choices=choices, validate=validate, instruction="(space toggles, enter accepts)"
            )
        elif question.kind == "password":
            prompt = questionary.password(question.prompt, validate=validate)
        else:
            prompt = questionary.text(question.prompt, default=question.to_text(default), validate=validate)
        # unsafe_ask lets Ctrl-C through instead of printing and returning None.
        return prompt.unsafe_ask()

    def show_error(self, error: AnswerError) -> None:
        import sys

        print(f"  {error}", file=sys.stderr)
