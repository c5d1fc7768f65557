// The diagram's geometry, pure: where each drawn neuron sits, where the selected edge's name
// fits, and how large a node's value can be written.

export const MAX_DRAWN = 16; // neurons drawn per layer; the rest are summarised as "+N more"

/**
 * Positions of the drawn neurons: [{l, k, x, y}] per layer, the node radius, and how many
 * neurons each layer hides. Pure: (sizes, width, height) -> layout.
 */
export function networkLayout(sizes, width, height, pad = { left: 96, right: 96, top: 44, bottom: 40 }) {
  const L = sizes.length;
  const drawn = sizes.map((n) => Math.min(n, MAX_DRAWN));
  const maxN = Math.max(...drawn);
  const innerH = height - pad.top - pad.bottom;
  const innerW = width - pad.left - pad.right;
  const spacing = maxN > 1 ? innerH / (maxN - 1) : innerH;
  const colGap = L > 1 ? innerW / (L - 1) : innerW;
  const r = Math.max(5, Math.min(22, spacing * 0.36, colGap * 0.18));
  const layers = drawn.map((n, l) => {
    const x = pad.left + (L > 1 ? colGap * l : innerW / 2);
    const gap = Math.min(spacing, maxN > 1 ? innerH / Math.max(1, n - 1) : innerH, r * 4.2);
    const top = pad.top + innerH / 2 - (gap * (n - 1)) / 2;
    return Array.from({ length: n }, (_, k) => ({ l, k, x, y: n === 1 ? pad.top + innerH / 2 : top + gap * k }));
  });
  return { layers, r, hidden: sizes.map((n, l) => n - drawn[l]) };
}

/**
 * Where the selected edge's name goes (the centre of its box): along the edge, above or below
 * it, clear of every node (its ring included) and inside the diagram; the first such place
 * from the middle out (pure). None clear: the place that overlaps nodes least.
 */
export function edgeLabelAt(a, b, textW, layout, width, height, avoid = [], textH = 15) {
  const pad = layout.r + 6;
  const boxes = layout.layers.flat().map((p) => ({ x: p.x - pad, y: p.y - pad, w: 2 * pad, h: 2 * pad })).concat(avoid);
  const overlap = (cx, cy) => {
    let sum = 0;
    for (const o of boxes) {
      const dx = Math.max(0, Math.min(cx + textW / 2, o.x + o.w) - Math.max(cx - textW / 2, o.x));
      const dy = Math.max(0, Math.min(cy + textH / 2, o.y + o.h) - Math.max(cy - textH / 2, o.y));
      sum += dx * dy;
    }
    return sum;
  };
  const top = textH / 2 + 28; // under the layer captions
  const bottom = height - textH / 2 - 38; // over the matrix names and "+N more"
  const clampX = (x) => Math.max(textW / 2 + 2, Math.min(width - textW / 2 - 2, x));
  const clampY = (y) => Math.max(top, Math.min(bottom, y));
  let best = null;
  for (const t of [0.6, 0.5, 0.4, 0.7, 0.3, 0.75, 0.25]) {
    for (const off of [-11, 11, -20, 20, 0]) {
      const cx = clampX(a.x + (b.x - a.x) * t);
      const cy = clampY(a.y + (b.y - a.y) * t + off);
      const o = overlap(cx, cy);
      if (o === 0) return { x: cx, y: cy };
      if (!best || o < best.o) best = { x: cx, y: cy, o };
    }
  }
  // A crowded diagram (many narrow columns): the clear place nearest the edge's middle, in the
  // bands between rows of nodes.
  const mx = a.x + (b.x - a.x) * 0.5;
  const my = a.y + (b.y - a.y) * 0.5;
  for (let d = 0; d <= height; d += 3) {
    for (const cy of [my - d, my + d]) {
      if (cy < top || cy > bottom) continue;
      for (const dx of [0, -30, 30, -60, 60, -120, 120]) {
        const cx = clampX(mx + dx);
        if (overlap(cx, cy) === 0) return { x: cx, y: cy };
      }
    }
  }
  return { x: best.x, y: best.y };
}

/** The font size (px) at which a node's value fits inside its circle, or 0: not shown. */
export function nodeFontSize(chars, r, size = 10) {
  const fit = (2 * r - 5) / (0.62 * Math.max(1, chars)); // monospace: about 0.6 em a character
  const px = Math.min(size, Math.floor(fit * 2) / 2);
  return px >= 7 ? px : 0;
}
