//! The wgpu device, its limits, and the pipeline cache every kernel goes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::quant::GgmlType;

use super::bindings::BindingPool;
use super::shader::ShaderSpec;
use super::tuning::Tuning;

/// Everything that can go wrong on the GPU path. Validation errors inside wgpu that are not
/// caught here (native) surface through wgpu's uncaptured-error handler.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found ({0}); natively, install a Vulkan driver (e.g. Mesa's lavapipe: mesa-vulkan-drivers)"
    )]
    NoAdapter(String),
    #[error("the GPU device could not be created: {0}")]
    RequestDevice(String),
    #[error("reading a buffer back from the GPU failed: {0}")]
    Readback(String),
    #[error("{what} needs a {bytes}-byte buffer binding, over the device's limit of {limit} bytes")]
    BindingTooLarge { what: String, bytes: u64, limit: u64 },
    #[error("shader error: {0}")]
    Shader(String),
    #[error("{0} tensors are not supported on the GPU")]
    Unsupported(GgmlType),
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An error wgpu reported outside any error scope (natively: out of memory, or an invalid
    /// operation); the work recorded since is void.
    #[error("the GPU reported an error: {0}")]
    Device(String),
}

/// A pipeline variant: the shader (with its quant helper) and its sorted override constants.
/// Constants are keyed by their bits so the key is `Eq + Hash`, sorted by name, in place:
/// every dispatch looks its pipeline up, so the key is made without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PipelineKey {
    spec: ShaderSpec,
    constants: [(&'static str, u64); MAX_CONSTANTS],
    len: usize,
}

/// Most override constants a pipeline is made with.
const MAX_CONSTANTS: usize = 8;

impl PipelineKey {
    fn new(spec: &ShaderSpec, constants: &[(&'static str, f64)]) -> Result<PipelineKey, GpuError> {
        if constants.len() > MAX_CONSTANTS {
            return Err(GpuError::Shader(format!("{}: more than {MAX_CONSTANTS} constants", spec.label())));
        }
        let mut key = PipelineKey { spec: *spec, constants: [("", 0); MAX_CONSTANTS], len: constants.len() };
        for (slot, (name, value)) in key.constants.iter_mut().zip(constants) {
            *slot = (*name, value.to_bits());
        }
        key.constants[..key.len].sort_unstable();
        Ok(key)
    }
}

/// How [`GpuContext::with_options`] sets up the device; the default is [`GpuContext::new`]'s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContextOptions {
    /// Bytes one storage binding may hold at most, when lower than the adapter allows: the
    /// device is requested with this limit, and weights, KV cache and scratch are split to
    /// fit it. Lets a desktop run (and tests check) what a mobile GPU allows (often 128 MiB).
    /// WebGPU never grants less than its default (128 MiB), so below that only the engine's
    /// own planning enforces it there; natively the device enforces any value.
    pub max_binding_bytes: Option<u64>,
    /// Weights in textures (`Some(true)`) or storage buffers (`Some(false)`) instead of the
    /// adapter's choice (`Tuning::weight_textures`): to measure both ways where the default
    /// is not settled (the browser's CPU adapter).
    pub weight_textures: Option<bool>,
}

/// One device and queue, with the limits and features actually granted.
///
/// Shareable across threads natively (the cache is behind a `Mutex`); tests keep one in a
/// `OnceLock` so each pipeline variant is compiled once per test binary.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// How the kernels are compiled and launched on this adapter.
    pub tuning: Tuning,
    /// [`ContextOptions::max_binding_bytes`]: the binding limit planned with, when lowered.
    binding_cap: Option<u64>,
    /// Why the device was lost, once it is (set by wgpu's device-lost callback, or
    /// [`GpuContext::mark_lost`]); every later use of the device is pointless.
    lost: Arc<Mutex<Option<String>>>,
    /// The first error wgpu reported outside an error scope since the last
    /// [`GpuContext::take_error`] (wgpu's default handler would panic instead).
    uncaptured: Arc<Mutex<Option<String>>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    /// Params uniforms and bind groups reused from step to step (`bindings.rs`).
    pub(crate) bindings: Arc<BindingPool>,
}

impl GpuContext {
    /// Picks the default adapter (`WGPU_BACKEND`, `WGPU_POWER_PREF`, `WGPU_ADAPTER_NAME` are
    /// honoured natively) and requests its real limits: the defaults would cap storage
    /// bindings at 128 MiB and workgroup sizes at 256 even where the hardware allows more.
    /// Optional features are requested where present; none is required, since Chromium's
    /// fallback adapter has neither shader-f16 nor mappable subgroups.
    pub async fn new() -> Result<GpuContext, GpuError> {
        Self::with_options(ContextOptions::default()).await
    }

    /// [`GpuContext::new`] with `options` (a lowered binding limit).
    pub async fn with_options(opts: ContextOptions) -> Result<GpuContext, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        // OpenGL has no compute path worth using here, and probing it talks to the display
        // server; keep Vulkan / Metal / DX12 / WebGPU unless WGPU_BACKEND says otherwise.
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        };
        let adapter = instance.request_adapter(&options).await.map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let wanted = wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let mut limits = adapter.limits();
        let binding_cap = opts.max_binding_bytes.map(|cap| cap.min(limits.max_storage_buffer_binding_size) & !3);
        if let Some(cap) = binding_cap {
            limits.max_storage_buffer_binding_size = cap;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("lfm-webgpu"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let lost = Arc::new(Mutex::new(None));
        let record = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut lost = record.lock().unwrap_or_else(|e| e.into_inner());
            lost.get_or_insert_with(|| format!("{reason:?}: {message}"));
        });
        // Natively wgpu's default handler panics; keep the error for `take_error` instead. (The
        // browser's default logs it to the console, and its out-of-memory errors are caught
        // by error scopes around the upload: src/web/load.rs.)
        let uncaptured = Arc::new(Mutex::new(None));
        #[cfg(not(target_arch = "wasm32"))]
        {
            let slot = uncaptured.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let mut first = slot.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }));
        }
        let adapter_info = adapter.get_info();
        Ok(GpuContext {
            tuning: Tuning::for_adapter(&adapter_info, device.features()).with_weight_textures(opts.weight_textures),
            adapter_info,
            limits: device.limits(),
            features: device.features(),
            device,
            queue,
            binding_cap,
            lost,
            uncaptured,
            pipelines: Mutex::new(HashMap::new()),
            bindings: Arc::default(),
        })
    }

    /// [`GpuError::Device`] with the first error wgpu reported outside an error scope since the
    /// last call (clearing it), e.g. an allocation that ran out of memory. Readbacks check it, so
    /// a step whose buffers failed returns this error instead of garbage.
    pub fn take_error(&self) -> Result<(), GpuError> {
        match self.uncaptured.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(GpuError::Device(e)),
            None => Ok(()),
        }
    }

    /// Why the device was lost (wgpu's reason and the driver's message), or `None` while it
    /// works. A lost device never comes back: a new context is needed.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records that the device is lost (when the caller knows before wgpu's callback runs,
    /// e.g. right after destroying it); the first reason recorded is kept.
    pub fn mark_lost(&self, why: &str) {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| why.to_string());
    }

    /// [`GpuContext::new`], blocking (native only; the browser must await).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<GpuContext, GpuError> {
        pollster::block_on(Self::new())
    }

    /// [`GpuContext::with_options`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_options_blocking(options: ContextOptions) -> Result<GpuContext, GpuError> {
        pollster::block_on(Self::with_options(options))
    }

    /// The largest storage buffer that can be bound whole: the smaller of the binding and
    /// buffer limits (and [`ContextOptions::max_binding_bytes`]), rounded down to whole words.
    pub fn max_binding_bytes(&self) -> u64 {
        let cap = self.binding_cap.unwrap_or(u64::MAX);
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size).min(cap) & !3
    }

    /// The largest part a weight matrix is cut into ([`super::GpuMatrix`]): one storage
    /// binding, or where the tuning keeps the weights in textures (`Tuning::weight_textures`:
    /// their buffers are copied, never bound) the largest buffer whose bytes fit one texture.
    /// Fewer parts are fewer launches (lavapipe binds at most 128 MiB: the 8B's 215 MB Q6_K
    /// head was two parts, two launches a token).
    pub fn max_weight_part_bytes(&self) -> u64 {
        if !self.tuning.weight_textures {
            return self.max_binding_bytes();
        }
        let texture = self.limits.max_texture_dimension_2d as u64 * super::matrix::W_TEXELS as u64 * 16;
        self.limits.max_buffer_size.min(texture) & !3
    }

    /// Fails with [`GpuError::BindingTooLarge`] when `bytes` cannot be one storage binding.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.max_binding_bytes();
        if bytes > limit {
            return Err(GpuError::BindingTooLarge { what: what.to_string(), bytes, limit });
        }
        Ok(())
    }

    /// The compute pipeline of `spec` with override `constants`, compiled on first use.
    ///
    /// Pipelines use the layout derived from the shader (bind group 0), so every declared
    /// binding must be used by the entry point.
    pub fn pipeline(
        &self,
        spec: &ShaderSpec,
        constants: &[(&'static str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let key = PipelineKey::new(spec, constants)?;
        if let Some(p) = self.pipelines.lock().expect("pipeline cache poisoned").get(&key) {
            return Ok(p.clone());
        }
        let label = spec.label();
        let source = spec.source_for(self.tuning.shader)?;
        let scope = ErrorScope::push(&self.device);
        let desc =
            wgpu::ShaderModuleDescriptor { label: Some(&label), source: wgpu::ShaderSource::Wgsl(source.into()) };
        let module = match shader_checks(self.tuning.loop_guards) {
            // SAFETY: only naga's loop guards are dropped (see `shader_checks`), and every
            // loop in shaders/ ends: each is bounded by a constant, an override or a uniform
            // count with a constant step. Bounds checks stay.
            Some(checks) => unsafe { self.device.create_shader_module_trusted(desc, checks) },
            None => self.device.create_shader_module(desc),
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: None,
            module: &module,
            entry_point: Some(spec.entry()),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        scope.check(&label)?;
        self.pipelines.lock().expect("pipeline cache poisoned").insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// How many pipeline variants have been compiled so far.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.lock().expect("pipeline cache poisoned").len()
    }
}

/// naga's runtime checks for our shaders, natively (None: wgpu's defaults, all checks).
/// Bounds checks always stay. naga also guards every loop with a counter, because a loop
/// that never ends is undefined behaviour to a driver; ours all end, and the guard keeps GPU
/// drivers from unrolling them, so it is dropped where `loop_guards` is false.
/// `LFM_SHADER_CHECKS=all` keeps the guards on any adapter, `guards-off` drops them on any,
/// `unchecked` drops the bounds checks too (to measure what they cost).
/// (Dropping the bounds checks too gained nothing on the H200: 235 against 244 tokens/s.)
/// In the browser the page's WebGPU implementation applies its own checks.
#[cfg(not(target_arch = "wasm32"))]
fn shader_checks(loop_guards: bool) -> Option<wgpu::ShaderRuntimeChecks> {
    let guards = match std::env::var("LFM_SHADER_CHECKS").as_deref() {
        Ok("all") => true,
        Ok("guards-off") => false,
        // Measurement only: the bounds checks dropped too. Every index in `shaders/` is in
        // bounds by construction (the kernel tests check each one), but nothing else stops a
        // wrong one, so this is never the default.
        Ok("unchecked") => return Some(wgpu::ShaderRuntimeChecks::unchecked()),
        _ => loop_guards,
    };
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = false;
    (!guards).then_some(checks)
}

#[cfg(target_arch = "wasm32")]
fn shader_checks(_loop_guards: bool) -> Option<wgpu::ShaderRuntimeChecks> {
    None
}

/// Natively, shader compilation errors are caught and returned as [`GpuError::Shader`]; in
/// the browser the error scope could only be awaited, so errors go to the console instead.
struct ErrorScope {
    #[cfg(not(target_arch = "wasm32"))]
    guard: wgpu::ErrorScopeGuard,
}

impl ErrorScope {
    fn push(_device: &wgpu::Device) -> ErrorScope {
        ErrorScope {
            #[cfg(not(target_arch = "wasm32"))]
            guard: _device.push_error_scope(wgpu::ErrorFilter::Validation),
        }
    }

    fn check(self, _label: &str) -> Result<(), GpuError> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = pollster::block_on(self.guard.pop()) {
            return Err(GpuError::Shader(format!("{_label}: {e}")));
        }
        Ok(())
    }
}
