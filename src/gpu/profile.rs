//! Where a step's time goes, kernel by kernel (`lfm bench --profile`). While profiling is on
//! (natively, on this thread), every dispatch is submitted alone and waited for, and its wall
//! time is added to its pipeline's total: slower than normal running (no overlap, one
//! submission per kernel), but it shows which kernels hold a token's time. Off by default;
//! the browser build never profiles.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// The time of one pipeline (`matvec_q4_0`, `rms_norm`, ...) while profiling was on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    /// Dispatches recorded.
    pub calls: u64,
    /// Wall seconds from submission to completion, summed.
    pub seconds: f64,
}

thread_local! {
    static TIMES: RefCell<Option<BTreeMap<String, KernelTime>>> = const { RefCell::new(None) };
}

/// Starts profiling on this thread (clearing what an earlier start collected).
pub fn start() {
    TIMES.with(|t| *t.borrow_mut() = Some(BTreeMap::new()));
}

/// Stops profiling and returns each pipeline's total, the slowest first.
pub fn stop() -> Vec<(String, KernelTime)> {
    let times = TIMES.with(|t| t.borrow_mut().take()).unwrap_or_default();
    let mut v: Vec<_> = times.into_iter().collect();
    v.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    v
}

pub(crate) fn enabled() -> bool {
    cfg!(not(target_arch = "wasm32")) && TIMES.with(|t| t.borrow().is_some())
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser build never profiles"))]
pub(crate) fn record(label: &str, seconds: f64) {
    TIMES.with(|t| {
        if let Some(map) = t.borrow_mut().as_mut() {
            let e = map.entry(label.to_string()).or_default();
            e.calls += 1;
            e.seconds += seconds;
        }
    });
}
