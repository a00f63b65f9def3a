"""``weir login``, ``weir user create|list|delete``, ``weir user key create|revoke`` and
``weir grant add|list|remove``."""

from __future__ import annotations

import argparse
import getpass

from gateway.cli import render, settings
from gateway.cli.context import (
    CliError,
    Context,
    Parser,
    UsageError,
    add_command,
    add_group,
    isatty,
)
from gateway.client.api import AdminClient, ApiError

ACTIONS = ("read", "write", "commit", "admin")


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    add_command(
        sub,
        "login",
        help="save the endpoint and credentials for later commands",
        description="Ask for (or take from --endpoint, --access-key-id and --secret-access-key) "
        "the server and an access key, check them against the server, and save them to the "
        "config file ($WEIR_CONFIG, else ~/.config/weir/config.toml) with mode 0600. "
        "Flags and WEIR_* environment variables still override the file later.",
        examples="""
  weir login
  weir login --endpoint http://weir.internal:8000 --access-key-id AKIA... --secret-access-key ...
  WEIR_CONFIG=./weir.toml weir login --no-verify
""",
        handler=login,
    ).add_argument("--no-verify", action="store_true", help="save without contacting the server")

    add_command(
        sub,
        "whoami",
        help="show who the configured credentials are, and where settings come from",
        description="Ask the server which user the access key belongs to, and show the "
        "endpoint and key in use with where each came from (flag, environment variable, "
        "config file or default).",
        examples="""
  weir whoami
  WEIR_ENDPOINT=http://other:8000 weir whoami --json
""",
        handler=whoami,
    )

    _, user = add_group(
        sub,
        "user",
        help="manage users and their access keys (admin)",
        description="Manage users. A user signs requests (S3 and admin API) with access keys; "
        "what it may do comes from its grants (see 'weir grant'), or everything if admin.",
    )
    p = add_command(
        user,
        "create",
        help="create a user",
        description="Create a user with no keys or grants.",
        examples="""
  weir user create ana
  weir user create ops --admin
""",
        handler=user_create,
    )
    p.add_argument("name", metavar="USER", help="user name")
    p.add_argument("--admin", action="store_true", help="give the user every permission")
    add_command(
        user,
        "list",
        help="list users",
        description="List users.",
        examples="""
  weir user list
""",
        handler=user_list,
    )
    p = add_command(
        user,
        "delete",
        help="delete a user and revoke its keys",
        description="Delete a user; its access keys stop working at once.",
        examples="""
  weir user delete ana
""",
        handler=user_delete,
    )
    p.add_argument("name", metavar="USER", help="user name")

    _, key = add_group(
        user,
        "key",
        help="create or revoke a user's access keys",
        description="Access key pairs of a user. The secret is shown once, at creation.",
    )
    p = add_command(
        key,
        "create",
        help="create an access key pair (the secret is shown once)",
        description="Create an access key pair for USER and print it. Store the secret now: "
        "it cannot be shown again.",
        examples="""
  weir user key create ana
  weir user key create ana --json > ana-key.json
""",
        handler=key_create,
    )
    p.add_argument("user", metavar="USER", help="user name")
    p = add_command(
        key,
        "list",
        help="list a user's access key ids",
        description="List the access key ids of USER (secrets are never shown again).",
        examples="""
  weir user key list ana
""",
        handler=key_list,
    )
    p.add_argument("user", metavar="USER", help="user name")
    p = add_command(
        key,
        "revoke",
        help="revoke an access key",
        description="Revoke one access key of USER; requests signed with it fail from now on.",
        examples="""
  weir user key revoke ana AKIAEXAMPLE
""",
        handler=key_revoke,
    )
    p.add_argument("user", metavar="USER", help="user name")
    p.add_argument("key_id", metavar="ACCESS_KEY_ID", help="the key to revoke")

    _, grant = add_group(
        sub,
        "grant",
        help="give, list and take away user permissions (admin)",
        description="Grants say what a user may do on repositories and branches matching glob "
        "patterns. Actions, each implying the ones before it: read (get, list, diff, log), "
        "write (put/delete objects, reset), commit (commit, merge, revert, branches, tags), "
        "admin (repository settings, protection). The same grants apply to S3 and the admin API.",
    )
    p = add_command(
        grant,
        "add",
        help="grant USER an action on repositories/branches",
        description="Grant USER an action on repositories and branches matching glob patterns "
        "('*' matches everything).",
        examples="""
  weir grant add ana --repo analytics --action read
  weir grant add etl --repo 'team-*' --branch 'etl-*' --action commit
""",
        handler=grant_add,
    )
    p.add_argument("user", metavar="USER", help="user name")
    p.add_argument("--repo", required=True, metavar="GLOB", help="repository pattern")
    p.add_argument("--branch", default="*", metavar="GLOB", help="branch pattern (default *)")
    p.add_argument("--action", required=True, choices=ACTIONS, help="what USER may do")
    p = add_command(
        grant,
        "remove",
        help="remove a grant, by id or by its fields",
        description="Remove one grant of USER: by --id (see 'weir grant list'), or by the same "
        "--repo/--branch/--action it was added with.",
        examples="""
  weir grant remove ana --repo analytics --action read
  weir grant remove ana --id 3f2a9c
""",
        handler=grant_remove,
    )
    p.add_argument("user", metavar="USER", help="user name")
    p.add_argument("--id", metavar="ID", help="grant id, as shown by 'weir grant list'")
    p.add_argument("--repo", metavar="GLOB", help="repository pattern")
    p.add_argument("--branch", default="*", metavar="GLOB", help="branch pattern (default *)")
    p.add_argument("--action", choices=ACTIONS, help="action of the grant")
    p = add_command(
        grant,
        "list",
        help="list a user's grants",
        description="List the grants of USER.",
        examples="""
  weir grant list ana
""",
        handler=grant_list,
    )
    p.add_argument("user", metavar="USER", help="user name")


