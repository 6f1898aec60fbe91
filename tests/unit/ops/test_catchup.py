"""``kit catch-up``: the quick cases (chapters 3 and 4, with a cluster, are
run by each chapter's reading alone in tests/tutorial/test_alone.py)."""

from __future__ import annotations

from pathlib import Path


from tests.support.cli import kit


def test_catch_up_to_chapter_1_fills_the_upstream_folder(capsys):
    code, out, _ = kit("catch-up", "1", capsys=capsys)
    assert code == 0
    assert out == "~/wheels: tutorial-upstream 1.0\nready for chapter 1\n"
    assert (Path.home() / "wheels" / "tutorial_upstream-1.0-py3-none-any.whl").is_file()


def test_catch_up_to_the_instructor_notes_needs_no_site(capsys):
    """Chapter 9 (the instructor's) starts from ~/wheels alone; chapter 7 (private means private) needs ~/acme."""
    code, out, _ = kit("catch-up", "9", capsys=capsys)
    assert code == 0 and out == "~/wheels: tutorial-upstream 1.0\nready for chapter 9\n"
    assert not (Path.home() / "acme").exists()


def test_catch_up_to_across_machines_needs_no_site(capsys):
    """Chapter 8 (across machines) makes a site of its own, spread over hosts: ~/wheels is all it needs."""
    code, out, _ = kit("catch-up", "8", capsys=capsys)
    assert code == 0 and out == "~/wheels: tutorial-upstream 1.0\nready for chapter 8\n"
    assert not (Path.home() / "acme").exists()


def test_no_such_chapter(capsys):
    code, _, err = kit("catch-up", "10", capsys=capsys)
    assert code == 2 and err == "kit: error: CHAPTER: there is no chapter 10 to catch up to; give a number from 1 to 9\n"
    assert not (Path.home() / "wheels").exists()


def test_a_folder_in_the_way_of_the_site_is_refused(capsys):
    (Path.home() / "acme").mkdir(parents=True)
    (Path.home() / "acme" / "notes.txt").write_text("mine")
    code, _, err = kit("catch-up", "3", capsys=capsys)
    assert code == 2 and "not empty and is not a kit site" in err and err.count("\n") == 1
    assert (Path.home() / "acme" / "notes.txt").read_text() == "mine"


