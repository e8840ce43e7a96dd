"""Draw a prediction on its frame: the box, or numbered waypoints joined by arrows, and the instruction."""

from __future__ import annotations

import itertools
import math
import textwrap

from PIL import Image, ImageDraw, ImageFont

from .actions import Action, Affordance, Trajectory

BOX_COLOR = (0, 255, 80)
PATH_COLOR = (255, 200, 0)
START_COLOR = (0, 200, 255)
ERROR_COLOR = (255, 60, 60)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], color, width: int) -> None:
    draw.line([start, end], fill=color, width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    length = max(6.0, 3.0 * width)
    left = (end[0] - length * math.cos(angle - 0.45), end[1] - length * math.sin(angle - 0.45))
    right = (end[0] - length * math.cos(angle + 0.45), end[1] - length * math.sin(angle + 0.45))
    draw.polygon([end, left, right], fill=color)


def _caption(draw: ImageDraw.ImageDraw, image_width: int, lines: list[str], color, font) -> None:
    """Text on a dark band at the top, so it reads on any scene."""
    line_height = font.size + 4 if hasattr(font, "size") else 14
    band_height = line_height * len(lines) + 6
    draw.rectangle([0, 0, image_width, band_height], fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((6, 3 + i * line_height), line, fill=color, font=font)


def draw_overlay(
    image: Image.Image,
    action: Action | None,
    instruction: str = "",
    error: str | None = None,
) -> Image.Image:
    """A copy of ``image`` with the action drawn in pixels of that image."""
    canvas = image.convert("RGB").copy()
    width, height = canvas.size
    scale = max(1, round(min(width, height) / 240))
    draw = ImageDraw.Draw(canvas)
    font = _font(11 * scale)

    if isinstance(action, Affordance):
        x1, y1, x2, y2 = action.corners_pixels(width, height)
        draw.rectangle([x1, y1, x2, y2], outline=BOX_COLOR, width=2 * scale)
        cx, cy = action.center_pixels(width, height)
        r = 3 * scale
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=BOX_COLOR)
    elif isinstance(action, Trajectory):
        points = [tuple(p) for p in action.points_pixels(width, height).tolist()]
        for start, end in itertools.pairwise(points):
            _arrow(draw, start, end, PATH_COLOR, 2 * scale)
        for i, (px, py) in enumerate(points):
            r = 4 * scale
            draw.ellipse(
                [px - r, py - r, px + r, py + r], fill=START_COLOR if i == 0 else PATH_COLOR, outline=(0, 0, 0)
            )
            draw.text(
                (px + r + 1, py - r - 1),
                str(i + 1),
                fill=(255, 255, 255),
                font=font,
                stroke_width=1,
                stroke_fill=(0, 0, 0),
            )

    wrap = max(20, width // (6 * scale))
    lines = textwrap.wrap(instruction, wrap)[:2] if instruction else []
    color = (255, 255, 255)
    if error:
        lines += textwrap.wrap(f"no action: {error}", wrap)[:2]
        color = ERROR_COLOR
    if lines:
        _caption(draw, width, lines, color, font)
    return canvas
