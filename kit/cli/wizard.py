"""``kit init``: from answers to a site on disk.

The wizard's logic (:class:`IniterBase`: which answers are fixed, which come
from an existing site, validation and re-asking) is separate from its
prompting (:class:`TerminalIniter`, questionary), so the logic is tested
without a terminal and the terminal part stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from kit.site.answers import (
    Answers,
    Question,
    answers_from_raw,
    collect_answers,
    load_answers_file,
    QUESTIONS,
    parse_set_options,
)
from kit.core.errors import AnswerError, AnswerFileError
from kit.core.report import console_for, print_changes

__all__ = ["IniterBase", "TerminalIniter", "resolve_preset", "init_dir", "init_site", "InitResult"]

#: Where ``kit init`` writes when it is given no folder and is not inside a site.
DEFAULT_SITE_DIR = Path("kit-site")


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


def init_dir(site_dir: Path | None) -> Path:
    """The folder ``kit init`` works on: the one given; else the site the
    current folder is in (re-running updates it, as git commands find their
    repository); else ``./kit-site``."""
    if site_dir is not None:
        return site_dir
    from kit.site.folder import find_site_root

    root = find_site_root(Path.cwd())
    return root if root is not None else DEFAULT_SITE_DIR


@dataclass
class InitResult:
    """What :func:`init_site` did: the folder, the answers, and the changes (None when declined)."""

    site_dir: Path
    answers: Answers
    changes: Any  # kit.render.SiteChanges | None
    confirmed_interactively: bool = False


def init_site(
    site_dir: Path | None,
    *,
    preset: dict[str, Any],
    make_initer: "Callable[[dict[str, Any], dict[str, Any] | None], IniterBase] | None" = None,
    force: bool = False,
    confirm: bool = True,
    warn=lambda message: None,
) -> InitResult:
    """``kit init`` as a library call: answers (asked by the wizard that
    ``make_initer(preset, base)`` returns, else the defaults and the site's
    own), warnings, then the site written, after the wizard confirmed the
    summary when ``confirm``.

    Raises the :class:`~kit.core.errors.KitError` of whatever is wrong before
    anything is written.
    """
    from kit.site.answers import site_warnings
    from kit.site.render import check_site_dir, staged_site

    target = init_dir(site_dir)
    existing = check_site_dir(target)  # before any question: refuse a wrong folder first
    base = existing.raw if existing is not None else None
    initer = make_initer(preset, base) if make_initer is not None else None
    answers = initer.run() if initer is not None else answers_from_raw(preset, base)
    for warning in site_warnings(answers):
        warn(warning)
    with staged_site(answers, target, existing, force=force) as plan:
        asked = initer is not None and confirm
        if asked and not initer.confirm(answers, plan):
            return InitResult(target, answers, None, True)
        return InitResult(target, answers, plan.apply(), asked)


class IniterBase:
    """Walks :data:`~kit.site.answers.QUESTIONS`; subclasses say how to ask."""

    def __init__(self, preset: dict[str, Any] | None = None, base: dict[str, Any] | None = None):
        self.preset = preset or {}
        self.base = base

    def ask(self, question: Question, default: Any, answers: dict) -> Any:
        """Return the raw reply to ``question`` ("" or None for the default, "?" for its help)."""
        raise NotImplementedError

    def show_error(self, error: AnswerError) -> None:
        """Tell the user why a reply was refused; the question is asked again."""
        raise NotImplementedError

    def show_help(self, question: Question) -> None:
        """Show the question's help text; the question is asked again."""
        raise NotImplementedError

    def confirm(self, answers: Answers, plan: Any) -> bool:
        """Show what will be written (a :class:`~kit.site.render.SitePlan`) and ask to go on."""
        return True

    def shown_default(self, question: Question, default: Any) -> str:
        """The default as the prompt shows it: what Enter takes."""
        if question.kind == "password":
            return "keep" if self.base and "admin_password" in self.base else "random"
        return question.to_text(default) or "none"

    def run(self) -> Answers:
        return collect_answers(
            self.preset, self.base, ask=self.ask, on_error=self.show_error, on_help=self.show_help
        )


def _answer_question_mark(application) -> None:
    """``?`` on a checkbox ends it with the reply "?" (show the help, ask again), as ``?`` +
    Enter does on a line of text; questionary's checkbox otherwise swallows every other key."""
    from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

    bindings = KeyBindings()

    @bindings.add("?", eager=True)
    def _help(event) -> None:
        event.app.exit(result="?")

    application.key_bindings = merge_key_bindings([application.key_bindings, bindings])


class TerminalIniter(IniterBase):
    """Asks with questionary, like cookiecutter or ``npm init``: the default is
    shown in brackets and Enter takes it; typing replaces it; ``?`` shows help.
    Ctrl-C raises KeyboardInterrupt (the CLI exits 130, nothing written).
    """

    def __init__(self, preset: dict[str, Any] | None = None, base: dict[str, Any] | None = None, out=None):
        super().__init__(preset, base)
        import sys

        self.out = out or sys.stderr
        self._introduced = False

    def ask(self, question: Question, default: Any, answers: dict) -> Any:
        import questionary

        if not self._introduced:
            print("Enter takes the [default]; type ? for help on a question; Ctrl-C stops without writing.",
                  file=self.out)
            self._introduced = True

        if question.kind == "checkbox":

            def validate(reply: Any) -> bool | str:
                # Ticks are kept while the reason shows: nothing to clear, unlike a line of text.
                try:
                    question.parse(reply, answers)
                except AnswerError as exc:
                    return str(exc)
                return True

            choices = [
                questionary.Choice(title=f"{key}: {label}", value=key, checked=key in default)
                for key, label in question.choices.items()
            ]
            prompt = questionary.checkbox(
                question.prompt, choices=choices, validate=validate,
                instruction="(space toggles, a toggles all, ? shows help, enter accepts)",
            )
            _answer_question_mark(prompt.application)
        else:
            # No pre-filled text: a pre-filled default would make typing append to it. No
            # validation inside the prompt either: a refused reply would stay in the line, and
            # typing the fix would append to it (~/wheelz~/wheels); collect_answers says why
            # it was refused and asks again, on an empty line.
            ask_text = questionary.password if question.kind == "password" else questionary.text
            prompt = ask_text(question.prompt, instruction=f"[{self.shown_default(question, default)}]")
        # unsafe_ask lets Ctrl-C through instead of printing and returning None.
        return prompt.unsafe_ask()

    def show_error(self, error: AnswerError) -> None:
        print(f"  {error}", file=self.out)

    def show_help(self, question: Question) -> None:
        print(f"  {question.key}: {question.help}", file=self.out)

    def confirm(self, answers: Answers, plan: Any) -> bool:
        import questionary

        print_summary(answers, plan, file=self.out)
        return bool(questionary.confirm("Write these files?", default=True).unsafe_ask())


def print_summary(answers, plan, *, file: IO[str] | None = None) -> None:
    """The wizard's last screen: every answer, and the files that will change."""
    from rich.table import Table

    console = console_for(file)
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    for question in QUESTIONS:
        value = getattr(answers, question.key)
        shown = "(hidden)" if question.kind == "password" else question.to_text(value).replace(",", ", ") or "(none)"
        table.add_row(question.key, shown)
    console.print()
    console.print("Your answers:")
    console.print(table)
    label = str(plan.site_dir)
    changes = plan.changes
    if not changes.changed:
        console.print(f"{label} is up to date with these answers: nothing to write.")
        return
    print_changes(label, changes, planned=True, file=file)  # nothing is written yet
