"""The read tokens' sub-app: kit token create, list, revoke."""

from __future__ import annotations

from typing import Optional

import typer

from kit.cli.common import SITE_ARG, KitGroup, say, site_path

token_app = typer.Typer(
    name="token", cls=KitGroup, no_args_is_help=True, rich_markup_mode=None,
    help="Read tokens for CI and machines: a team's password that only reads (or uploads), expires and can be revoked.",
)

_TEAM_HELP = "The team whose index the token reads (its devpi user)."


@token_app.command("create")
def token_create_command(
    site_dir: Optional[str] = SITE_ARG,
    team: str = typer.Option(..., "--team", help=_TEAM_HELP, show_default=False),
    expires: str = typer.Option("30d", "--expires", help="Its life (90m, 12h, 30d) or the date it ends (2027-01-31, UTC); a year at most."),
    upload: bool = typer.Option(False, "--upload", help="Let it upload to the team's index too, not only read."),
) -> None:
    """Make a token for a team at the running master and print it once.

    Only the token goes to standard output (kit token create --team web > token);
    its id, rights, expiry and how to use it go to standard error. It is never
    shown again. Exit code: 0 made, 1 not made.
    """
    from kit.ops.tokens import create_token, usage_lines

    cluster, new = create_token(site_path(site_dir), team, expires=expires, upload=upload)
    say(new.secret)
    for line in usage_lines(cluster, new):
        typer.echo(line, err=True)


@token_app.command("list")
def token_list_command(
    site_dir: Optional[str] = SITE_ARG,
    team: Optional[str] = typer.Option(None, "--team", help="Only this team's tokens (default: every team's).", show_default=False),
) -> None:
    """List the tokens: id, team, rights, indexes and expiry; never the tokens themselves."""
    from kit.core.tables import Column, table_lines
    from kit.ops.tokens import list_tokens

    cluster, tokens = list_tokens(site_path(site_dir), team)
    if not tokens:
        whose = f"team {team}" if team else "the site"
        say(f"{whose} has no tokens; make one with: kit token create --team {team or 'NAME'}")
        return
    columns = [Column("ID"), Column("TEAM"), Column("RIGHTS"), Column("INDEXES"), Column("EXPIRES")]
    rows = [(t.id, t.team, t.permissions, ",".join(t.indexes), t.expiry_text()) for t in tokens]
    for line in table_lines(columns, rows, indent=""):
        say(line)


@token_app.command("revoke")
def token_revoke_command(
    token_id: str = typer.Argument(..., metavar="ID", help="The token's id, as kit token list shows it.", show_default=False),
    site_dir: Optional[str] = SITE_ARG,
    team: Optional[str] = typer.Option(None, "--team", help="The team the token belongs to (default: whichever has it).", show_default=False),
) -> None:
    """Revoke a token at the master: it is refused from then on, by the mirror and the edges as well."""
    from kit.ops.tokens import revoke_token

    _, token = revoke_token(site_path(site_dir), token_id, team)
    say(f"revoked token {token.id} of team {token.team}; clients using it are refused from now on")
