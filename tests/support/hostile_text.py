"""Hostile (and merely odd) text for the property tests of what kit writes:
characters that end or escape a value in INI, TOML and sh, and good values
with such a piece spliced in."""

from __future__ import annotations

from hypothesis import strategies as st

#: What a hostile value is made of: the characters that end or escape a value
#: in INI, TOML and sh, control characters, and some unicode.
NASTY = "\n\r\t\x00\x01\x1b\x7f \"'`\\$(){};&|<>#=[]%:@?~,+!*\u00a0\u200b\u202e\u00e9\u00b2\uff13\udcff"

nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=40)


#: Characters some validators accept: they get values through to the writers.
MILD = "abcxyz019-._~/:+,=@!$\"'\\#[]éß"


def spliced(good: str) -> st.SearchStrategy[str]:
    """``good`` with a piece of hostile (or merely odd) text put in somewhere:
    close enough to pass some checks, so the writers are exercised too."""
    return st.builds(
        lambda junk, at: good[:at] + junk + good[at:],
        st.text(alphabet=st.sampled_from(NASTY + MILD) | st.characters(max_codepoint=0x7f), max_size=6)
        | st.text(alphabet=st.sampled_from(MILD), max_size=4),
        st.integers(0, len(good)),
    )
