//! The model on the GPU: its config and the weight tree with every matrix in its quantized
//! GGUF format and every vector (norms, conv kernels, expert bias) in f32.
//!
//! Loading is three steps, so the bytes of a tensor can arrive in any order and by any means
//! (a memory map natively, HTTP byte ranges in the browser) and are dropped once uploaded:
//!
//! 1. [`GpuModel::upload_plan`]: the tensors the model uses, each with its [`TensorRole`],
//!    after checking the config, every shape and every type (nothing is read yet);
//! 2. [`GpuModel::upload_tensor`]: one tensor's bytes into GPU buffers ([`Uploaded`]);
//! 3. [`GpuModel::from_uploaded`]: the weight tree from the uploaded tensors, by name.
//!
//! [`GpuModel::load`] runs the three in order from a function that returns each tensor.

use std::collections::HashMap;
use std::sync::Arc;

use crate::gguf::{Gguf, TensorInfo};
use crate::model::{Config, HostTensor, ModelError, SharedBytes, Weights};

use super::kernels::RopeTable;
use super::layout::GpuFormat;
use super::{GpuContext, GpuError, GpuMatrix, GpuTensor};

pub struct GpuModel {
    pub ctx: Arc<GpuContext>,
    pub config: Config,
    pub(crate) weights: Weights<GpuMatrix, GpuTensor>,
    pub(crate) rope: RopeTable,
    /// Bytes of weights uploaded (what a forward pass may read at most).
    pub weight_bytes: u64,
}

/// How the forward pass uses a tensor, which decides how it is uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    /// Multiplied by activations: kept in its GGUF format ([`GpuMatrix`]).
    Matrix,
    /// Read elementwise (norms, conv kernels, expert bias): dequantized to f32 ([`GpuTensor`]).
    Vector,
}

/// One tensor of the upload plan.
#[derive(Clone, Debug)]
pub struct PlannedTensor {
    pub info: TensorInfo,
    pub role: TensorRole,
}

/// One tensor on the GPU, waiting for [`GpuModel::from_uploaded`].
pub enum Uploaded {
    Matrix(GpuMatrix),
    Vector(GpuTensor),
}

impl Uploaded {
    /// Bytes of GPU memory it takes.
    pub fn bytes(&self) -> u64 {
        match self {
            Uploaded::Matrix(m) => m.bytes(),
            Uploaded::Vector(v) => 4 * v.len() as u64,
        }
    }
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
        let mut uploaded = HashMap::new();
        for t in Self::upload_plan(gguf)? {
            let u = Self::upload_tensor(&ctx, t.role, &tensor(&t.info)?)?;
            uploaded.insert(t.info.name, u);
        }
        Self::from_uploaded(ctx, gguf, uploaded)
    }

    /// Every tensor the model of `gguf` uses, in load order (embedding, then layer by layer),
    /// with its role. Checks the config, each tensor's shape and that the GPU can use its
    /// type, so a file that cannot run fails here, before any weight is read.
    pub fn upload_plan(gguf: &Gguf) -> Result<Vec<PlannedTensor>, ModelError> {
        let config = Config::from_gguf(gguf)?;
        let plan = std::cell::RefCell::new(Vec::new());
        let add = |info: &TensorInfo, role| -> Result<(), ModelError> {
            let supported = match role {
                TensorRole::Matrix => GpuFormat::of(info.ty).and_then(|f| f.check_cols(info.dims[0] as usize)).is_ok(),
                TensorRole::Vector => info.ty.can_dequantize(),
            };
            if !supported {
                return Err(ModelError::UnsupportedType { tensor: info.name.clone(), ty: info.ty });
            }
            plan.borrow_mut().push(PlannedTensor { info: info.clone(), role });
            Ok(())
        };
        Weights::load(&config, gguf, |info| add(info, TensorRole::Matrix), |info| add(info, TensorRole::Vector))?;
        Ok(plan.into_inner())
    }

    /// Uploads one tensor of the plan. `host` holds exactly the tensor's bytes.
    pub fn upload_tensor(ctx: &GpuContext, role: TensorRole, host: &HostTensor) -> Result<Uploaded, ModelError> {
        let n = host.dims.iter().product::<u64>();
        let want =
            host.ty.bytes_for(n).ok_or(ModelError::UnsupportedType { tensor: host.name.clone(), ty: host.ty })?;
        if host.bytes.len() as u64 != want {
            let why = format!(
                "{}: {} bytes for {:?} {} elements ({want} expected)",
                host.name,
                host.bytes.len(),
                host.dims,
                host.ty
            );
            return Err(GpuError::Shape(why).into());
        }
        Ok(match role {
            TensorRole::Matrix => {
                // Stacked experts [cols, rows_per_expert, n_experts]: keep each expert in one buffer.
                let row_group = if host.dims.len() == 3 { host.dims[1] as usize } else { 1 };
                Uploaded::Matrix(GpuMatrix::from_host(ctx, host, row_group)?)
            }
            TensorRole::Vector => {
                if !host.ty.can_dequantize() {
                    return Err(ModelError::UnsupportedType { tensor: host.name.clone(), ty: host.ty });
                }
                let t = GpuTensor::from_f32(ctx, &host.name, host.rows(), host.cols(), &host.to_f32())?;
                Uploaded::Vector(t)
            }
        })
    }

    /// Builds the model from the tensors of [`GpuModel::upload_plan`], uploaded by
    /// [`GpuModel::upload_tensor`] and keyed by tensor name. Fails (naming the tensor) when
    /// one is missing or was uploaded in the wrong role.
    pub fn from_uploaded(
        ctx: Arc<GpuContext>,
        gguf: &Gguf,
        uploaded: HashMap<String, Uploaded>,
    ) -> Result<GpuModel, ModelError> {
        let config = Config::from_gguf(gguf)?;
        let weight_bytes = uploaded.values().map(Uploaded::bytes).sum();
        let uploaded = std::cell::RefCell::new(uploaded);
        let take = |info: &TensorInfo| uploaded.borrow_mut().remove(&info.name);
        let not_uploaded = |info: &TensorInfo, role| {
            ModelError::BadConfig(format!("tensor `{}` was not uploaded as a {role:?}", info.name))
        };
        let weights = Weights::load(
            &config,
            gguf,
            |info| match take(info) {
                Some(Uploaded::Matrix(m)) => Ok(m),
                _ => Err(not_uploaded(info, TensorRole::Matrix)),
            },
            |info| match take(info) {
                Some(Uploaded::Vector(v)) => Ok(v),
                _ => Err(not_uploaded(info, TensorRole::Vector)),
            },
        )?;
        let rope = RopeTable::new(&ctx, config.head_dim, config.rope_theta)?;
        Ok(GpuModel { ctx, config, weights, rope, weight_bytes })
    }
}
