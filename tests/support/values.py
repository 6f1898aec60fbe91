"""Values a template must write so that their reader reads them back unchanged, or refuse."""

#: Shell, URL and quoting troublemakers every quoting filter is tried with.
HOSTILE = [
    "plain",
    "http://h/$(touch${IFS}/tmp/x)/+simple/",
    "a'b\"c`d`",
    "semi;colon && echo no",
    "-starts-with-dash",
    "back\\slash",
    "üñíçødé",
    "",
]
