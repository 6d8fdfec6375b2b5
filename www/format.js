// Numbers for people: sizes, speeds and durations.

/** `bytes` as "5.1 GB" (decimal units, like download sizes on the Hub). */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '?';
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} bytes`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** A speed in bytes per second as "31.2 MB/s". */
export function formatSpeed(bytesPerSecond) {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration in seconds as "about 3 min" / "about 12 s" / "about 1 h 5 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 1) return 'less than a second';
  if (seconds < 60) return `about ${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Tokens per second with one decimal. */
export function formatRate(tokensPerSecond) {
  return Number.isFinite(tokensPerSecond) ? tokensPerSecond.toFixed(1) : '?';
}
