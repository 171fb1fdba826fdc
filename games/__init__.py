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
from games.text import NoTextRulesError, TextEnv, TextRules, make_text, parse_answer, text_families, text_rules

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
provide(
    "games.rl2_paper",  # one family per cell of the RL² paper's tables (see games/rl2_paper.py)
    (
        *(f"rl2_bandit_k{k}_n{n}" for n in (10, 100, 500) for k in (5, 10, 50)),
        *(f"rl2_mdp_n{n}" for n in (10, 25, 50, 75, 100)),
    ),
)

__all__ = [
    "BoolParam",
    "ChoiceParam",
    "Family",
    "FloatParam",
    "IntParam",
    "NoTextRulesError",
    "Param",
    "Spec",
    "SpecError",
    "SpecParam",
    "TextEnv",
    "TextRules",
    "Variant",
    "did_you_mean",
    "families",
    "family_names",
    "format_spec",
    "get_family",
    "make",
    "make_text",
    "make_vector",
    "parse_answer",
    "parse_spec",
    "parse_variant",
    "provide",
    "random_action",
    "register",
    "text_families",
    "text_rules",
]
