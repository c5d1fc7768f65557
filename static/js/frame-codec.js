// The packed frame encoding (app/codec.py, docs/streaming.md): sockets ask for it with
// `?frames=packed`; every array arrives as {f32: base64 of little-endian float32, shape} and is
// turned back into nested arrays here, so the views see the same frames as over REST.

/** The packed query parameter, added to a socket path. */
export function packedPath(path) {
  return `${path}${path.includes('?') ? '&' : '?'}frames=packed`;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One packed array as nested arrays of numbers; anything else unchanged. */
export function unpackArray(v) {
  if (!v || typeof v !== 'object' || typeof v.f32 !== 'string') return v;
  const bin = atob(v.f32);
  const bytes = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
  const n = bytes.length >> 2;
  let flat;
  if (LITTLE_ENDIAN) flat = Array.from(new Float32Array(bytes.buffer, 0, n)); // one typed read, not n
  else {
    const view = new DataView(bytes.buffer);
    flat = new Array(n);
    for (let k = 0; k < n; k++) flat[k] = view.getFloat32(4 * k, true);
  }
  const shape = v.shape || [n];
  if (shape.length === 1) return flat;
  if (shape.length === 0) return flat[0];
  const cols = shape[shape.length - 1];
  const rows = [];
  for (let r = 0; r < n; r += cols) rows.push(flat.slice(r, r + cols));
  // Deeper than two dimensions does not occur (weights are matrices); fold the rest anyway.
  let out = rows;
  for (let d = shape.length - 2; d > 0; d--) {
    const size = shape[d];
    const next = [];
    for (let r = 0; r < out.length; r += size) next.push(out.slice(r, r + size));
    out = next;
  }
  return out;
}

/** A frame with its packed arrays unpacked (other messages pass through). */
export function unpackFrame(msg) {
  if (!msg || !msg.packed) return msg;
  const list = (a) => (Array.isArray(a) ? a.map(unpackArray) : a);
  msg.weights = list(msg.weights);
  msg.biases = list(msg.biases);
  if (msg.gradients) msg.gradients = { ...msg.gradients, weights: list(msg.gradients.weights), biases: list(msg.gradients.biases) };
  delete msg.packed;
  return msg;
}
