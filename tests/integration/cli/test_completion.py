"""What kit prints around the work: full help texts, shell completion that
bash really uses, no doubled labels."""

from __future__ import annotations

import subprocess
import sys



def test_bash_completion_completes_commands_and_options():
    """Shell completion was missing (--install-completion: "No such option")."""
    script = subprocess.run([sys.executable, "-m", "kit", "--show-completion", "bash"],
                            capture_output=True, text=True, timeout=30).stdout
    assert "complete" in script and "_KIT_COMPLETE" in script
    kit_bin = f"{sys.executable} -m kit"
    probe = (
        f"kit() {{ {kit_bin} \"$@\"; }}\n{script}\n"
        "COMP_WORDS=(kit sta); COMP_CWORD=1; _kit_completion kit; echo \"${COMPREPLY[@]}\"\n"
        "COMP_WORDS=(kit init --no); COMP_CWORD=2; _kit_completion kit; echo \"${COMPREPLY[@]}\"\n"
    )
    proc = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["status", "--no-input"], proc.stderr


