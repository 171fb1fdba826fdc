"""Classic-control families built on Gymnasium's own environments, with their physics exposed."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from games.core import Family, FloatParam, register


class VariantCartPole(CartPoleEnv):
    """Gymnasium's CartPole with its physical constants set per variant."""

    metadata = {**CartPoleEnv.metadata, "render_modes": [*CartPoleEnv.metadata["render_modes"], "ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(render_mode=None if render_mode == "ansi" else render_mode)
        self.render_mode = render_mode
        self.length = params["length"] / 2  # Gymnasium stores the half-length
        self.masspole = params["masspole"]
        self.masscart = params["masscart"]
        self.gravity = params["gravity"]
        self.force_mag = params["force"]
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length

    def render(self) -> Any:
        if self.render_mode != "ansi":
            return super().render()
        if self.state is None:
            return "cartpole: not reset"
        x, x_dot, theta, theta_dot = (float(v) for v in self.state)
        width = 41
        cell = int(np.clip((x + self.x_threshold) / (2 * self.x_threshold) * (width - 1), 0, width - 1))
        track = ["-"] * width
        track[cell] = "#"
        lean = "/" if theta > 0.02 else "\\" if theta < -0.02 else "|"
        return (
            " " * cell + lean + "\n" + "".join(track) + "\n"
            f"x={x:+.2f} v={x_dot:+.2f} theta={np.degrees(theta):+.1f}deg omega={theta_dot:+.2f}"
        )


register(
    Family(
        name="cartpole",
        make=lambda params, render_mode=None: VariantCartPole(params, render_mode=render_mode),
        params={
            "length": FloatParam(1.0, 0.2, 3.0, "full pole length (m)"),
            "masspole": FloatParam(0.1, 0.02, 1.0, "pole mass (kg)"),
            "masscart": FloatParam(1.0, 0.2, 5.0, "cart mass (kg)"),
            "gravity": FloatParam(9.8, 2.0, 20.0, "gravity (m/s^2)"),
            "force": FloatParam(10.0, 2.0, 30.0, "push force (N)"),
        },
        description="Balance a pole on a cart; pole length, masses, gravity and push force vary.",
        group="classic",
        max_episode_steps=500,
        example="cartpole(gravity=12.0,length=0.8)",
    )
)
