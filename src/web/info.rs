//! `gpu_info()`: what the page's WebGPU adapter is and allows.

use serde_json::json;
use wasm_bindgen::prelude::*;

use super::{default_context, to_js};

/// The adapter and device in use:
///
/// ```text
/// { adapter: "unnamed adapter (webgpu, Cpu)", name, deviceType, backend,
///   subgroupMinSize, subgroupMaxSize,
///   features: ["TIMESTAMP_QUERY", ...],   // optional features granted to the device
///   limits: { maxBufferSize, maxStorageBufferBindingSize, ... } }   // granted limits
/// ```
///
/// Browsers say little about the adapter (Chromium's SwiftShader has an empty description;
/// its `GPUAdapterInfo` vendor and architecture strings are not passed on by wgpu), so
/// `deviceType` "Cpu" (a fallback adapter) is the main hint.
#[wasm_bindgen]
pub async fn gpu_info() -> Result<JsValue, JsValue> {
    let ctx = default_context().await.map_err(|e| e.context("gpu_info"))?;
    let a = &ctx.adapter_info;
    let l = &ctx.limits;
    let features: Vec<String> = ctx.features.iter_names().map(|(name, _)| name.to_string()).collect();
    Ok(to_js(&json!({
        "adapter": adapter_label(a),
        "name": a.name,
        "deviceType": format!("{:?}", a.device_type),
        "backend": a.backend.to_str(),
        "subgroupMinSize": a.subgroup_min_size,
        "subgroupMaxSize": a.subgroup_max_size,
        "features": features,
        "limits": {
            "maxBufferSize": l.max_buffer_size,
            "maxStorageBufferBindingSize": l.max_storage_buffer_binding_size,
            "maxStorageBuffersPerShaderStage": l.max_storage_buffers_per_shader_stage,
            "maxUniformBufferBindingSize": l.max_uniform_buffer_binding_size,
            "maxComputeInvocationsPerWorkgroup": l.max_compute_invocations_per_workgroup,
            "maxComputeWorkgroupSizeX": l.max_compute_workgroup_size_x,
            "maxComputeWorkgroupStorageSize": l.max_compute_workgroup_storage_size,
            "maxComputeWorkgroupsPerDimension": l.max_compute_workgroups_per_dimension,
            "minStorageBufferOffsetAlignment": l.min_storage_buffer_offset_alignment,
        },
    }))?)
}

/// "name (backend, device type)", with a placeholder for the empty names browsers give.
pub(crate) fn adapter_label(a: &wgpu::AdapterInfo) -> String {
    let name = if a.name.is_empty() { "unnamed adapter" } else { &a.name };
    format!("{name} ({}, {:?})", a.backend.to_str(), a.device_type)
}