def _ask(ctx: Context, label: str, default: str, secret: bool = False) -> str:
    shown = default if default and not secret else ("********" if default else "")
    prompt = f"{label}{f' [{shown}]' if shown else ''}: "
    if secret and isatty(ctx.stdin):
        answer = getpass.getpass(prompt, stream=ctx.stderr)
    else:
        ctx.stderr.write(prompt)
        ctx.stderr.flush()
        line = ctx.stdin.readline()
        answer = line.strip()
        if not line and not default:
            raise UsageError(f"no {label.lower()} given (use the flag, or answer the prompt)")
    return answer.strip() or default


def login(ctx: Context) -> int:
    a = ctx.args
    env = ctx.env
    path = settings.config_path(env)
    try:
        stored = settings.read_config(path)
    except settings.SettingsError:
        stored = {}
    values: dict[str, str] = {}
    labels = {
        "endpoint": "Endpoint",
        "access_key_id": "Access key id",
        "secret_access_key": "Secret access key",
    }
    for key in settings.KEYS:
        given = getattr(a, key, None)
        if given:
            values[key] = given
            continue
        default = env.get(settings.ENV_NAMES[key]) or stored.get(key) or ""
        if key == "endpoint":
            default = default or settings.DEFAULT_ENDPOINT
        values[key] = _ask(ctx, labels[key], default, secret=key == "secret_access_key")
        if not values[key]:
            raise UsageError(f"{labels[key].lower()} is required")
    try:
        client = AdminClient(
            values["endpoint"], values["access_key_id"], values["secret_access_key"]
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    version = ""
    if not a.no_verify:
        try:
            config = client.get_config()
        except ApiError as exc:
            if exc.status in (401, 403):
                raise CliError(
                    f"login failed: the server rejected the access key ({exc})", 3
                ) from None
            raise
        version = str((config or {}).get("version_config", {}).get("version", ""))
    settings.write_config(path, {**values, "endpoint": client.endpoint})
    if ctx.json:
        ctx.emit_json(
            {"config": str(path), "endpoint": client.endpoint, "verified": not a.no_verify}
        )
    else:
        server = f" (server version {version})" if version else ""
        ctx.out(f"Logged in to {client.endpoint}{server}; saved to {path}")
    return 0


def whoami(ctx: Context) -> int:
    resolved = ctx.settings()
    client = ctx.client()
    me = client.request("GET", "/user")
    user = me.get("user", {}) if isinstance(me, dict) else {}
    if ctx.json:
        ctx.emit_json({**(me or {}), "endpoint": client.endpoint, "sources": resolved.sources})
        return 0
    role = " (admin)" if user.get("admin") else ""
    key_from = resolved.sources.get("access_key_id", "")
    ctx.out(f"User:        {user.get('id', '')}{role}")
    ctx.out(f"Access key:  {resolved.access_key_id}  (from {key_from})")
    ctx.out(f"Endpoint:    {client.endpoint}  (from {resolved.sources.get('endpoint', '')})")
    return 0


def user_create(ctx: Context) -> int:
    u = ctx.client().create_user(ctx.args.name, ctx.args.admin)
    if ctx.json:
        ctx.emit_json(u)
    else:
        role = " (admin)" if ctx.args.admin else ""
        ctx.out(f"Created user '{ctx.args.name}'{role}; add a key with 'weir user key create'")
    return 0


def user_list(ctx: Context) -> int:
    users = list(ctx.client().list_users())
    if ctx.json:
        ctx.emit_json(users)
    else:
        rows = [
            (
                u.get("id", ""),
                "yes" if u.get("admin") else "no",
                render.when(u.get("creation_date")),
            )
            for u in users
        ]
        ctx.out(render.table(("USER", "ADMIN", "CREATED"), rows))
    return 0


def user_delete(ctx: Context) -> int:
    ctx.client().delete_user(ctx.args.name)
    if ctx.json:
        ctx.emit_json({"user": ctx.args.name, "deleted": True})
    else:
        ctx.out(f"Deleted user '{ctx.args.name}'")
    return 0


def key_create(ctx: Context) -> int:
    cred = ctx.client().create_key(ctx.args.user)
    if ctx.json:
        ctx.emit_json(cred)
        return 0
    ctx.out(f"access_key_id:     {cred.get('access_key_id', '')}")
    ctx.out(f"secret_access_key: {cred.get('secret_access_key', '')}")
    ctx.note("The secret is shown only this once: store it now.")
    return 0


def key_list(ctx: Context) -> int:
    keys = list(ctx.client().list_keys(ctx.args.user))
    if ctx.json:
        ctx.emit_json(keys)
    else:
        rows = [(k.get("access_key_id", ""), render.when(k.get("creation_date"))) for k in keys]
        ctx.out(render.table(("ACCESS KEY ID", "CREATED"), rows))
    return 0


def key_revoke(ctx: Context) -> int:
    a = ctx.args
    ctx.client().revoke_key(a.user, a.key_id)
    if ctx.json:
        ctx.emit_json({"user": a.user, "access_key_id": a.key_id, "revoked": True})
    else:
        ctx.out(f"Revoked key {a.key_id} of '{a.user}'")
    return 0


def grant_add(ctx: Context) -> int:
    a = ctx.args
    g = ctx.client().add_grant(a.user, a.repo, a.branch, a.action)
    if ctx.json:
        ctx.emit_json(g or {"repository": a.repo, "branch": a.branch, "action": a.action})
    else:
        ctx.out(f"Granted {a.action} on {a.repo}/{a.branch} to '{a.user}'")
    return 0


def grant_remove(ctx: Context) -> int:
    a = ctx.args
    client = ctx.client()
    grant_id = a.id
    if grant_id is None:
        if not a.repo or not a.action:
            raise UsageError("give --id, or --repo and --action (and --branch if not '*')")
        found = client.find_grant(a.user, a.repo, a.branch, a.action)
        if not isinstance(found, dict) or not found.get("id"):
            raise CliError(f"'{a.user}' has no grant {a.action} on {a.repo}/{a.branch}")
        grant_id = str(found["id"])
    client.remove_grant(a.user, grant_id)
    if ctx.json:
        ctx.emit_json({"user": a.user, "id": grant_id, "removed": True})
    else:
        ctx.out(f"Removed grant {grant_id} from '{a.user}'")
    return 0


def grant_list(ctx: Context) -> int:
    grants = ctx.client().list_grants(ctx.args.user)
    if ctx.json:
        ctx.emit_json(grants)
    else:
        rows = [
            (g.get("id", ""), g.get("repository", ""), g.get("branch", ""), g.get("action", ""))
            for g in grants
        ]
        ctx.out(render.table(("ID", "REPOSITORY", "BRANCH", "ACTION"), rows))
    return 0
