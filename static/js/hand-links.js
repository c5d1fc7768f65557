// Edits and drawn points in a link's `changes` (docs/api.md, "Editing weights and drawing
// points"): `w=layer_i_j_value`, `b=layer_j_value`, `add=x1_x2_k~x1_x2_k`, `undo`, `clear`.
// Numbers as JavaScript writes them: the shortest text that reads back to the same double.

/** An edit or points change of a frame's settings_log as its link text, or null if neither. */
export function handToString(change) {
  const e = change.edit;
  if (e) return e.kind === 'bias' ? `b=${[e.layer, e.j, e.value].join('_')}` : `w=${[e.layer, e.i, e.j, e.value].join('_')}`;
  const p = change.points;
  if (!p) return null;
  if (p.op !== 'add') return p.op;
  return `add=${p.x.map(([a, b], k) => `${a}_${b}_${p.y[k]}`).join('~')}`;
}

const INT = /^\d+$/;
const NUM = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A link entry's text (after `step:`) as {edit} or {points}; null if it is a settings change;
 * {error} if it looks like one of these but cannot be read. */
export function handFromString(text) {
  if (text === 'undo' || text === 'clear') return { points: { op: text } };
  const eq = text.indexOf('=');
  const key = eq > 0 ? text.slice(0, eq) : '';
  if (!['w', 'b', 'add'].includes(key)) return null;
  const bad = { error: `"${text.slice(0, 40)}" is not an edit or points change` };
  const raw = text.slice(eq + 1);
  if (key === 'add') {
    const rows = raw.split('~').map((r) => r.split('_'));
    if (!rows.length || rows.some((r) => r.length !== 3 || !NUM.test(r[0]) || !NUM.test(r[1]) || !INT.test(r[2]))) return bad;
    return { points: { op: 'add', x: rows.map((r) => [Number(r[0]), Number(r[1])]), y: rows.map((r) => Number(r[2])) } };
  }
  const parts = raw.split('_');
  const ints = parts.slice(0, -1);
  const value = parts[parts.length - 1];
  if (parts.length !== (key === 'w' ? 4 : 3) || !ints.every((s) => INT.test(s)) || !NUM.test(value)) return bad;
  const [layer, a, b] = ints.map(Number);
  const edit = key === 'w' ? { kind: 'weight', layer, i: a, j: b, value: Number(value) } : { kind: 'bias', layer, j: a, value: Number(value) };
  return { edit };
}
