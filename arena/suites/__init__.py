"""Suites: named, versioned TOML files that say which variants an agent meets and on what budget.

Stage 1 of the pipeline (suite → variants → trials → store → scoring → site). A suite knows the
family registry and nothing downstream. :mod:`~arena.suites.model` is what a suite is,
:mod:`~arena.suites.load` reads the files in ``files/`` (``NAME@VERSION.toml``; the format is in
``README.md``), :mod:`~arena.suites.calibrate` re-measures normalization references.
"""

from arena.suites.load import (
    SUITES_DIR,
    installed_suite,
    load_suite,
    load_suite_file,
    parse_suite,
    read_test_seed,
    suite_names,
    suite_versions,
)
from arena.suites.model import SPLITS, Dist, FamilyPlan, Reference, Split, Suite, TestVariant, sample_variant

__all__ = [
    "SPLITS",
    "SUITES_DIR",
    "Dist",
    "FamilyPlan",
    "Reference",
    "Split",
    "Suite",
    "TestVariant",
    "installed_suite",
    "load_suite",
    "load_suite_file",
    "parse_suite",
    "read_test_seed",
    "sample_variant",
    "suite_names",
    "suite_versions",
]
