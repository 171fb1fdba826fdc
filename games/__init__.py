"""MetaArena's game families.

Families register themselves when their module is imported; each module is imported the first
time one of its families is asked for (``games.get_family``, ``games.make``), so code that never
makes an OpenSpiel or PettingZoo env never imports them.
"""

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
    did_you_mean,
    families,
    family_names,
    format_spec,
    get_family,
    make,
    make_vector,
    parse_spec,
    parse_variant,
    provide,
    random_action,
    register,
)

provide("games.classic", ("cartpole", "acrobot", "mountaincar", "pendulum"))
provide("games.metarl", ("bandit", "tabular_mdp", "nav2d", "maze"))
provide(
    "games.openspiel_games",
    (
        "catch", "cliff_walking", "deep_sea", "connect_four", "breakthrough", "goofspiel", "kuhn_poker",
        "leduc_poker", "liars_dice", "oshi_zumo", "pig",
    ),
)  # fmt: skip
provide("games.pettingzoo_games", ("rps", "tictactoe", "pz_connect_four", "go"))

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
    "did_you_mean",
    "families",
    "family_names",
    "format_spec",
    "get_family",
    "make",
    "make_vector",
    "parse_spec",
    "parse_variant",
    "provide",
    "random_action",
    "register",
]
