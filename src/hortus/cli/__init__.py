"""The ``hortus`` command line: serve, db, import/export, keys, train/eval and more."""

from __future__ import annotations

import typer

from hortus.cli import accounts as account_commands
from hortus.cli import analyses as analysis_commands
from hortus.cli import backbone as backbone_commands
from hortus.cli import backup as backup_commands
from hortus.cli import db as db_commands
from hortus.cli import keys as key_commands
from hortus.cli import media as media_commands
from hortus.cli import observations as observation_commands
from hortus.cli import plants as plant_commands
from hortus.cli import serve as serve_commands

app = typer.Typer(
    name="hortus",
    help="Hortus: plant identification, diagnosis and a plant knowledge base, self-hosted.",
    no_args_is_help=True,
    add_completion=False,
)

serve_commands.register(app)
db_commands.register(app)
plant_commands.register(app)
key_commands.register(app)
account_commands.register(app)
backup_commands.register(app)
media_commands.register(app)
analysis_commands.register(app)
observation_commands.register(app)
backbone_commands.register(app)

try:  # the vision commands arrive with the vision engine
    from hortus.cli import vision as vision_commands
except ImportError:  # pragma: no cover
    vision_commands = None  # type: ignore[assignment]
if vision_commands is not None:
    vision_commands.register(app)


def main() -> None:
    app()
