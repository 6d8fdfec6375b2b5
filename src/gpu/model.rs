//! The model on the GPU: its config and the weight tree with every matrix in its quantized
//! GGUF format and every vector (norms, conv kernels, expert bias) in f32.

use std::sync::Arc;

use crate::gguf::{Gguf, TensorInfo};
use crate::model::{Config, HostTensor, ModelError, SharedBytes, Weights};

use super::kernels::RopeTable;
use super::{GpuContext, GpuMatrix, GpuTensor};

pub struct GpuModel {
    pub ctx: Arc<GpuContext>,
    pub config: Config,
    pub(crate) weights: Weights<GpuMatrix, GpuTensor>,
    pub(crate) rope: RopeTable,
    /// Bytes of weights uploaded (what a forward pass may read at most).
    pub weight_bytes: u64,
}

impl GpuModel {
    /// Uploads the weights of a GGUF file held in host memory (a memory map natively).
    pub fn new(ctx: Arc<GpuContext>, gguf: &Gguf, file: &SharedBytes) -> Result<GpuModel, ModelError> {
        Self::load(ctx, gguf, |info| HostTensor::from_file(gguf, file, info))
    }

    /// Uploads the weights tensor by tensor from `tensor` (whatever holds the bytes), so no
    /// f32 copy of the model is ever made and only one tensor at a time need be in memory.
    pub fn load(
        ctx: Arc<GpuContext>,
        gguf: &Gguf,
        tensor: impl Fn(&TensorInfo) -> Result<HostTensor, ModelError>,
    ) -> Result<GpuModel, ModelError> {
        let config = Config::from_gguf(gguf)?;
        let weight_bytes = std::cell::Cell::new(0);
        let matrix = |info: &TensorInfo| -> Result<GpuMatrix, ModelError> {
            // Stacked experts [cols, rows_per_expert, n_experts]: keep each expert in one buffer.
            let row_group = if info.dims.len() == 3 { info.dims[1] as usize } else { 1 };
            let m = GpuMatrix::from_host(&ctx, &tensor(info)?, row_group)?;
            weight_bytes.set(weight_bytes.get() + m.bytes());
            Ok(m)
        };
        let vector = |info: &TensorInfo| -> Result<GpuTensor, ModelError> {
            let host = tensor(info)?;
            let t = GpuTensor::from_f32(&ctx, &info.name, host.rows(), host.cols(), &host.to_f32())?;
            weight_bytes.set(weight_bytes.get() + 4 * t.len() as u64);
            Ok(t)
        };
        let weights = Weights::load(&config, gguf, matrix, vector)?;
        let rope = RopeTable::new(&ctx, config.head_dim, config.rope_theta)?;
        Ok(GpuModel { ctx, config, weights, rope, weight_bytes: weight_bytes.get() })
    }
}
