// Load progress as people read it: which step, how far, how fast, how long still.
// createEngine's onProgress gives `{ phase, loadedBytes, totalBytes }` with phases
// download -> header -> weights -> done; speed is a moving average over the phase.

import { formatBytes, formatDuration, formatSpeed } from './format.js';

/** Samples closer together than this are merged: speed from tiny intervals is noise. */
const MIN_SAMPLE_MS = 200;
/** Weight of the newest sample in the moving average. */
const SMOOTHING = 0.3;

const PHASE_LABELS = {
  download: 'Downloading',
  header: 'Reading the model header',
  weights: 'Loading the weights onto the GPU',
  done: 'Ready',
};

export class ProgressMeter {
  #phase = null;
  #last = null; // { t, bytes } of the last sample used for the speed
  #speed = null; // bytes per second (moving average)

  /** `now()` gives milliseconds (injectable for tests). */
  constructor(now = () => performance.now()) {
    this.now = now;
  }

  /**
   * Takes one progress event; returns what to show:
   * `{ phase, label, fraction (0..1 or null), detail, speed (bytes/s or null), etaSeconds }`.
   */
  update({ phase, loadedBytes = 0, totalBytes = null }) {
    const t = this.now();
    if (phase !== this.#phase) {
      this.#phase = phase;
      this.#last = { t, bytes: loadedBytes };
      this.#speed = null;
    } else if (t - this.#last.t >= MIN_SAMPLE_MS) {
      const instant = ((loadedBytes - this.#last.bytes) * 1000) / (t - this.#last.t);
      this.#speed = this.#speed === null ? instant : SMOOTHING * instant + (1 - SMOOTHING) * this.#speed;
      this.#last = { t, bytes: loadedBytes };
    }
    const fraction = totalBytes ? Math.min(1, loadedBytes / totalBytes) : null;
    const speed = this.#speed;
    const etaSeconds = speed > 0 && totalBytes ? (totalBytes - loadedBytes) / speed : null;
    const parts = [];
    if (phase === 'download' || phase === 'weights') {
      parts.push(totalBytes ? `${formatBytes(loadedBytes)} of ${formatBytes(totalBytes)} (${Math.floor(100 * fraction)} %)` : formatBytes(loadedBytes));
      if (speed !== null) parts.push(formatSpeed(speed));
      if (etaSeconds !== null && fraction < 1) parts.push(`${formatDuration(etaSeconds)} left`);
    }
    return { phase, label: PHASE_LABELS[phase] ?? phase, fraction, detail: parts.join(' · '), speed, etaSeconds };
  }
}
