{%- set k = cookiecutter._kit -%}
#!/bin/sh
# Creates the devpi-server data folder (./data) with the admin password.
set -eu
cd "$(dirname "$0")"
. ./secrets.env
{%- if k.upstream_is_default %}
# root/pypi: devpi-server's own built-in mirror of PyPI.
exec devpi-init -c devpi-server.yml --root-passwd="$KIT_ADMIN_PASSWORD"
{%- else %}
# root/pypi is created by create-indexes.sh, as a mirror of {{ k.mirror_url }}
exec devpi-init -c devpi-server.yml --root-passwd="$KIT_ADMIN_PASSWORD" --no-root-pypi
{%- endif %}
