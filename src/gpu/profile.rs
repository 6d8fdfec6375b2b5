//! Where a step's time goes, kernel by kernel (`lfm bench --profile`). While profiling is on
//! (natively, on this thread), every dispatch is submitted alone and waited for, and its wall
//! time is added to its pipeline's total: slower than normal running (no overlap, one
//! submission per kernel), but it shows which kernels hold a token's time. Off by default;
//! the browser build never profiles.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::GpuContext;

/// The time of one pipeline (`matvec_q4_0`, `rms_norm`, ...) while profiling was on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    /// Dispatches recorded.
    pub calls: u64,
    /// Wall seconds from submission to completion, summed.
    pub seconds: f64,
    /// GPU seconds between the pass's start and end timestamps, summed, where the adapter
    /// has timestamp queries (`gpu_calls` of the calls): the kernel without the submission
    /// and the wait around it.
    pub gpu_seconds: f64,
    pub gpu_calls: u64,
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
pub(crate) fn record(label: &str, seconds: f64, gpu_seconds: Option<f64>) {
    TIMES.with(|t| {
        if let Some(map) = t.borrow_mut().as_mut() {
            let e = map.entry(label.to_string()).or_default();
            e.calls += 1;
            e.seconds += seconds;
            if let Some(g) = gpu_seconds {
                e.gpu_seconds += g;
                e.gpu_calls += 1;
            }
        }
    });
}

/// Start and end timestamps of one compute pass, resolved into a buffer the host reads.
#[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser build never profiles"))]
pub(crate) struct PassTimer {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    period_ns: f64,
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser build never profiles"))]
impl PassTimer {
    /// `None` where the adapter has no timestamp queries.
    pub fn new(ctx: &GpuContext) -> Option<PassTimer> {
        if !ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(PassTimer { set, resolved, period_ns: ctx.queue.get_timestamp_period() as f64 })
    }

    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Records the copy of the two timestamps into the readable buffer (after the pass).
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..2, &self.resolved, 0);
    }

    /// The pass's GPU time, once the submission holding [`PassTimer::resolve`] has completed.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seconds(&self, ctx: &GpuContext) -> Option<f64> {
        let bytes = pollster::block_on(ctx.read_bytes(&self.resolved, 16)).ok()?;
        let [start, end]: [u64; 2] = bytemuck::pod_read_unaligned(&bytes);
        (end >= start).then(|| (end - start) as f64 * self.period_ns * 1e-9)
    }
}
