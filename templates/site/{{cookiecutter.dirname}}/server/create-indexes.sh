{%- set k = cookiecutter._kit -%}
#!/bin/sh
# Creates this site's indexes and team users on the running devpi-server, as
# indexes.json says: the upstream mirror root/pypi, root/names (the private
# names no team ever takes from the upstream), one TEAM/private per team and,
# unless reads are anonymous, the edge's reader user kit-edge.
# Safe to run again. Needs kit (pip install pkgindex-kit) in the Python that
# runs it: PYTHON, else python3. The passwords of secrets.env reach it in its
# environment, never on a command line, where ps would show them.
set -eu
cd "$(dirname "$0")"
set -a
. ./secrets.env
set +a
DEFAULT_URL={{ ("http://" ~ ("127.0.0.1" if k.bind_host == "0.0.0.0" else k.bind_host) ~ ":" ~ k.master_port) | sh }}
exec "${PYTHON:-python3}" -m kit.cluster.devpi "${DEVPI_URL:-$DEFAULT_URL}" indexes.json
