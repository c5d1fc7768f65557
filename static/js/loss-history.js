// The error curve's data: training and test loss per step, old history compacted into min/max
// buckets so the plotted arrays stay small (< ~2k points) however long the run. No DOM.

/**
 * One series with bounded memory: recent points raw, older ones as min/max pairs per bucket.
 * Pure data structure (no DOM).
 */
export class CompactSeries {
  constructor(recent = 500, maxBuckets = 400) {
    this.R = recent;
    this.maxB = maxBuckets;
    this.clear();
  }

  clear() {
    this.bx = []; // bucket points (x), two per bucket: min then max in x order
    this.by = [];
    this.bsize = 2; // raw points per bucket
    this.part = null; // partially filled bucket
    this.rx = [];
    this.ry = [];
  }

  get lastX() {
    return this.rx.length ? this.rx[this.rx.length - 1] : this.part ? this.part.lastX : this.bx.length ? this.bx[this.bx.length - 1] : -1;
  }

  push(x, y) {
    this.rx.push(x);
    this.ry.push(y);
    if (this.rx.length > 2 * this.R) this.compact();
  }

  /** Drop raw points with x >= from (a frame that overlaps what we have). */
  truncateFrom(from) {
    let n = this.rx.length;
    while (n > 0 && this.rx[n - 1] >= from) n--;
    this.rx.length = n;
    this.ry.length = n;
    // A new branch from far back (time travel) cuts into the compacted part too.
    if (n === 0) {
      if (this.part && this.part.lastX >= from) this.part = null;
      let b = this.bx.length;
      while (b > 0 && this.bx[b - 1] >= from) b--;
      this.bx.length = b;
      this.by.length = b;
    }
  }

  compact() {
    const n = this.rx.length - this.R;
    for (let k = 0; k < n; k++) this.addToBucket(this.rx[k], this.ry[k]);
    this.rx = this.rx.slice(n);
    this.ry = this.ry.slice(n);
    while (this.bx.length / 2 > this.maxB) this.mergeBuckets();
  }

  addToBucket(x, y) {
    if (!this.part) this.part = { n: 0, minX: x, minY: Infinity, maxX: x, maxY: -Infinity, lastX: x };
    const p = this.part;
    p.n += 1;
    p.lastX = x;
    if (y !== null && Number.isFinite(y)) {
      if (y < p.minY) {
        p.minY = y;
        p.minX = x;
      }
      if (y > p.maxY) {
        p.maxY = y;
        p.maxX = x;
      }
    }
    if (p.n >= this.bsize) {
      this.flushPart();
    }
  }

  flushPart() {
    const p = this.part;
    this.part = null;
    if (!p || p.minY === Infinity) return;
    const first = p.minX <= p.maxX ? [p.minX, p.minY] : [p.maxX, p.maxY];
    const second = p.minX <= p.maxX ? [p.maxX, p.maxY] : [p.minX, p.minY];
    this.bx.push(first[0], second[0]);
    this.by.push(first[1], second[1]);
  }

  mergeBuckets() {
    // Pairs of buckets (4 points) -> one bucket (its min and max).
    const bx = [];
    const by = [];
    for (let k = 0; k < this.bx.length; k += 4) {
      const xs = this.bx.slice(k, k + 4);
      const ys = this.by.slice(k, k + 4);
      let lo = 0;
      let hi = 0;
      for (let q = 1; q < ys.length; q++) {
        if (ys[q] < ys[lo]) lo = q;
        if (ys[q] > ys[hi]) hi = q;
      }
      const a = Math.min(lo, hi);
      const b = Math.max(lo, hi);
      bx.push(xs[a], xs[b]);
      by.push(ys[a], ys[b]);
    }
    this.bx = bx;
    this.by = by;
    this.bsize *= 2;
  }

  /** The points to plot: {x, y}. */
  points() {
    const x = this.bx.slice();
    const y = this.by.slice();
    const p = this.part;
    if (p && p.minY !== Infinity) {
      if (p.minX <= p.maxX) x.push(p.minX, p.maxX), y.push(p.minY, p.maxY);
      else x.push(p.maxX, p.minX), y.push(p.maxY, p.minY);
    }
    return { x: x.concat(this.rx), y: y.concat(this.ry) };
  }

  get size() {
    return this.bx.length + this.rx.length;
  }
}

/** Training and test loss histories fed by frames (first_step, losses, test_losses). */
export class LossHistory {
  constructor() {
    this.train = new CompactSeries();
    this.test = new CompactSeries();
    this.hasTest = false;
    this.version = 0;
  }

  clear() {
    this.train.clear();
    this.test.clear();
    this.hasTest = false;
    this.version += 1;
  }

  /** Append a frame's losses; a frame with first_step 0 replaces the history. */
  addFrame(frame) {
    const losses = frame.losses || [];
    let first = frame.first_step;
    if (first === undefined || first === null) first = frame.step - losses.length + 1;
    if (first === 0) this.clear();
    else if (first <= this.train.lastX) {
      this.train.truncateFrom(first);
      this.test.truncateFrom(first);
    }
    const tl = frame.test_losses;
    if (Array.isArray(tl)) this.hasTest = true;
    for (let k = 0; k < losses.length; k++) {
      this.train.push(first + k, losses[k]);
      if (Array.isArray(tl)) this.test.push(first + k, tl[k] ?? null);
    }
    if (losses.length) this.version += 1;
  }
}
