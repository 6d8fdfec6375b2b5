//! The model on the GPU: its config and the weight tree with every matrix in its quantized
//! GGUF format and every vector (norms, conv kernels, expert bias) in f32.
//!
//! Loading is three steps, so the bytes of a tensor can arrive in any order and by any means
//! (a memory map natively, HTTP byte ranges in the browser) and are dropped once uploaded:
//!
//! 1. [`GpuModel::upload_plan`]: the tensors the model uses, each with its [`TensorRole`],
//!    after checking the config, every shape and every type (nothing is read yet);
//! 2. [`GpuModel::upload_tensor`]: one tensor's bytes into GPU buffers ([`Uploaded`]); or,
//!    to hold only part of a large tensor at a time, [`GpuModel::begin_upload`] (the buffers),
//!    [`TensorUpload::write_rows`] for each chunk of rows, then [`TensorUpload::finish`];
//! 3. [`GpuModel::from_uploaded`]: the weight tree from the uploaded tensors, by name.
//!
//! [`GpuModel::load`] runs the three in order from a function that returns each tensor.

use std::collections::HashMap;
use std::sync::Arc;

use crate::gguf::{Gguf, TensorInfo};
use crate::model::{Config, Ffn, HostTensor, ModelError, SharedBytes, Weights};
use crate::quant::GgmlType;

use super::kernels::RopeTable;
use super::layout::GpuFormat;
use super::matrix::{WrittenRows, FLUSH_BYTES};
use super::{pairing, GpuContext, GpuError, GpuMatrix, GpuTensor, KvPrecision, MatrixUpload};

pub struct GpuModel {
    pub ctx: Arc<GpuContext>,
    pub config: Config,
    pub(crate) weights: Weights<GpuMatrix, GpuTensor>,
    pub(crate) rope: RopeTable,
    /// Bytes of weights uploaded (what a forward pass may read at most).
    pub weight_bytes: u64,
    /// How the states made from now on keep K and V (f16 unless set).
    pub kv_precision: KvPrecision,
}

impl Drop for GpuModel {
    /// Cached bind groups hold the weights alive: drop them with the model.
    fn drop(&mut self) {
        self.ctx.bindings.forget();
    }
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

/// One tensor of the plan being uploaded a chunk of whole rows at a time
/// ([`GpuModel::begin_upload`]): its buffers exist from the start, so the tensor's bytes never
/// need to be in memory whole. Rows are as in [`HostTensor`]: `dims[0]` elements each, a
/// stacked expert tensor being `rows_per_expert * n_experts` rows.
pub struct TensorUpload {
    name: String,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    into: UploadInto,
}

enum UploadInto {
    Matrix(MatrixUpload),
    /// Vectors are small: dequantized on the host as rows come, uploaded by `finish`.
    Vector {
        data: Vec<f32>,
        written: WrittenRows,
    },
}

impl TensorUpload {
    /// Rows of the tensor.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of one row in the file.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Writes `raw`, whole rows as stored in the file, as rows `first_row ..`. Chunks may have
    /// any number of rows and come in any order, each row once.
    pub fn write_rows(&mut self, ctx: &GpuContext, first_row: usize, raw: &[u8]) -> Result<(), ModelError> {
        match &mut self.into {
            UploadInto::Matrix(m) => m.write_rows(ctx, first_row, raw)?,
            UploadInto::Vector { data, written } => {
                let n = raw.len() / self.row_bytes;
                let end = first_row.saturating_add(n);
                if !raw.len().is_multiple_of(self.row_bytes) || end > self.rows {
                    let why = format!(
                        "{}: {} bytes at row {first_row} are not whole rows of a {}-row tensor",
                        self.name,
                        raw.len(),
                        self.rows
                    );
                    return Err(GpuError::Shape(why).into());
                }
                written.mark(&self.name, first_row..end)?;
                crate::quant::dequantize(self.ty, raw, &mut data[first_row * self.cols..end * self.cols])?;
            }
        }
        Ok(())
    }

