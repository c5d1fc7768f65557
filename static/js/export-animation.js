// Take the run away: GET .../animation.gif (docs/api.md), rendered on the server, with
// a progress indicator while it renders and a link to save it. Loaded on the first click.

/** Ask for the GIF of `base`'s run (headers: the presenter's token in a room) and offer it. */
export async function exportAnimation({ base, headers = {}, withLandscape, el, frame }) {
  const { button, progress, status, link } = el;
  const q = new URLSearchParams({ landscape: withLandscape ? 'trajectory' : 'none' });
  button.disabled = true;
  progress.hidden = false;
  link.hidden = true;
  const frames = Math.min(100, (frame?.step ?? 0) + 1);
  status.textContent = `Rendering ${frames} frames of steps 0 to ${frame?.step ?? 0}…`;
  try {
    const res = await fetch(`${base}/animation.gif?${q}`, { headers });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      throw new Error(typeof body?.detail === 'string' ? body.detail : `the server answered ${res.status}`);
    }
    const blob = await res.blob();
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '')?.[1] || 'backprop-studio.gif';
    link.download = name;
    link.textContent = `Save ${name} (${Math.max(1, Math.round(blob.size / 1024))} KB)`;
    link.hidden = false;
    status.textContent = 'Ready: a 10-second loop of the run.';
    link.click(); // the download starts; the link stays for another copy
  } catch (err) {
    status.textContent = `Could not render the animation: ${err.message}`;
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
}
