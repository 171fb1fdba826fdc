"""MetaArena's game families. Importing this package registers every built-in family."""

from games import classic, metarl, openspiel_games, pettingzoo_games  # noqa: F401  (registration side effects)
from games.core import (
    BoolParam,
    ChoiceParam,
    Family,
    FloatParam,
    IntParam,
    Param,
    Spec,
    SpecError,
    SpecParam,
    Variant,
    families,
    format_spec,
    get_family,
    make,
    parse_spec,
    parse_variant,
    random_action,
    register,
)

__all__ = [
    "BoolParam",
    "ChoiceParam",
    "Family",
    "FloatParam",
    "IntParam",
    "Param",
    "Spec",
    "SpecError",
    "SpecParam",
    "Variant",
    "families",
    "format_spec",
    "get_family",
    "make",
    "parse_spec",
    "parse_variant",
    "random_action",
    "register",
]
