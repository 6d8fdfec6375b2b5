// TEST-ONLY hooks, active only when the page is opened with `?test-hooks` in its URL.
//
// The browser tests run a tiny random model that cannot write a tool call or a chosen string,
// so they queue "forced output" (text an answer starts with, as if the model had written it;
// the package's `forced_output` request field) and read what the page saw:
//
//   window.__lfmTest.forcedOutputs.push("<|tool_call_start|>[calculator(expression='2*(3+4)')]<|tool_call_end|><|im_end|>", null)
//   window.__lfmTest.progress          // the load progress events, with what the page showed
//   window.__lfmTest.engine            // the loaded engine
//   window.__lfmTest.cspViolations     // Content-Security-Policy violations seen
//
// Without the flag nothing here exists and no request carries forced output.

export function installTestHooks() {
  if (!new URLSearchParams(location.search).has('test-hooks')) return null;
  const hooks = { forcedOutputs: [], progress: [], engine: null, cspViolations: [] };
  window.__lfmTest = hooks;
  document.addEventListener('securitypolicyviolation', (e) => {
    hooks.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`);
  });
  return {
    /** The forced start of the next answer (null: the model writes it all). */
    nextForcedOutput: () => (hooks.forcedOutputs.length ? hooks.forcedOutputs.shift() : null),
    progress: (event, view) => hooks.progress.push({ ...event, label: view.label, detail: view.detail }),
    loaded: (engine) => {
      hooks.engine = engine;
    },
  };
}
