"""The visual classes of the simulated movies: one shape, one colour, one direction each."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VisualClass:
    """A clip class: what is drawn, in which colour, and which way it moves.

    ``angle`` is the direction of motion in degrees, counter-clockwise from "right" with
    "up" pointing to the top of the screen (so image rows decrease when moving up).
    """

    name: str
    shape: str
    colour: str
    rgb: tuple
    direction: str
    angle: float

    @property
    def unit_velocity(self):
        """``(dx, dy)`` in screen coordinates (x to the right, y up) of unit speed."""
        a = np.deg2rad(self.angle)
        return float(np.cos(a)), float(np.sin(a))

    def caption(self):
        """Ground-truth caption, e.g. ``"a red disc moving to the right on a dark background"``."""
        noun = "horizontal stripes" if self.shape == "stripes" else self.shape
        article = "" if self.shape == "stripes" else ("an " if self.colour[0] in "aeiou" else "a ")
        verb = "drifting" if self.shape == "stripes" else "moving"
        return f"{article}{self.colour} {noun} {verb} {self.direction} on a dark background"


# Every class differs from every other in shape, colour and direction, so a decoder that gets
# any one of them right can be scored on it. The first five are the defaults.
CLASSES = (
    VisualClass("red_disc", "disc", "red", (0.95, 0.10, 0.10), "to the right", 0.0),
    VisualClass("green_square", "square", "green", (0.10, 0.85, 0.10), "up", 90.0),
    VisualClass("blue_triangle", "triangle", "blue", (0.15, 0.25, 1.00), "to the left", 180.0),
    VisualClass("yellow_stripes", "stripes", "yellow", (0.95, 0.90, 0.10), "down", 270.0),
    VisualClass("magenta_ring", "ring", "magenta", (0.90, 0.10, 0.90),
                "diagonally up and to the right", 45.0),
    VisualClass("cyan_cross", "cross", "cyan", (0.10, 0.90, 0.90),
                "diagonally down and to the left", 225.0),
    VisualClass("orange_diamond", "diamond", "orange", (1.00, 0.55, 0.00),
                "diagonally up and to the left", 135.0),
    VisualClass("white_checkerboard", "checkerboard", "white", (0.95, 0.95, 0.95),
                "diagonally down and to the right", 315.0),
)

MAX_CLASSES = len(CLASSES)
