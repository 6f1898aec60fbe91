"""Sphinx settings for kit's documentation (build: sphinx-build -W docs docs/_build/html)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # kit itself, for the generated reference
sys.path.insert(0, str(HERE / "_ext"))

project = "kit"
author = "kit developers"
copyright = "2026, kit developers"
release = "0.1.0"

extensions = ["sphinx_copybutton", "kitdocs"]
html_theme = "furo"
html_title = "kit"
html_static_path = ["_static"]
html_css_files = ["kit.css"]
exclude_patterns = ["_build"]
# The console prompt is not copied with the command; the lines a trailing "\"
# continues and a heredoc's body up to its EOF line are (every heredoc of the
# chapters and how-tos ends with EOF). tests/docs/test_copybutton.py runs the
# button's own rule over every console block against what the harness runs.
copybutton_prompt_text = "$ "
copybutton_only_copy_prompt_lines = True
copybutton_line_continuation_character = "\\"
copybutton_here_doc_delimiter = "EOF"
