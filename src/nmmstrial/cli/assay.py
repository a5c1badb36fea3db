"""`nmmstrial assay ...`: the laboratory assays, one subgroup each."""

from __future__ import annotations

import click

from .assay_ephys import ephys
from .assay_fibres import fibres
from .assay_qpcr import qpcr


@click.group()
def assay() -> None:
    """Laboratory assays: qPCR exports, oocyte voltage clamp, dose-response, fibres."""


assay.add_command(qpcr)
assay.add_command(ephys)
assay.add_command(fibres)
