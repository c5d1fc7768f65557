// The phase stepper's slow motion: a timer calls next() every 2, 1 or ½ s, and the Slow button.

export const SPEEDS = { slow: 2000, normal: 1000, fast: 500 };

/** {startPlay, stopPlay, updatePlay} over the stepper's parts P (S.playing, S.timer, el, next). */
export function createSlowMotion(P) {
  const { S, el } = P;
  function speedMs() {
    return SPEEDS[el.speed?.value] || SPEEDS.normal;
  }

  function tick() {
    if (!S.playing) return;
    P.next().finally(() => {
      if (S.playing) S.timer = setTimeout(tick, speedMs());
    });
  }

  function startPlay() {
    if (S.playing) return;
    S.playing = true;
    updatePlay();
    tick();
  }

  function stopPlay() {
    S.playing = false;
    clearTimeout(S.timer);
    S.timer = null;
    updatePlay();
  }

  function updatePlay() {
    if (!el.play) return;
    el.play.setAttribute('aria-pressed', String(S.playing));
    el.play.textContent = S.playing ? '❚❚ Slow' : '▶ Slow';
    el.play.title = S.playing ? 'Pause the slow-motion step' : 'Play the phases in slow motion, one every second or so';
  }

  return { startPlay, stopPlay, updatePlay };
}
