//! Per-adapter choices of the kernels: what a CPU adapter (lavapipe, SwiftShader) and a GPU
//! each run faster, decided once per context from the adapter's description and features,
//! each with the measurement that decided it.

use super::shader::ShaderTarget;

/// Per-adapter choices of the matrix-vector kernels (see `shaders/common/dot_rows.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Threads per matvec workgroup. CPU adapters (lavapipe, SwiftShader) run a workgroup as
    /// one SIMD loop, where barriers and idle lanes are what costs: 8, their vector width.
    /// GPUs: 64, or a whole subgroup where that is wider (on an H200 through Vulkan, 64
    /// threads with the shared-memory sum beat one 32-wide subgroup: 130 against 110 tokens/s
    /// on the 8B Q4_0, 2026-11-26).
    pub matvec_wg: u32,
    /// Rows a decode matrix-vector workgroup dots (8, 4, 2 or 1; `matvec`, `moe_matvec`,
    /// `moe_down_add` on matrices up to 16K rows). Each thread dots its units with all of
    /// them, so fewer rows mean less serial work a thread and more workgroups: on a GPU a
    /// small matrix's launch is bound by a thread's chain of dependent instructions when a
    /// few warps an SM run it. H200, 8B Q4_0 (2026-11-27, `--profile`): the 38 `matvec_q4_0`
    /// launches of a token 0.564 ms with 8 rows, 0.418 with 4, 0.360 with 2; a 2048 x 2048
    /// matvec alone 12.6 -> 9.0 µs (Q4_0), 33.6 -> 11.3 (Q6_K), 19.7 -> 11.2 (Q8_0). CPU
    /// adapters keep 8 (each x unit loaded once for 8 rows: lavapipe ran 2 rows at half the
    /// rate).
    pub matvec_rows: u32,
    /// Prefill through `batch_matvec` (4 vectors per matrix-vector workgroup) rather than the
    /// tiled `matmul`: on CPU adapters workgroup-memory reads are per-lane gathers, and the
    /// tiled kernel runs slower per multiply-add than the matrix-vector one. On the H200 the
    /// two are within the spread (8B Q4_0, prefill of 1,024: 1,846-1,909 against 1,841-1,842
    /// tok/s, two rounds, 2026-11-27): GPUs keep `matmul`.
    pub batch_matvec: bool,
    /// Prefill's tiled products in tiles of 64 tokens x 64 rows (`matmul_wide`: 8 x 8
    /// register blocks) instead of 32 x 32 (`matmul`). Off everywhere: on the H200 the Q4_0
    /// kernel alone ran 1.05 against 2.09 TMAC/s (64 tokens), and the 8B's prefill of 1,024
    /// tokens 1,833 against 1,838-1,841 tok/s (2026-11-27). Tested against the same reference.
    pub matmul_wide: bool,
    /// Prefill's routed experts as tiled products over each expert's pairs (`moe_sort`, then
    /// `moe_matmul`: 64 x 64 tiles as `matmul_wide`) instead of 4 pairs a weight decode
    /// (`moe_group`, `moe_batch_matvec`). Off everywhere: H200, 8B Q4_0, prefill of 1,024
    /// tokens 1,603-1,604 against 1,833 tok/s with `matmul_wide` (2026-11-27).
    pub moe_matmul: bool,
    /// Threads of a matvec over few rows (the MoE router's 32: four workgroups), which cannot
    /// fill a GPU with `matvec_wg` threads each: 256 on GPUs summing in workgroup memory,
    /// else `matvec_wg`.
    pub few_rows_wg: u32,
    /// Threads of the one-workgroup-per-row kernels (the norms): a decoded token's norm is one
    /// workgroup, whose loop is latency-bound on a GPU (32 µs for 2048 values with 64 threads
    /// on an H200): 256 there; 64 on CPU adapters.
    pub row_wg: u32,
    /// A MoE layer's weighted sum, residual add and next norm in one launch
    /// (`moe_add_rms_norm`): GPUs. llvmpipe ran it 15x slower than `moe_combine` then
    /// `add_rms_norm` (one workgroup's slot loops on one core: 3 ms against 0.2 ms a layer).
    pub fused_moe_norm: bool,
    /// A MoE layer's router logits and top-k choice in one launch (`moe_router`): CPU
    /// adapters, where it saves the launch (lavapipe, 8B Q4_0: 3.6 against 4.5 ms of GPU time
    /// a token, 2026-11-26). GPUs run `matvec` then `moe_route`: there the one workgroup per
    /// token reading the whole router was slower (H200: 33 against 20 µs a layer).
    pub fused_router: bool,
    /// Natively, compile shaders with naga's loop guard counters (see `shader_checks`):
    /// only on CPU adapters, where llvmpipe ran the 8B Q4_0 decode faster with them
    /// (2.4-2.5 against 1.8-2.0 tokens/s); a GPU's driver unrolls the loops without them
    /// (H200: 202 -> 244 tokens/s). Measured 2026-11-26.
    pub loop_guards: bool,
    /// Prefill groups each step's (token, slot) pairs by expert (`moe_group`, then
    /// `moe_batch_matvec` decodes an expert's weights once per 4 pairs), where a step has at
    /// least `group_min_pairs` pairs per expert on average; else it runs the pairs one by one
    /// (`moe_matvec`). Every adapter (off only to measure against it).
    pub group_experts: bool,
    /// Pairs per expert on average (a step's tokens x k / E) from which `group_experts`
    /// groups. GPUs 0: grouping always pays, the expert weights' bytes being what costs. CPU
    /// adapters 4 (a full group of 4 pairs each): there loading 4 pairs' inputs costs about
    /// what decoding the weights again does. lavapipe, 8B Q4_0 with weights in textures
    /// (2026-11-27), prefill of 16 tokens (2 pairs an expert) 4.3-4.6 tok/s one by one
    /// against 2.7 grouped, of 64 tokens 4.6-4.7 against 5.1-5.2, of 128 4.8 against 5.3
    /// (with buffers, 2026-11-26: 64 tokens 3.8-4.1 either way).
    pub group_min_pairs: usize,
    /// Decode kernels over Q4_0 and Q4_K matrices give each thread runs of 256 elements,
    /// whose scales are one load (common/dot_loop_chunked.wgsl): CPU adapters, where each
    /// load costs (lavapipe Q4_0 matvec 3.10 -> 3.37 GB/s); GPUs keep the coalesced strided
    /// loop.
    pub scale_chunks: bool,
    /// Matrix-vector kernels read their vectors from a uniform window where they fit
    /// (`common/x_uniform.wgsl`; [`super::GpuTensor`]s are then padded to the window): CPU
    /// adapters, where llvmpipe reads storage buffers a lane and a component at a time.
    pub uniform_x: bool,
    /// Output dimension pairs each attention thread accumulates (`v_pairs` in
    /// shaders/attention.wgsl): 4 on CPU adapters, where every thread re-reads the tile's
    /// weights from workgroup memory lane by lane, so fewer threads with more dimensions load
    /// less; 1 on GPUs, where the threads run in parallel.
    pub attention_v_pairs: u32,
    /// Attention's V pass spreads a tile's rows over all threads (`row_groups` in
    /// shaders/attention.wgsl), each group of threads owning the head's pairs for some rows:
    /// GPUs, where with one pair a thread half the threads would otherwise idle. CPU adapters
    /// keep one group (lavapipe at 32K: 457-490 against 582-798 ms of attention a token).
    pub attention_spread_rows: bool,
    /// Workgroups a decode step's attention aims for, splitting the context (split-K): 2048
    /// on GPUs, to fill them (each split then holds few tiles: a workgroup's tiles run one
    /// after another); 32 on CPU adapters (4 splits for the 8B's 8 kv heads), whose few
    /// threads gain nothing from more splits and pay each one's final sums (lavapipe, 8B at
    /// 32K: 434-440 against 470-475 ms of attention a token with 64 splits).
    pub attention_workgroups: usize,
    /// A MoE layer's gate and up experts interleaved in shared buffers at load, and a dense
    /// MLP's gate and up in one buffer, so that silu(gate) * up is one launch
    /// (`gpu::pairing`, `moe_gate_up`, `gate_up`): 44 launches fewer a token on the 8B, 2 a
    /// dense layer (lavapipe, a 16-layer dense Q4_0 shaped like LFM2-1.2B: 4.24-4.55 against
    /// 3.88-4.28 tok/s). Every adapter; off only to measure against it.
    pub pair_experts: bool,
    /// A decoded token's MoE routing inside the gate and up experts' launch
    /// (`moe_route_gate_up`: each workgroup ranks the E router logits itself): 22 launches
    /// fewer a token on the 8B (H100, 8B Q4_0 at 1K: 266-281 against 251-272 tok/s; H200 with
    /// 2 rows a workgroup for the routed gate+up when routed apart: 349-351 against 320
    /// tok/s, Q4_K_M 199-203 against 203, 2026-11-27). GPUs; CPU adapters route with the
    /// router's product (`fused_router`) instead.
    pub route_in_gate_up: bool,
    /// A decoded token's short convolution in its in_proj's launch (`conv_in_proj`): 18
    /// launches fewer a token on the 8B; on par with the two launches on an H100 (with
    /// `conv_channels` 2), 9.6 against 12.8 ms a token on lavapipe (mid Q4_0). Every adapter;
    /// off only to measure against it.
    pub fused_conv: bool,
    /// Channels a `conv_in_proj` workgroup takes: 8 (three sets of 8 rows) on CPU adapters;
    /// 2 on GPUs (one set of 8 rows, 4x the workgroups: H100 16.6 against 36 µs a launch);
    /// 1 (4 rows a workgroup, see `matvec_rows`) lost to 2 on the H200 (8B Q4_0 at 1K:
    /// 332-338 against 349-351 tok/s, 2026-11-27).
    pub conv_channels: usize,
    /// A step is submitted in parts of this many layers (0: one submission), so that the GPU
    /// runs the first layers while the host records the rest: recording costs a few µs a
    /// launch, on the order of a fast GPU's own time for it. GPUs 3 (H100, 8B Q4_0 at 1K:
    /// 240-256 tok/s in one submission, 248-257 every layer, 277-282 every 3, 275-280 every
    /// 6); CPU adapters 0 (their "GPU" is the same cores that record).
    pub submit_layers: usize,
    /// Tokens a prefill step evaluates (the scratch buffers' rows): `PREFILL_BATCH` (256)
    /// everywhere. GPUs: the tiled matmul and grouped experts need many token tiles to fill
    /// the card (64 tokens give a 2048-row matrix 128 workgroups of 32 x 32). H100, 8B Q4_0,
    /// prefill of 1,024 tokens: 1,069-1,333 tok/s in steps of 64, 1,416-1,639 of 128,
    /// 1,779-1,831 of 256, 1,816-1,870 of 512; of 8,192: 1,230 / 1,619 / 1,693 (64 / 256 / 512).
    /// CPU adapters: more pairs an expert fill `moe_batch_matvec`'s groups of 4 and leave
    /// fewer idle workgroups (lavapipe, 8B Q4_0, a 256-token prompt: 5.44 tok/s in steps of
    /// 64, 6.41 of 128, 7.11 of 256; the grouped experts alone, top-4 of 32: 6.5 GMAC/s with
    /// 64 tokens, 8.9 with 128, 9.4 with 256, 10.6 with 512). The chat session feeds a prompt
    /// in chunks of `PREFILL_BATCH` between looks at the cancel flag, so larger steps set
    /// here would not be filled there.
    pub prefill_batch: usize,
    /// A decoded token's norms taken by the kernels that read their output: every workgroup
    /// of a block's first kernel norms the residual stream into workgroup memory itself
    /// (`common/x_normed.wgsl`) and the first stores it for the block's later kernels, and a
    /// block's last kernel adds its output into the stream (`matvec_add`, `moe_down_add`),
    /// where `add_rms_norm` and `moe_add_rms_norm` were a launch each: 202 -> 152 launches a
    /// token on the 8B. GPUs (H200, 8B Q4_0 at 1K: GPU time 3.15 against 3.29 ms a token,
    /// decode 286-311 against 262-317 tok/s, 4 alternating rounds, 2026-11-27). CPU adapters
    /// read vectors through the uniform window instead (`uniform_x`), which a normed kernel
    /// cannot.
    pub fused_norms: bool,
    /// Weight matrices moved into rgba32uint textures once loaded (`GpuMatrix::to_textures`,
    /// shaders/common/weights_texture.wgsl): CPU adapters. llvmpipe fetches texels with vector
    /// gathers but loads storage buffers a lane and a component at a time behind a branch
    /// each (8B Q4_0 decode 2.37-2.44 against 2.03-2.06 tok/s, Q4_K_M 2.39-2.67 against
    /// 1.39-1.67); Chromium's SwiftShader gains too (mid Q4_0 decode 1.93-2.00 against
    /// 1.42-1.45 tok/s). Measured 2026-11-27. GPUs keep storage buffers (H200, 8B Q4_0 at 1K:
    /// 302-304 tok/s with textures against 349-351, prefill 1,185-1,539 against 1,838).
    pub weight_textures: bool,
    pub shader: ShaderTarget,
}

