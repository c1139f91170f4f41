"""The `nir` command line. Thin: parses options, calls the package, prints one-line errors.

Each command lives in its own section below; keep them thin and put logic in the package.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nir.config import ConfigError, Settings, load_settings
from nir.errors import NirError

app = typer.Typer(
    name="nir",
    help="Statistics pipeline for the national introduction register (NIR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


def parse_snapshot(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


# --- load (foundation) ----------------------------------------------------------------------
@app.command()
def load(
    delivery: Annotated[Path, typer.Argument(help="Delivery folder <landing>/<YYYY-MM-DD>/")],
) -> None:
    """Check a delivery against the contract and load it into the warehouse (all or nothing)."""
    from nir.load import load_delivery

    result = load_delivery(settings(), delivery)
    console.print(f"{result.snapshot_date}: {result.outcome} ({result.message})")


@app.command()
def check(
    delivery: Annotated[Path, typer.Argument(help="Delivery folder <landing>/<YYYY-MM-DD>/")],
) -> None:
    """Check a delivery against its manifest and the contract, without loading it."""
    from nir.contract import check_delivery

    problems = check_delivery(delivery, settings())
    if problems:
        for p in problems:
            err.print(str(p), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    console.print(f"{delivery}: follows contract version 1")


def main() -> None:
    try:
        app()
    except (NirError, ConfigError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
