"""`nmmstrial`: the root command group. Errors the user must fix print one line, exit 1."""

from __future__ import annotations

import click

from .. import __version__
from ..errors import NmmstrialError


class Root(click.Group):
    """Translate NmmstrialError into click's one-line error (no traceback, exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NmmstrialError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nmmstrial")
def cli() -> None:
    """Run and analyse split-body, sham-controlled neuromuscular stimulation trials."""


def _register() -> None:
    from . import (
        analyze,
        assay,
        audit,
        conduct,
        demo,
        design,
        export,
        protocol,
        report,
        serve,
        simulate,
        stats,
        upgrade,
    )

    cli.add_command(protocol.protocol)
    cli.add_command(simulate.simulate)
    cli.add_command(export.export)
    cli.add_command(report.report)
    cli.add_command(analyze.analyze)
    cli.add_command(stats.stats)
    cli.add_command(conduct.conduct)
    cli.add_command(audit.audit)
    cli.add_command(assay.assay)
    cli.add_command(design.design)
    cli.add_command(upgrade.upgrade)
    cli.add_command(demo.demo)
    cli.add_command(serve.serve)


_register()


def main() -> None:
    cli()