impl Tuning {
    pub fn for_adapter(info: &wgpu::AdapterInfo, features: wgpu::Features) -> Tuning {
        let name = info.name.to_ascii_lowercase();
        let cpu =
            info.device_type == wgpu::DeviceType::Cpu || name.contains("swiftshader") || name.contains("llvmpipe");
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        let matvec_wg = match (cpu, subgroups) {
            (true, _) => 8,
            (false, true) if (64..=128).contains(&info.subgroup_min_size) => info.subgroup_min_size,
            (false, _) => 64,
        };
        // Natively `LFM_MATVEC_WG` (a power of two, 8 to 256) overrides it, to tune on new hardware.
        let matvec_wg = std::env::var("LFM_MATVEC_WG")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|wg| wg.is_power_of_two() && (8..=256).contains(wg) && cfg!(not(target_arch = "wasm32")))
            .unwrap_or(matvec_wg);
        let shader = ShaderTarget {
            subgroup_reduce: subgroups && info.subgroup_min_size >= matvec_wg,
            enable_directive: cfg!(target_arch = "wasm32"),
            q6_k_quarters: !cpu,
            q4_k_subblocks: !cpu,
            f16_scales_by_bits: cpu,
        };
        let few_rows_wg = if cpu || shader.subgroup_reduce { matvec_wg } else { 256 };
        let mut tuning = Tuning {
            matvec_wg,
            matvec_rows: if cpu { 8 } else { 2 },
            batch_matvec: cpu,
            matmul_wide: false,
            moe_matmul: false,
            few_rows_wg,
            row_wg: if cpu { 64 } else { 256 },
            fused_moe_norm: !cpu,
            fused_router: cpu,
            loop_guards: cpu,
            group_experts: true,
            group_min_pairs: if cpu { 4 } else { 0 },
            scale_chunks: cpu,
            uniform_x: cpu,
            attention_v_pairs: if cpu { 4 } else { 1 },
            attention_spread_rows: !cpu,
            attention_workgroups: if cpu { 32 } else { 2048 },
            pair_experts: true,
            route_in_gate_up: !cpu,
            fused_conv: true,
            conv_channels: if cpu { 8 } else { 2 },
            submit_layers: if cpu { 0 } else { 3 },
            prefill_batch: super::PREFILL_BATCH,
            fused_norms: !cpu,
            weight_textures: cpu,
            shader,
        };
        // Natively `LFM_TUNING="name=value ..."` (0|1 for a choice, a number for a count) sets
        // the named fields, to measure both ways on new hardware.
        if let Some(spec) = std::env::var("LFM_TUNING").ok().filter(|_| cfg!(not(target_arch = "wasm32"))) {
            for (name, value) in spec.split([' ', ',']).filter_map(|kv| kv.split_once('=')) {
                tuning.set(name, value);
            }
        }
        tuning
    }

    /// This tuning with `weight_textures` set where `choice` is given.
    pub fn with_weight_textures(self, choice: Option<bool>) -> Tuning {
        Tuning { weight_textures: choice.unwrap_or(self.weight_textures), ..self }
    }

    /// Sets the field `name` to `value`; unknown names and unparsable values are ignored.
    fn set(&mut self, name: &str, value: &str) {
        match (name, value.parse::<u32>()) {
            ("attention_v_pairs", Ok(n)) if n > 0 => self.attention_v_pairs = n,
            ("attention_workgroups", Ok(n)) if n > 0 => self.attention_workgroups = n as usize,
            ("submit_layers", Ok(n)) => self.submit_layers = n as usize,
            ("prefill_batch", Ok(n)) if n > 0 => self.prefill_batch = n as usize,
            ("conv_channels", Ok(n)) if [1, 2, 8].contains(&n) => self.conv_channels = n as usize,
            ("matvec_rows", Ok(n)) if [1, 2, 4, 8].contains(&n) => self.matvec_rows = n,
            ("group_min_pairs", Ok(n)) => self.group_min_pairs = n as usize,
            _ => {}
        }
        let on = value == "1";
        let field = match name {
            "attention_spread_rows" => &mut self.attention_spread_rows,
            "batch_matvec" => &mut self.batch_matvec,
            "matmul_wide" => &mut self.matmul_wide,
            "moe_matmul" => &mut self.moe_matmul,
            "fused_conv" => &mut self.fused_conv,
            "fused_moe_norm" => &mut self.fused_moe_norm,
            "fused_norms" => &mut self.fused_norms,
            "q4_k_subblocks" => &mut self.shader.q4_k_subblocks,
            "q6_k_quarters" => &mut self.shader.q6_k_quarters,
            "f16_scales_by_bits" => &mut self.shader.f16_scales_by_bits,
            "fused_router" => &mut self.fused_router,
            "group_experts" => &mut self.group_experts,
            "pair_experts" => &mut self.pair_experts,
            "route_in_gate_up" => &mut self.route_in_gate_up,
            "scale_chunks" => &mut self.scale_chunks,
            "uniform_x" => &mut self.uniform_x,
            "weight_textures" => &mut self.weight_textures,
            _ => return,
        };
        *field = on;
    }
}
