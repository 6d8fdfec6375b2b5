// Failures in plain language. The package's errors are LfmErrors with a `code` (see
// pkg/README.md); the message says what happened and what to do about it.

const ADVICE = {
  http: (e) => `The model address answered with an error (HTTP ${e.status ?? '?'}). ${e.status === 404 ? 'Check the URL: the file is not there.' : e.status === 401 || e.status === 403 ? 'The file is private or gated: it needs a login this page cannot give.' : 'Try again later.'}`,
  network: () => 'The download failed or broke off. Check the connection and load again: a download that was interrupted resumes where it stopped.',
  bad_model: () => 'This file is not a usable GGUF model (not GGUF, truncated or inconsistent). Choose another file.',
  unsupported: () => 'This model is not supported: only LFM2 and LFM2.5 GGUF files (arch lfm2 / lfm2moe) with the usual quantizations run here.',
  no_webgpu: () => 'This browser does not offer WebGPU, which the model needs.',
  gpu: () => 'The GPU reported an error while loading or running the model. A smaller model may work; updating the browser or the GPU driver can help.',
  out_of_memory: () => 'The GPU does not have enough memory for this model. Close other tabs or programs that use the GPU, or choose a smaller model.',
  device_lost: () => 'The GPU was reset (driver restart, or the GPU process crashed). Load the model again.',
  context_overflow: () => "This conversation no longer fits in the model's context. Start a new chat, or load the model again with a larger context (Model > Advanced).",
  invalid_request: () => 'The request was not valid.',
  busy: () => 'The model file is in use by another tab of this page. Close the other tab and load again.',
  aborted: () => 'Loading was cancelled.',
  quota_exceeded: () => "The browser will not give this site enough storage for the download. Free some disk space, or untick 'Keep a copy in this browser' (Model > Advanced) to load without caching.",
  cache_corrupt: () => 'The downloaded copy was damaged and has been deleted. Load again to download it afresh.',
  integrity: () => 'The download does not match its expected checksum and has been deleted. Try again.',
  unloaded: () => 'The model was unloaded. Load a model to continue.',
  worker: () => "The model's background worker could not start. Reload the page.",
};

/** A message for people: the advice for the error's code, then the technical detail. */
export function describeError(error) {
  const code = error?.code;
  const advice = ADVICE[code]?.(error);
  const detail = String(error?.message ?? error ?? 'unknown error');
  return advice ? `${advice} (${detail})` : detail;
}
