"""``kit check``: the doctor. The site's cluster (each service's health, the
mirror's lag, the edge's view of its origins, the age of the static copy the
edge falls back on); each team's generated files, read the way their clients
read them, checked for unsafe settings and against the running cluster, with
the fix for anything that fails; and the shell's own packaging variables,
which would override those files.

A failure names its real cause: with services down, a team check that fails
through them names ``kit up``, not the upstream; with nothing running, one
finding says so instead of every team's checks failing one by one.

A file kit cannot read is a failed check naming the file, never a traceback.

The package, one module per job: :mod:`~kit.ops.check.findings` (a finding,
the fix's commands, what the team checks need of the cluster),
:mod:`~kit.ops.check.team_files` (a team's files, each read once, the way its
clients read them), :mod:`~kit.ops.check.lint` (their unsafe settings, offline),
:mod:`~kit.ops.check.live` (the team's files against the running site),
:mod:`~kit.ops.check.cluster` (the cluster's state), :mod:`~kit.ops.check.site_files`
(the site's secrets and databases), :mod:`~kit.ops.check.environment` (the
shell's variables) and :mod:`~kit.ops.check.run` (all of it, for one site).
"""

from kit.ops.check.cluster import cluster_findings
from kit.ops.check.environment import OVERRIDING_VARIABLES, environment_findings
from kit.ops.check.findings import ClusterState, Finding, Hints
from kit.ops.check.lint import lint_team
from kit.ops.check.live import live_team
from kit.ops.check.run import check_site, default_package

__all__ = ["ClusterState", "Finding", "Hints", "check_site", "default_package", "lint_team", "live_team",
           "cluster_findings", "environment_findings", "OVERRIDING_VARIABLES"]
