"""Classic-control families built on Gymnasium's own environments, with their physics exposed."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

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


# --------------------------------------------------------------------------------------------
# Acrobot: link lengths and masses
# --------------------------------------------------------------------------------------------


class VariantAcrobot(AcrobotEnv):
    """Gymnasium's Acrobot (book dynamics) with per-variant link lengths and masses.

    Each link is a uniform rod: its centre of mass sits at half its length and its moment of
    inertia is ``m * l**2`` (1.0 for the default unit links, as in Gymnasium). The episode ends
    when the tip rises above half the arm's full reach, ``(l1 + l2) / 2`` above the pivot (1.0
    for the default links, Gymnasium's own threshold).
    """

    metadata = {**AcrobotEnv.metadata, "render_modes": [*AcrobotEnv.metadata["render_modes"], "ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(render_mode=None if render_mode == "ansi" else render_mode)
        self.render_mode = render_mode
        self.LINK_LENGTH_1 = params["length1"]
        self.LINK_LENGTH_2 = params["length2"]
        self.LINK_MASS_1 = params["mass1"]
        self.LINK_MASS_2 = params["mass2"]
        self.LINK_COM_POS_1 = self.LINK_LENGTH_1 / 2
        self.LINK_COM_POS_2 = self.LINK_LENGTH_2 / 2
        self.moi1 = self.LINK_MASS_1 * self.LINK_LENGTH_1**2
        self.moi2 = self.LINK_MASS_2 * self.LINK_LENGTH_2**2
        self.target = (self.LINK_LENGTH_1 + self.LINK_LENGTH_2) / 2

    def _tip_height(self) -> float:
        s = self.state
        assert s is not None
        return float(-self.LINK_LENGTH_1 * np.cos(s[0]) - self.LINK_LENGTH_2 * np.cos(s[0] + s[1]))

    def _terminal(self) -> bool:
        return self._tip_height() > self.target

    def _dsdt(self, s_augmented: Any) -> tuple[float, float, float, float, float]:
        # Gymnasium's "book" equations, with a moment of inertia per link.
        m1, m2 = self.LINK_MASS_1, self.LINK_MASS_2
        l1, lc1, lc2 = self.LINK_LENGTH_1, self.LINK_COM_POS_1, self.LINK_COM_POS_2
        i1, i2 = self.moi1, self.moi2
        g = 9.8
        a = s_augmented[-1]
        theta1, theta2, dtheta1, dtheta2 = s_augmented[:4]
        cos2, sin2 = np.cos(theta2), np.sin(theta2)
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + i2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - np.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - np.pi / 2)
            + phi2
        )
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2) / (m2 * lc2**2 + i2 - d2**2 / d1)
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0

    def render(self) -> Any:
        if self.render_mode != "ansi":
            return super().render()
        if self.state is None:
            return "acrobot: not reset"
        t1, t2, w1, w2 = (float(v) for v in self.state)
        height = self._tip_height()
        reach = self.LINK_LENGTH_1 + self.LINK_LENGTH_2
        width = 41
        bar = ["-"] * width
        bar[int(np.clip((height + reach) / (2 * reach) * (width - 1), 0, width - 1))] = "o"
        bar[int(np.clip((self.target + reach) / (2 * reach) * (width - 1), 0, width - 1))] = "|"
        return (
            "tip height " + "".join(bar) + f" {height:+.2f} (goal > {self.target:.2f})\n"
            f"theta1={np.degrees(t1):+.0f}deg theta2={np.degrees(t2):+.0f}deg w1={w1:+.2f} w2={w2:+.2f}"
        )


register(
    Family(
        name="acrobot",
        make=lambda params, render_mode=None: VariantAcrobot(params, render_mode=render_mode),
        params={
            "length1": FloatParam(1.0, 0.5, 2.0, "length of the upper link (m)"),
            "length2": FloatParam(1.0, 0.5, 2.0, "length of the lower link (m)"),
            "mass1": FloatParam(1.0, 0.5, 2.0, "mass of the upper link (kg)"),
            "mass2": FloatParam(1.0, 0.5, 2.0, "mass of the lower link (kg)"),
        },
        description="Swing a two-link arm's tip above a line by torquing the middle joint; link lengths and masses vary.",
        group="classic",
        max_episode_steps=500,
        example="acrobot(length2=1.5,mass1=0.7)",
    )
)


# --------------------------------------------------------------------------------------------
# Mountain car: engine force and gravity
# --------------------------------------------------------------------------------------------


class VariantMountainCar(MountainCarEnv):
    """Gymnasium's MountainCar (discrete) with the engine force and gravity set per variant.

    Both are given in thousandths (Gymnasium's defaults are force 1.0 = 0.001 and gravity
    2.5 = 0.0025) so that variant ids stay readable. The time limit is 400 steps rather than
    Gymnasium's 200: the weakest engines against the strongest gravity need about 330.
    """

    metadata = {**MountainCarEnv.metadata, "render_modes": [*MountainCarEnv.metadata["render_modes"], "ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(render_mode=None if render_mode == "ansi" else render_mode)
        self.render_mode = render_mode
        self.force = params["force"] / 1000
        self.gravity = params["gravity"] / 1000

    def render(self) -> Any:
        if self.render_mode != "ansi":
            return super().render()
        if self.state is None:
            return "mountaincar: not reset"
        position, velocity = (float(v) for v in self.state)
        width = 41
        span = self.max_position - self.min_position
        road = ["_"] * width
        road[int((self.goal_position - self.min_position) / span * (width - 1))] = "F"
        road[int(np.clip((position - self.min_position) / span * (width - 1), 0, width - 1))] = "@"
        return "".join(road) + f"\nx={position:+.3f} v={velocity:+.4f} (flag at {self.goal_position})"


register(
    Family(
        name="mountaincar",
        make=lambda params, render_mode=None: VariantMountainCar(params, render_mode=render_mode),
        params={
            "force": FloatParam(1.0, 0.5, 2.0, "engine force per step, in thousandths"),
            "gravity": FloatParam(2.5, 1.5, 4.0, "gravity per step, in thousandths"),
        },
        description="Rock an underpowered car out of a valley to the flag; engine force and gravity vary.",
        group="classic",
        max_episode_steps=400,
        example="mountaincar(force=0.8,gravity=3.0)",
    )
)


# --------------------------------------------------------------------------------------------
# Pendulum: gravity, mass, length (continuous torque)
# --------------------------------------------------------------------------------------------


class VariantPendulum(PendulumEnv):
    """Gymnasium's Pendulum swing-up with gravity, bob mass and rod length set per variant.

    The torque limit (2 N m) and the speed limit stay fixed, so every variant has the same spaces.
    """

    metadata = {**PendulumEnv.metadata, "render_modes": [*PendulumEnv.metadata["render_modes"], "ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(render_mode=None if render_mode == "ansi" else render_mode, g=params["g"])
        self.render_mode = render_mode
        self.m = params["m"]
        self.l = params["l"]

    def render(self) -> Any:
        if self.render_mode != "ansi":
            return super().render()
        if getattr(self, "state", None) is None:
            return "pendulum: not reset"
        theta, omega = (float(v) for v in self.state)
        angle = (theta + np.pi) % (2 * np.pi) - np.pi
        width = 37
        dial = ["."] * width
        dial[width // 2] = "|"
        dial[int(np.clip((angle + np.pi) / (2 * np.pi) * (width - 1), 0, width - 1))] = "o"
        torque = "none" if self.last_u is None else f"{float(self.last_u):+.2f}"
        return "".join(dial) + f"\nangle from upright={np.degrees(angle):+.0f}deg omega={omega:+.2f} torque={torque}"


register(
    Family(
        name="pendulum",
        make=lambda params, render_mode=None: VariantPendulum(params, render_mode=render_mode),
        params={
            "g": FloatParam(10.0, 2.0, 20.0, "gravity (m/s^2)"),
            "m": FloatParam(1.0, 0.5, 2.0, "bob mass (kg)"),
            "l": FloatParam(1.0, 0.5, 2.0, "rod length (m)"),
        },
        description="Swing a pendulum up and hold it upright with a bounded continuous torque; gravity, mass, length vary.",
        group="classic",
        max_episode_steps=200,
        example="pendulum(g=12.0,l=1.3)",
    )
)
