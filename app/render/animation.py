"""A run as an animated GIF: the network's weights, the error curve drawing itself, the landscape.

Drawn with Pillow in RGB (antialiased text), each frame mapped onto one fixed 256-colour palette
(no dithering): the GIF's frames share it, so they stay small and the colours never flicker.
The looks follow the page: orange negative, blue positive (static/js/nn.js), edge width
0.6 + 6.4 sqrt(|w| / max |w|) pixels.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.domain.landscape import Film

Array = np.ndarray
RGB = tuple[int, int, int]

WIDTH, HEIGHT = 800, 450
LOOP_MS = 10_000  # the default loop: the whole film in ten seconds
MIN_FRAME_MS = 20  # browsers play faster GIF frames at 100 ms: never below this
MAX_BYTES = 5 * 1024 * 1024 - 64 * 1024  # under 5 MB, with room to spare

POS: RGB = (33, 102, 172)  # #2166ac
NEG: RGB = (230, 97, 1)  # #e66101
MID: RGB = (236, 238, 241)
INK: RGB = (29, 36, 48)
MUTED: RGB = (110, 118, 132)
RULE: RGB = (216, 221, 229)
WHITE: RGB = (255, 255, 255)
TONES = 48  # per side, as the page's edges (network-view.js)
# A sequential map for E (low dark blue, high pale yellow), 64 steps: viridis, roughly.
VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
HEAT = 64


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))  # fmt: skip


def tone(t: float) -> RGB:
    """The page's diverging colour for t in [-1, 1] (nn.js divergingRGB)."""
    if not math.isfinite(t):
        return (160, 160, 160)
    c = max(-1.0, min(1.0, t))
    return _mix(MID, POS if c >= 0 else NEG, abs(c))


def heat(u: float) -> RGB:
    """The colour of E's place u in [0, 1] on the map (low to high)."""
    u = max(0.0, min(1.0, u)) * (len(VIRIDIS) - 1)
    k = min(int(u), len(VIRIDIS) - 2)
    return _mix(VIRIDIS[k], VIRIDIS[k + 1], u - k)


def palette() -> Image.Image:
    """The one palette every frame is mapped onto."""
    colours: list[RGB] = [WHITE, INK, MUTED, RULE, POS, NEG, MID, (160, 160, 160)]
    colours += [_mix(INK, WHITE, k / 23) for k in range(1, 23)]  # text's antialiasing
    colours += [tone(k / TONES) for k in range(-TONES, TONES + 1)]
    colours += [heat(k / (HEAT - 1)) for k in range(HEAT)]
    colours += [_mix(POS, WHITE, k / 8) for k in range(1, 8)]
    colours += [_mix(NEG, WHITE, k / 8) for k in range(1, 8)]
    colours = colours[:256] + [WHITE] * (256 - len(colours))
    image = Image.new("P", (1, 1))
    image.putpalette([v for c in colours for v in c])
    return image


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def frame_ms(frames: int) -> int:
    """Each frame's duration for the default ten-second loop, in GIF's 10 ms units."""
    return max(MIN_FRAME_MS, 10 * round(LOOP_MS / max(frames, 1) / 10))


