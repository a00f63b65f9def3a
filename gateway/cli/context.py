"""What every CLI command gets: parsed arguments, streams, the API client and output helpers.

Also the argparse plumbing shared by the command modules: the parser class whose usage errors
are one line, the global options accepted before or after the subcommand, and small argument
types (``k=v``, ``GLOB=side``).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn, TextIO

from gateway.cli import settings
from gateway.client.api import AdminClient


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit code.

    Exit codes: 1 the operation failed, 2 usage, 3 cannot connect or authenticate.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CliError):
    def __init__(self, message: str, prog: str = "weir") -> None:
        super().__init__(message, 2)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


Handler = Callable[["Context"], int]


def global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command accepts. On subcommands they default to SUPPRESS, so a value
    given before the subcommand is not overwritten by the subcommand's default."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        default=default(None),
        help="Weir server, e.g. http://127.0.0.1:8000 (env WEIR_ENDPOINT; else the config file)",
    )
    group.add_argument(
        "--access-key-id",
        metavar="KEY",
        default=default(None),
        help="access key id (env WEIR_ACCESS_KEY_ID; else the config file)",
    )
    group.add_argument(
        "--secret-access-key",
        metavar="SECRET",
        default=default(None),
        help="secret access key (env WEIR_SECRET_ACCESS_KEY; else the config file)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print machine-readable JSON instead of tables",
    )


def wrap(text: str) -> str:
    """Fill a description to 79 columns (the raw formatter keeps the examples' layout)."""
    return textwrap.fill(" ".join(text.split()), 79)


def add_command(
    sub: argparse._SubParsersAction[Parser],
    name: str,
    *,
    help: str,
    description: str,
    examples: str,
    handler: Handler | None = None,
) -> Parser:
    """Add a subcommand with its help, an ``Examples:`` epilog and the global options."""
    parser = sub.add_parser(
        name,
        help=help,
        description=wrap(description),
        epilog="Examples:\n" + examples.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global_options(parser, suppress=True)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def add_group(
    sub: argparse._SubParsersAction[Parser], name: str, *, help: str, description: str
) -> tuple[Parser, argparse._SubParsersAction[Parser]]:
    """Add a command group (``weir repo ...``); alone, it prints its help and exits 2."""
    parser = sub.add_parser(
        name,
        help=help,
        description=wrap(description),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global_options(parser, suppress=True)
    parser.set_defaults(handler=_group_help(parser))
    return parser, parser.add_subparsers(title="commands", metavar="COMMAND")


def _group_help(parser: Parser) -> Handler:
    def show(ctx: Context) -> int:
        ctx.stdout.write(parser.format_help())
        return 2

    return show


def key_value(text: str) -> tuple[str, str]:
    """``k=v`` for ``--meta``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def resolution(text: str) -> tuple[str, str]:
    """``GLOB=source|dest`` for ``merge --resolve``."""
    glob, sep, side = text.rpartition("=")
    if not sep or not glob or side not in ("source", "dest"):
        raise argparse.ArgumentTypeError(f"expected GLOB=source or GLOB=dest, got {text!r}")
    return glob, side


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


@dataclass
class Context:
    """Per-invocation state handed to every command handler."""

    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    env: Mapping[str, str]
    _client: AdminClient | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def settings(self) -> settings.Settings:
        flags = {
            "endpoint": getattr(self.args, "endpoint", None),
            "access_key_id": getattr(self.args, "access_key_id", None),
            "secret_access_key": getattr(self.args, "secret_access_key", None),
        }
        try:
            return settings.resolve(flags, self.env)
        except settings.SettingsError as exc:
            raise CliError(str(exc), 2) from None

    def client(self) -> AdminClient:
        """The API client for the resolved endpoint and credentials.

        Raises:
            CliError: (exit 3) no credentials are configured; (exit 2) the endpoint is invalid.
        """
        if self._client is None:
            resolved = self.settings()
            if not resolved.access_key_id or not resolved.secret_access_key:
                raise CliError(
                    "no credentials: run 'weir login', or set WEIR_ACCESS_KEY_ID and "
                    "WEIR_SECRET_ACCESS_KEY, or pass --access-key-id and --secret-access-key",
                    3,
                )
            try:
                self._client = AdminClient(
                    resolved.endpoint, resolved.access_key_id, resolved.secret_access_key
                )
            except ValueError as exc:
                raise CliError(str(exc), 2) from None
        return self._client

    def out(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def note(self, text: str) -> None:
        """A human remark on stderr (kept off stdout so pipes get only data)."""
        self.stderr.write(text + "\n")

    def emit_json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")

    def binary_stdout(self) -> IO[bytes]:
        buffer = getattr(self.stdout, "buffer", None)
        if buffer is None:
            raise CliError("stdout cannot take binary data here; give a file name instead")
        self.stdout.flush()
        return buffer  # type: ignore[no-any-return]

    def confirm(self, question: str) -> None:
        """Go on if ``--yes`` was given or the user answers y on a terminal; else refuse.

        Raises:
            CliError: (exit 2) no terminal and no ``--yes``; (exit 1) the user said no.
        """
        if getattr(self.args, "yes", False):
            return
        if not isatty(self.stdin):
            raise UsageError(f"{question} needs confirmation: add --yes")
        self.stderr.write(f"{question}? [y/N] ")
        self.stderr.flush()
        if self.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError("cancelled")


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for closed or fake streams)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def default_streams() -> tuple[TextIO, TextIO, TextIO]:
    return sys.stdout, sys.stderr, sys.stdin
