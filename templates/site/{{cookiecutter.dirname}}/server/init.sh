{%- set k = cookiecutter._kit -%}
#!/bin/sh
# Creates the devpi-server data folder (./data) with the admin password.
set -eu
cd "$(dirname "$0")"
. ./secrets.env
# devpi-init reads any option from DEVPISERVER_<OPTION>: the password goes in
# its environment, not on its command line, where ps would show it.
export DEVPISERVER_ROOT_PASSWD="$KIT_ADMIN_PASSWORD"
{%- if k.upstream_is_default %}
# root/pypi: devpi-server's own built-in mirror of PyPI.
exec devpi-init -c devpi-server.yml
{%- else %}
# root/pypi is created by create-indexes.sh, as a mirror of {{ k.mirror_url | comment }}
exec devpi-init -c devpi-server.yml --no-root-pypi
{%- endif %}