def render_gif(film: Film, duration_ms: int | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """The film as an animated GIF, looping forever, at most `max_bytes` long.

    A film whose GIF comes out larger (hundreds of frames of a big network, every edge changing)
    keeps every other frame, each shown twice as long, until it fits: the loop lasts as long.
    """
    pal = palette()
    layout = _Layout(film)
    frames = [layout.frame(k).quantize(palette=pal, dither=Image.Dither.NONE)
              for k in range(len(film.steps))]  # fmt: skip
    duration = duration_ms or frame_ms(len(frames))
    while True:
        out = io.BytesIO()
        frames[0].save(
            out,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=duration,
            loop=0,
            optimize=False,
            disposal=1,
        )
        if out.tell() <= max_bytes or len(frames) <= 2:
            return out.getvalue()
        frames = frames[::2] if len(frames) % 2 else [*frames[:-1:2], frames[-1]]
        duration *= 2


class _Layout:
    """Where each part goes, and what stays the same from frame to frame."""

    def __init__(self, film: Film) -> None:
        self.film = film
        self.small, self.font, self.big = _font(11), _font(13), _font(16)
        right = 470
        self.net_box = (16, 58, right - 16, HEIGHT - 16)
        if film.plane is None:
            self.curve_box = (right + 46, 48, WIDTH - 16, HEIGHT - 40)
            self.plane_box: tuple[int, int, int, int] | None = None
        else:
            self.curve_box = (right + 46, 48, WIDTH - 16, 200)
            self.plane_box = (right + 46, 236, WIDTH - 16, HEIGHT - 20)
        self._nodes = _node_places(film.sizes, self.net_box)
        self._curve = self._curve_points()
        self._backdrop = self._plane_backdrop()

    # ---- one frame --------------------------------------------------------------------------

    def frame(self, k: int) -> Image.Image:
        """Frame k: the network at its step, the curve up to it, the path up to it."""
        film = self.film
        image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
        draw = ImageDraw.Draw(image)
        loss = film.losses[k]
        e_text = f"{loss:.6g}" if math.isfinite(loss) else "not a number"
        draw.text((16, 12), "Backprop Studio", fill=INK, font=self.big)
        draw.text((170, 14), f"step {film.steps[k]}   E = {e_text}", fill=MUTED, font=self.font)
        self._network(draw, film.thetas[k])
        self._curve_panel(draw, k)
        if self.plane_box is not None:
            self._plane_panel(image, draw, k)
        return image

    def _network(self, draw: ImageDraw.ImageDraw, theta: Array) -> None:
        """Edges coloured and sized by weight as on the page, then the neurons over them."""
        W, b, _ = self.film.views(theta)
        mx = max((float(np.nanmax(np.abs(w))) for w in W if w.size), default=0.0)
        nodes = self._nodes
        # The weakest first: the strong edges are drawn over them, as they matter most.
        lines = []
        for layer, w in enumerate(W):
            for i in range(w.shape[0]):
                for j in range(w.shape[1]):
                    lines.append((abs(float(w[i, j])), layer, i, j, float(w[i, j])))
        lines.sort(key=lambda e: e[0] if math.isfinite(e[0]) else math.inf)
        for _, layer, i, j, v in lines:
            if mx > 0 and math.isfinite(v):
                t = round(((v / mx) * 0.55 + math.copysign(0.45, v)) * TONES) / TONES
                width = 0.6 + 6.4 * math.sqrt(min(1.0, abs(v) / mx))
            else:
                t, width = math.nan, 0.6
            (x1, y1), (x2, y2) = nodes[layer][i], nodes[layer + 1][j]
            draw.line([(x1, y1), (x2, y2)], fill=tone(t), width=max(1, round(width)))
        r = 9 if max(self.film.sizes) <= 8 else 6 if max(self.film.sizes) <= 16 else 3
        bmx = max((float(np.nanmax(np.abs(v))) for v in b if v.size), default=0.0)
        names = ["X", *[f"h{k}" for k in range(1, len(self.film.sizes) - 1)], "O"]
        for layer, column in enumerate(nodes):
            x0 = column[0][0]
            draw.text((x0, self.net_box[1] - 2), names[layer], fill=MUTED, font=self.small,
                      anchor="ms")  # fmt: skip
            for j, (x, y) in enumerate(column):
                ring = INK
                if layer > 0 and bmx > 0:
                    bv = b[layer - 1][0 if b[layer - 1].size == 1 else j]
                    ring = tone(float(bv) / bmx) if math.isfinite(float(bv)) else MUTED
                draw.ellipse([x - r, y - r, x + r, y + r], fill=WHITE, outline=ring,
                             width=2 if r > 3 else 1)  # fmt: skip

    def _curve_points(self) -> list[tuple[float, float]]:
        """The curve's pixels (log E over steps), fixed for the whole film."""
        film = self.film
        x0, y0, x1, y1 = self.curve_box
        steps = film.curve_steps
        logs = [math.log10(e) if e > 0 and math.isfinite(e) else math.nan
                for e in film.curve_losses]  # fmt: skip
        finite = [v for v in logs if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        self._e_range = (lo, hi)
        s0, s1 = film.steps[0], max(film.steps[-1], film.steps[0] + 1)
        pts = []
        for s, v in zip(steps, logs, strict=True):
            x = x0 + (s - s0) / (s1 - s0) * (x1 - x0)
            y = y1 - ((v - lo) / (hi - lo)) * (y1 - y0) if math.isfinite(v) else math.nan
            pts.append((x, y))
        return pts

    def _curve_panel(self, draw: ImageDraw.ImageDraw, k: int) -> None:
        """Axes, the curve up to frame k's step, and a dot at it."""
        film = self.film
        x0, y0, x1, y1 = self.curve_box
        draw.text((x0 - 40, y0 - 26), "Error curve (log E)", fill=INK, font=self.font)
        draw.rectangle([x0, y0, x1, y1], outline=RULE)
        lo, hi = self._e_range
        for v, y in ((hi, y0), (lo, y1)):
            draw.text((x0 - 4, y), f"{10**v:.2g}", fill=MUTED, font=self.small, anchor="rm")
        draw.text((x0, y1 + 4), str(film.steps[0]), fill=MUTED, font=self.small, anchor="la")
        draw.text((x1, y1 + 4), str(film.steps[-1]), fill=MUTED, font=self.small, anchor="ra")
        step = film.steps[k]
        shown = [p for s, p in zip(film.curve_steps, self._curve, strict=True) if s <= step]
        pen: list[tuple[float, float]] = []
        for point in shown:
            if math.isfinite(point[1]):
                pen.append(point)
            elif pen:
                draw.line(pen, fill=POS, width=2)
                pen = []
        if len(pen) > 1:
            draw.line(pen, fill=POS, width=2)
        if shown and math.isfinite(shown[-1][1]):
            cx, cy = shown[-1]
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=NEG, outline=WHITE)

    def _plane_backdrop(self) -> Image.Image | None:
        """The trajectory plane's E as a heat map the size of its box (log scale when wide)."""
        plane, box = self.film.plane, self.plane_box
        if plane is None or box is None:
            return None
        E = np.asarray(plane["E"], dtype=float)
        finite = E[np.isfinite(E)]
        if finite.size == 0:
            return Image.new("RGB", (box[2] - box[0], box[3] - box[1]), (160, 160, 160))
        lo, hi = float(finite.min()), float(finite.max())
        use_log = lo > 0 and hi / lo > 10
        scaled = np.log10(np.where(np.isfinite(E), E, hi)) if use_log else E
        slo, shi = (math.log10(lo), math.log10(hi)) if use_log else (lo, hi)
        u = (np.nan_to_num(scaled, nan=shi) - slo) / (shi - slo or 1.0)
        rows = [[heat(float(v)) for v in row] for row in u[::-1]]  # rows: beta high at the top
        small = Image.new("RGB", (E.shape[1], E.shape[0]))
        small.putdata([c for row in rows for c in row])
        return small.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.BILINEAR)

    def _plane_panel(self, image: Image.Image, draw: ImageDraw.ImageDraw, k: int) -> None:
        """The heat map, the path so far and the point now, with the plane's variance share."""
        plane, box, backdrop = self.film.plane, self.plane_box, self._backdrop
        if plane is None or box is None or backdrop is None:
            return
        x0, y0, x1, y1 = box
        image.paste(backdrop, (x0, y0))
        draw.rectangle([x0, y0, x1, y1], outline=RULE)
        share = 100 * plane["explained"]
        draw.text((x0 - 40, y0 - 24), f"Landscape: the run's plane ({share:.1f}% of its variance)",
                  fill=INK, font=self.font)  # fmt: skip
        av, bv = plane["a_values"], plane["b_values"]

        def place(a: float, b: float) -> tuple[float, float]:
            return (x0 + (a - av[0]) / (av[-1] - av[0]) * (x1 - x0),
                    y1 - (b - bv[0]) / (bv[-1] - bv[0]) * (y1 - y0))  # fmt: skip

        pts = [place(float(a), float(b)) for a, b in zip(plane["a"][: k + 1], plane["b"][: k + 1],
                                                         strict=True)]  # fmt: skip
        if len(pts) > 1:
            draw.line(pts, fill=WHITE, width=2)
        x, y = pts[-1]
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=NEG, outline=WHITE, width=2)
        draw.text((x0, y1 + 3), "across: PC1, up: PC2; dark = low E", fill=MUTED,
                  font=self.small, anchor="la")  # fmt: skip


def _node_places(sizes: list[int], box: tuple[int, int, int, int]) -> list[list[tuple[int, int]]]:
    """Neuron centres, layer by layer, left to right, each layer centred vertically."""
    x0, y0, x1, y1 = box
    y0 += 10
    columns = []
    for layer, n in enumerate(sizes):
        x = x0 + 20 + (x1 - x0 - 40) * layer / max(len(sizes) - 1, 1)
        gap = min(48.0, (y1 - y0) / max(n, 1))
        top = (y0 + y1) / 2 - gap * (n - 1) / 2
        columns.append([(round(x), round(top + gap * j)) for j in range(n)])
    return columns
