{%- set k = cookiecutter._kit -%}
#!/bin/sh
# Creates this site's users and indexes on the running devpi-server.
# Needs devpi-client (pip install devpi-client). Safe to run again.
set -eu
cd "$(dirname "$0")"
. ./secrets.env
DEFAULT_URL={{ ("http://" ~ ("127.0.0.1" if k.bind_host == "0.0.0.0" else k.bind_host) ~ ":" ~ k.master_port) | sh }}
URL="${DEVPI_URL:-$DEFAULT_URL}"
CLIENTDIR="$(mktemp -d)"
trap 'rm -rf "$CLIENTDIR"' EXIT
devpi() { command devpi --clientdir "$CLIENTDIR" "$@"; }

devpi use "$URL" >/dev/null
devpi login root --password="$KIT_ADMIN_PASSWORD" >/dev/null
{%- if not k.upstream_is_default %}
# The mirror of the upstream. No web-search indexing of its project list.
if devpi getjson /root/pypi >/dev/null 2>&1; then
    devpi index root/pypi {{ ('mirror_url=' ~ k.mirror_url) | sh }} >/dev/null
else
    devpi index -c root/pypi type=mirror {{ ('mirror_url=' ~ k.mirror_url) | sh }} title="Upstream mirror" >/dev/null
fi
echo {{ ('root/pypi: mirror of ' ~ k.mirror_url) | sh }}
{%- endif %}
{%- if k.private %}
{%- for t in k.teams %}

# Team {{ t.team | comment }}: the private index {{ t.index_name | comment }} inherits from the mirror;
# an empty mirror_whitelist means a private name always shadows the upstream's.
if devpi getjson /{{ t.team }} >/dev/null 2>&1; then
    devpi user -m {{ t.team }} password="$KIT_TEAM_{{ t.env_name }}_PASSWORD" >/dev/null
else
    devpi user -c {{ t.team }} password="$KIT_TEAM_{{ t.env_name }}_PASSWORD" >/dev/null
fi
if devpi getjson /{{ t.index_name }} >/dev/null 2>&1; then
    devpi index {{ t.index_name }} bases=root/pypi mirror_whitelist= >/dev/null
else
    devpi index -c {{ t.index_name }} bases=root/pypi mirror_whitelist= volatile=False >/dev/null
fi
echo "{{ t.index_name }}: private index of team {{ t.team }}, inherits root/pypi"
{%- endfor %}
{%- endif %}
