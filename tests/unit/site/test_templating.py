"""The quoting filters: what a template writes, the file's reader reads back
unchanged, or kit refuses to write it."""

from __future__ import annotations

import configparser
import tomllib

import pytest

from kit.core.errors import UnsafeValueError
from kit.site.templating import buildout_value, comment_text, ini_value, sh_word, toml_value
from tests.support.values import HOSTILE



def test_sh_word_refuses_nul_which_no_shell_variable_holds():
    with pytest.raises(UnsafeValueError, match="NUL"):
        sh_word("a\x00b")


@pytest.mark.parametrize("value", HOSTILE + ["two\nlines", "ctl\x01", 'quote " and \\'])
def test_toml_value_reads_back_unchanged(value):
    assert tomllib.loads(f"url = {toml_value(value)}\n") == {"url": value}


@pytest.mark.parametrize("value", [v for v in HOSTILE if v])
def test_ini_value_reads_back_as_one_value(value):
    ini = configparser.RawConfigParser()  # what pip and twine read with
    ini.read_string(f"[global]\nindex-url = {ini_value(value)}\nextra-index-url =\n")
    assert ini.get("global", "index-url") == value
    assert ini.get("global", "extra-index-url") == ""


@pytest.mark.parametrize("value", [
    "http://good/+simple/\n[install]\nextra-index-url = http://evil/simple/",
    "http://good/+simple/\n  continued",
    " leading-space",
    "trailing-space ",
    "cr\rhere",
    "del\x7f",
])
@pytest.mark.parametrize("write", [ini_value, buildout_value, comment_text])
def test_values_that_would_change_the_file_are_refused(value, write):
    with pytest.raises(UnsafeValueError, match="refusing to write"):
        write(value)


def test_buildout_dollar_is_doubled_so_nothing_is_substituted():
    assert buildout_value("http://h/a$b/${buildout:directory}/") == "http://h/a$$b/$${buildout:directory}/"


def test_a_systemd_word_is_quoted_and_its_specifiers_doubled():
    from kit.site.templating import systemd_word

    assert systemd_word('/srv/a b/%i$HOME"q\\') == '"/srv/a b/%%i$$HOME\\"q\\\\"'
    with pytest.raises(UnsafeValueError):
        systemd_word("/srv/a\nExecStartPre=/bin/sh")


def test_systemd_paths_are_absolute_with_specifiers_doubled_and_dollars_kept():
    """WorkingDirectory= takes its path as written (quotes would be part of it);
    ReadWritePaths= splits on spaces and unquotes; neither expands ``$``."""
    from kit.site.templating import systemd_path, systemd_path_item

    assert systemd_path('/srv/a b/%i$HOME"q') == '/srv/a b/%%i$HOME"q'
    assert systemd_path_item('/srv/a b/%i$HOME"q\\') == '"/srv/a b/%%i$HOME\\"q\\\\"'
    for bad in ("srv/relative", "/srv/a\nReadWritePaths=/", " /srv/padded"):
        for write in (systemd_path, systemd_path_item):
            with pytest.raises(UnsafeValueError):
                write(bad)


def test_a_cron_word_is_shell_quoted_and_a_percent_refused():
    from kit.site.templating import cron_word

    assert cron_word("/srv/a b") == "'/srv/a b'"
    with pytest.raises(UnsafeValueError, match="cron reads '%' as a line break"):
        cron_word("/srv/100%")


def test_an_nginx_word_is_quoted_and_a_variable_refused():
    from kit.site.templating import nginx_word

    assert nginx_word('/srv/a b/"q"\\') == '"/srv/a b/\\"q\\"\\\\"'
    for value in ("/srv/$host", "/srv/{x}", "/srv/a\n}"):
        with pytest.raises(UnsafeValueError):
            nginx_word(value)


def test_a_vcl_string_is_quoted_and_a_double_quote_refused():
    from kit.site.templating import vcl_string

    assert vcl_string("http://[::1]:3143/a%20b{c}\\") == '"http://[::1]:3143/a%20b{c}\\"'
    for value in ('say "hi"', "a\nb", " padded"):
        with pytest.raises(UnsafeValueError):
            vcl_string(value)
