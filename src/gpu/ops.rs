//! The encoding model: kernels record dispatches into an [`Ops`], which wraps one command
//! encoder (one per forward step) and submits it once. Kernels never submit or read back.

use std::cell::Cell;

use super::bindings::{Arena, BindKey};
use super::context::{GpuContext, GpuError};
use super::matrix::WeightStore;
use super::profile::PassTimer;
use super::shader::{ShaderSpec, X_UNIFORM_BYTES};

/// What every [`Ops`] on this thread has recorded and submitted so far: the deterministic cost
/// measures of a forward step (`lfm bench`, `tests/perf_counts.rs`), counted rather than timed.
/// Per thread, so tests running side by side do not mix their counts (natively a step runs on
/// the thread that blocks on it; the browser has one thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpsCounts {
    /// Kernel launches (`dispatch_workgroups` calls).
    pub dispatches: u64,
    /// Workgroups launched, summed over the dispatches.
    pub workgroups: u64,
    /// Buffer-to-buffer copies recorded.
    pub copies: u64,
    /// Command buffers submitted.
    pub submits: u64,
    /// GPU objects made while recording (bind groups, params buffers): none once a step
    /// over the same buffers has run before (`bindings.rs` caches them).
    pub made: u64,
    /// Host time spent recording and submitting (from `Ops::new` to its final submit), in
    /// nanoseconds: the CPU's share of a step, which the GPU waits for where it exceeds the
    /// GPU's own time (timed, unlike the counts above).
    pub record_ns: u64,
}

thread_local! {
    static COUNTS: Cell<OpsCounts> = const {
        Cell::new(OpsCounts { dispatches: 0, workgroups: 0, copies: 0, submits: 0, made: 0, record_ns: 0 })
    };
}

impl OpsCounts {
    /// The running totals of this thread.
    pub fn now() -> OpsCounts {
        COUNTS.with(Cell::get)
    }

    /// What was recorded between `earlier` (an earlier [`OpsCounts::now`]) and now.
    pub fn since(earlier: OpsCounts) -> OpsCounts {
        let now = Self::now();
        OpsCounts {
            dispatches: now.dispatches - earlier.dispatches,
            workgroups: now.workgroups - earlier.workgroups,
            copies: now.copies - earlier.copies,
            submits: now.submits - earlier.submits,
            made: now.made - earlier.made,
            record_ns: now.record_ns - earlier.record_ns,
        }
    }

    pub(crate) fn add(f: impl FnOnce(&mut OpsCounts)) {
        COUNTS.with(|c| {
            let mut v = c.get();
            f(&mut v);
            c.set(v);
        });
    }
}

/// One kernel launch, as a host function describes it.
pub(crate) struct Dispatch<'a> {
    pub spec: ShaderSpec,
    /// Override constants (`wg_size`, ...): part of the pipeline key.
    pub constants: &'a [(&'static str, f64)],
    /// The kernel's `Params` struct, bound as the uniform at binding 0.
    pub params: &'a [u8],
    /// A weight kernel's matrix part, bound at binding 1 (a buffer, then also at binding 8
    /// as the dot helpers' `w4` where [`ShaderSpec::wide_weights`]; or a texture, for the
    /// spec's [`ShaderSpec::weight_texture`] variant).
    pub weights: Option<&'a WeightStore>,
    /// Storage buffers, bound whole in order at bindings 1, 2, ... (2, 3, ... after
    /// `weights`); binding 2 as the first [`X_UNIFORM_BYTES`] of a uniform buffer in a
    /// [`ShaderSpec::uniform_x`] variant.
    pub storage: &'a [&'a wgpu::Buffer],
    /// The norm weight and the normed vector's buffer of a [`ShaderSpec::normed_x`] variant,
    /// bound at bindings 9 and 10.
    pub x_norm: Option<(&'a wgpu::Buffer, &'a wgpu::Buffer)>,
    pub workgroups: [u32; 3],
}