    /// The uploaded tensor, once every row is written.
    pub fn finish(self, ctx: &GpuContext) -> Result<Uploaded, ModelError> {
        Ok(match self.into {
            UploadInto::Matrix(m) => Uploaded::Matrix(m.finish()?),
            UploadInto::Vector { data, written } => {
                written.check_all(&self.name, self.rows)?;
                Uploaded::Vector(GpuTensor::from_f32(ctx, &self.name, self.rows, self.cols, &data)?)
            }
        })
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
        let mut unflushed = 0;
        for t in Self::upload_plan(gguf)? {
            let u = Self::upload_tensor(&ctx, t.role, &tensor(&t.info)?)?;
            // Natively the writes are staged until a submission: keep that memory bounded.
            unflushed += t.info.n_bytes();
            uploaded.insert(t.info.name, u);
            if unflushed >= FLUSH_BYTES {
                ctx.queue.submit([]);
                unflushed = 0;
            }
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
        let mut upload = Self::begin(ctx, role, &host.name, host.ty, &host.dims)?;
        upload.write_rows(ctx, 0, &host.bytes)?;
        upload.finish(ctx)
    }

    /// Starts uploading tensor `info` of the plan in `role`: allocates its GPU buffers, to be
    /// filled by [`TensorUpload::write_rows`] (a chunk of rows at a time) before
    /// [`TensorUpload::finish`]. Gives the same tensor as [`GpuModel::upload_tensor`].
    pub fn begin_upload(ctx: &GpuContext, role: TensorRole, info: &TensorInfo) -> Result<TensorUpload, ModelError> {
        Self::begin(ctx, role, &info.name, info.ty, &info.dims)
    }

    fn begin(
        ctx: &GpuContext,
        role: TensorRole,
        name: &str,
        ty: GgmlType,
        dims: &[u64],
    ) -> Result<TensorUpload, ModelError> {
        let unsupported = || ModelError::UnsupportedType { tensor: name.to_string(), ty };
        let Some((&cols, outer)) = dims.split_first() else {
            return Err(GpuError::Shape(format!("{name}: a tensor without dimensions")).into());
        };
        let (cols, rows) = (cols as usize, outer.iter().product::<u64>() as usize);
        let into = match role {
            TensorRole::Matrix => {
                // Stacked experts [cols, rows_per_expert, n_experts]: keep each expert in one buffer.
                let row_group = if dims.len() == 3 { dims[1] as usize } else { 1 };
                let max = ctx.max_weight_part_bytes();
                UploadInto::Matrix(GpuMatrix::allocate(ctx, name, ty, rows, cols, row_group, max)?)
            }
            TensorRole::Vector => {
                if !ty.can_dequantize() {
                    return Err(unsupported());
                }
                UploadInto::Vector { data: vec![0.0; rows * cols], written: WrittenRows::default() }
            }
        };
        let row_bytes = ty.bytes_for(cols as u64).ok_or_else(unsupported)? as usize;
        Ok(TensorUpload { name: name.to_string(), ty, rows, cols, row_bytes, into })
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
        let mut weights = Weights::load(
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
        pair_gate_up_experts(&ctx, &config, &mut weights)?;
        let mut copies = super::TextureCopies::default();
        for m in weights.matrices_mut() {
            m.place_as_tuned(&ctx, &mut copies)?;
        }
        let rope = RopeTable::new(&ctx, config.head_dim, config.rope_theta)?;
        ctx.take_error()?; // an upload that ran out of memory
        Ok(GpuModel { ctx, config, weights, rope, weight_bytes, kv_precision: KvPrecision::default() })
    }
}

/// Each MoE layer's gate and up experts into shared buffers, pair by pair, and each dense
/// MLP's gate and up into one buffer ([`super::pairing`]), so the forward pass computes
/// silu(gate) * up in one launch. A layer whose two cannot be paired (say, different formats)
/// keeps them apart.
fn pair_gate_up_experts(
    ctx: &GpuContext,
    config: &Config,
    weights: &mut Weights<GpuMatrix, GpuTensor>,
) -> Result<(), GpuError> {
    if !ctx.tuning.pair_experts {
        return Ok(());
    }
    for layer in &mut weights.layers {
        // A dense MLP is one expert: its gate rows, then its up rows.
        let (gate, up, rows_per_expert) = match &mut layer.ffn {
            Ffn::Moe(moe) => {
                let fe = config.moe.as_ref().map_or(0, |m| m.expert_ffn_dim);
                (&mut moe.gate_exps, &mut moe.up_exps, fe)
            }
            Ffn::Dense(mlp) => {
                let f = mlp.gate.rows;
                (&mut mlp.gate, &mut mlp.up, f)
            }
        };
        if let Some(pair) = pairing::interleave_experts(ctx, gate, up, rows_per_expert)? {
            // The copies are submitted: the separate buffers go once they have run.
            (*gate, *up) = pair;
        }
    }
    Ok(())
}