/// Records the dispatches of one step into a single command encoder.
///
/// All dispatches go into one compute pass, opened lazily; WebGPU orders the dispatches of a
/// pass and makes each one's storage writes visible to the next, so no explicit barriers are
/// needed. Buffer copies end the pass (copies cannot be recorded inside one). Params and bind
/// groups come from an [`Arena`] of the context's pool (see `bindings.rs`).
pub struct Ops<'c> {
    ctx: &'c GpuContext,
    // The pass must end (drop) before the encoder finishes; `forget_lifetime` lets both live
    // in this struct, with `pass` always dropped first.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    arena: Arena,
    dispatches: usize,
    /// Timestamps of the profiled pass (only while profiling).
    timer: Option<PassTimer>,
    started: web_time::Instant,
}

impl<'c> Ops<'c> {
    pub fn new(ctx: &'c GpuContext) -> Ops<'c> {
        Ops {
            ctx,
            pass: None,
            encoder: Some(new_encoder(ctx)),
            arena: ctx.bindings.take(),
            dispatches: 0,
            timer: None,
            started: web_time::Instant::now(),
        }
    }

    pub fn ctx(&self) -> &'c GpuContext {
        self.ctx
    }

    /// Dispatches recorded so far.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches
    }

    /// The encoder, a fresh one after a profiled submission took the last.
    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| new_encoder(self.ctx))
    }

    /// Records one kernel launch: its params into the next uniform slot, its bind group from
    /// the cache (made on a miss: the first step over these buffers).
    pub(crate) fn dispatch(&mut self, mut d: Dispatch<'_>) -> Result<(), GpuError> {
        // The weights' store picks the shader's variant (kernels name the format only).
        d.spec = d.spec.with_weight_texture(matches!(d.weights, Some(WeightStore::Texture(_))));
        let pipeline = self.ctx.pipeline(&d.spec, d.constants)?;
        let device = &self.ctx.device;
        let (slot, uniform, offset) = self.arena.stage(device, d.params);
        let key = BindKey {
            pipeline: pipeline.clone(),
            slot,
            params_len: d.params.len() as u32,
            storage: d.storage.iter().map(|b| (*b).clone()).collect(),
            weights: d.weights.cloned(),
            x_norm: d.x_norm.map(|(w, out)| (w.clone(), out.clone())),
        };
        let bind_group = self.arena.bind_group(key, || {
            let size = std::num::NonZeroU64::new(d.params.len().next_multiple_of(16).max(16) as u64);
            let params = wgpu::BufferBinding { buffer: &uniform, offset, size };
            let mut entries =
                vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(params) }];
            match d.weights {
                Some(WeightStore::Buffer(buffer)) => {
                    entries.push(wgpu::BindGroupEntry { binding: 1, resource: buffer.as_entire_binding() });
                    if d.spec.wide_weights() {
                        entries.push(wgpu::BindGroupEntry { binding: 8, resource: buffer.as_entire_binding() });
                    }
                }
                Some(WeightStore::Texture(view)) => {
                    entries
                        .push(wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(view) });
                }
                None => {}
            }
            let first = if d.weights.is_some() { 2 } else { 1 };
            for (i, buffer) in d.storage.iter().enumerate() {
                let binding = i as u32 + first;
                let resource = match binding {
                    // The vectors' uniform window (common/x_uniform.wgsl).
                    2 if d.spec.uniform_x => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: std::num::NonZeroU64::new(X_UNIFORM_BYTES),
                    }),
                    _ => buffer.as_entire_binding(),
                };
                entries.push(wgpu::BindGroupEntry { binding, resource });
            }
            if let Some((weight, out)) = d.x_norm {
                entries.push(wgpu::BindGroupEntry { binding: 9, resource: weight.as_entire_binding() });
                entries.push(wgpu::BindGroupEntry { binding: 10, resource: out.as_entire_binding() });
            }
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        });
        if self.pass.is_none() {
            self.open_pass();
        }
        let Some(pass) = self.pass.as_mut() else { unreachable!("the pass was just opened") };
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let [x, y, z] = d.workgroups;
        pass.dispatch_workgroups(x, y, z);
        self.dispatches += 1;
        OpsCounts::add(|c| {
            c.dispatches += 1;
            c.workgroups += x as u64 * y as u64 * z as u64;
        });
        if super::profile::enabled() {
            self.run_alone(&d.spec.label());
        }
        Ok(())
    }

    /// Opens the compute pass; while profiling, each pass holds one dispatch, timed on the GPU
    /// where the adapter has timestamp queries.
    fn open_pass(&mut self) {
        let ctx = self.ctx;
        if super::profile::enabled() && self.timer.is_none() {
            self.timer = PassTimer::new(ctx);
        }
        let timestamp_writes = self.timer.as_ref().filter(|_| super::profile::enabled()).map(PassTimer::writes);
        let encoder = self.encoder.get_or_insert_with(|| new_encoder(ctx));
        let pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ops"), timestamp_writes });
        self.pass = Some(pass.forget_lifetime());
    }

    /// Ends the pass, writes the staged params and submits what is recorded.
    fn submit_recorded(&mut self) -> wgpu::SubmissionIndex {
        self.pass = None;
        let encoder = self.encoder.take().unwrap_or_else(|| new_encoder(self.ctx));
        let queue = &self.ctx.queue;
        self.arena.flush(queue);
        queue.submit([encoder.finish()])
    }

    /// Profiling: submits what is recorded, waits for it, and charges the time to `label`.
    #[cfg(not(target_arch = "wasm32"))]
    fn run_alone(&mut self, label: &str) {
        self.pass = None;
        if let (Some(timer), Some(encoder)) = (&self.timer, self.encoder.as_mut()) {
            timer.resolve(encoder);
        }
        let start = web_time::Instant::now();
        self.submit_recorded();
        // A failed wait (device lost) surfaces at the step's own readback.
        let _ = self.ctx.device.poll(wgpu::PollType::wait_indefinitely());
        let wall = start.elapsed().as_secs_f64();
        let gpu = self.timer.as_ref().and_then(|t| t.seconds(self.ctx));
        super::profile::record(label, wall, gpu);
    }

    #[cfg(target_arch = "wasm32")]
    fn run_alone(&mut self, _label: &str) {}

    /// Records a copy of `bytes` bytes between buffers (ends the current compute pass).
    pub fn copy(&mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, bytes: u64) {
        self.pass = None;
        self.encoder().copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
        OpsCounts::add(|c| c.copies += 1);
    }

    /// Submits what is recorded so far and goes on recording into a fresh encoder: the GPU
    /// starts on the first layers while the host records the rest (`Tuning::submit_layers`).
    pub fn flush(&mut self) {
        if self.pass.is_some() || self.encoder.is_some() {
            OpsCounts::add(|c| c.submits += 1);
            self.submit_recorded();
        }
    }

    /// Finishes the encoder and submits it.
    pub fn submit(mut self) -> wgpu::SubmissionIndex {
        let index = self.submit_recorded();
        let ns = self.started.elapsed().as_nanos() as u64;
        OpsCounts::add(|c| {
            c.submits += 1;
            c.record_ns += ns;
        });
        index
    }

    /// Workgroup counts for `n` workgroups along x, folded into y when x would exceed the
    /// per-dimension limit (65535 on WebGPU). Kernels recover the index as `x + y * nx`.
    pub(crate) fn grid(&self, n: u32, z: u32) -> [u32; 3] {
        let max = self.ctx.limits.max_compute_workgroups_per_dimension.max(1);
        let x = n.clamp(1, max);
        [x, n.div_ceil(x).max(1), z]
    }
}

fn new_encoder(ctx: &GpuContext) -> wgpu::CommandEncoder {
    ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") })
}

impl Drop for Ops<'_> {
    /// Gives the arena back, submitted or not (a step that failed while recording drops its
    /// encoder unsubmitted).
    fn drop(&mut self) {
        self.pass = None;
        self.ctx.bindings.give_back(std::mem::take(&mut self.arena));
    }
}
