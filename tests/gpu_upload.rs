//! Uploading weights a chunk of rows at a time ([`GpuMatrix::allocate`] +
//! [`MatrixUpload::write_rows`], [`GpuModel::begin_upload`]) gives exactly the buffers of a
//! one-shot upload ([`layout::repack`] of each part's rows), whatever the chunk sizes and
//! order, for every GPU format, with parts cut at awkward rows; and moving a matrix into
//! textures ([`GpuMatrix::to_textures`]) keeps those bytes.

mod common;

use std::ops::Range;

use common::gpu::{assert_close, ctx, host_matrix, random, run, run_on, tensor, zeros};
use lfm_webgpu::gguf::TensorInfo;
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::layout::{self, GpuFormat, PartWriter};
use lfm_webgpu::gpu::shader::GPU_TYPES;
use lfm_webgpu::gpu::{
    ContextOptions, GpuContext, GpuMatrix, GpuModel, GpuTensor, TensorRole, TextureCopies, Uploaded,
};
use lfm_webgpu::quant::{self, GgmlType};
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::rng::Rng;

/// Row widths of `blocks` GPU blocks of `ty` (groups of 4 for float types).
fn cols(ty: GgmlType, blocks: usize) -> usize {
    GpuFormat::of(ty).unwrap().block_elems() * blocks
}

/// Ways to cover rows `0 .. rows` with chunks: in order in chunks of each size from 1 to
/// `rows`, backwards in chunks of 2 and 3, and chunks of random sizes in random order.
fn chunkings(rows: usize, rng: &mut Rng) -> Vec<Vec<Range<usize>>> {
    let forward = |n: usize| (0..rows).step_by(n).map(|r| r..rows.min(r + n)).collect::<Vec<_>>();
    let mut all: Vec<Vec<Range<usize>>> = (1..=rows).map(forward).collect();
    for n in [2, 3] {
        all.push(forward(n).into_iter().rev().collect());
    }
    for _ in 0..3 {
        let mut chunks = Vec::new();
        let mut r = 0;
        while r < rows {
            let n = 1 + rng.below(5.min(rows - r));
            chunks.push(r..r + n);
            r += n;
        }
        for i in (1..chunks.len()).rev() {
            chunks.swap(i, rng.below(i + 1));
        }
        all.push(chunks);
    }
    all
}

/// `rows` random rows of `cols` elements of `ty`, as stored in GGUF.
fn random_rows(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    quant::quantize(ty, &random(rng, rows * cols, 1.0)).unwrap()
}

#[test]
fn part_writer_writes_exactly_what_repack_makes() {
    let mut rng = Rng::new(40);
    for &ty in GPU_TYPES {
        let fmt = GpuFormat::of(ty).unwrap();
        // 1, 3 (odd: chunks start and end mid scale word) and 4 blocks a row.
        for blocks in [1, 3, 4] {
            let cols = cols(ty, blocks);
            let row_bytes = fmt.row_bytes(cols) as usize;
            for rows in [1, 2, 7, 13] {
                let raw = random_rows(ty, rows, cols, &mut rng);
                let want = layout::repack(fmt, &raw);
                assert_eq!(want.len() as u64, fmt.part_bytes(rows, cols));
                for chunks in chunkings(rows, &mut rng) {
                    let what = format!("{ty} {rows}x{cols} in {chunks:?}");
                    let mut buffer = vec![0xa5u8; want.len()];
                    let mut writer = PartWriter::new(fmt, rows, cols);
                    for c in &chunks {
                        writer.write_rows(c.start, &raw[c.start * row_bytes..c.end * row_bytes], |at, data| {
                            let at = at as usize;
                            assert!(
                                at.is_multiple_of(4) && data.len().is_multiple_of(4),
                                "{what}: write of {} at {at}",
                                data.len()
                            );
                            buffer[at..at + data.len()].copy_from_slice(data);
                        });
                    }
                    assert_eq!(writer.held_halves(), 0, "{what}: scale halves left over");
                    assert!(buffer == want, "{what}: bytes differ from repack");
                }
            }
        }
    }
}

/// The bytes of every part of `m`, read back.
fn part_bytes(m: &GpuMatrix) -> Vec<Vec<u8>> {
    m.parts.iter().map(|p| p.read_bytes_blocking(ctx()).unwrap()).collect()
}

#[test]
fn matrices_written_in_row_chunks_match_the_one_shot_upload() {
    let mut rng = Rng::new(41);
    for &ty in GPU_TYPES {
        let fmt = GpuFormat::of(ty).unwrap();
        // 3 blocks a row (odd), 65 rows: 5 experts of 13, or single rows.
        let (rows, cols) = (65, cols(ty, 3));
        let row_bytes = fmt.row_bytes(cols) as usize;
        let raw = random_rows(ty, rows, cols, &mut rng);
        // Parts of 2 experts (26, 26, 13 rows), and of 7 single rows (parts start at odd rows).
        for (group, per_part) in [(13, 26), (1, 7)] {
            let limit = fmt.part_bytes(per_part, cols) + 2;
            let plan = layout::plan_parts(ty, rows, cols, group, limit).unwrap();
            assert!(plan.iter().all(|p| p.rows == per_part || p.first_row + p.rows == rows), "{ty}: {plan:?}");
            let want: Vec<Vec<u8>> = plan
                .iter()
                .map(|p| layout::repack(fmt, &raw[p.first_row * row_bytes..(p.first_row + p.rows) * row_bytes]))
                .collect();
            let one_shot = GpuMatrix::with_limit(ctx(), "w", ty, rows, cols, &raw, group, limit).unwrap();
            assert!(part_bytes(&one_shot) == want, "{ty}: one-shot upload differs from repack");
            // Chunks of 1, 3, 10, 17 and all rows in order; of 4 backwards; random.
            let mut orders: Vec<Vec<Range<usize>>> = [1, 3, 10, 17, 65]
                .iter()
                .map(|&n| (0..rows).step_by(n).map(|r| r..rows.min(r + n)).collect())
                .collect();
            orders.push((0..rows).step_by(4).map(|r| r..rows.min(r + 4)).rev().collect());
            orders.extend(chunkings(rows, &mut rng).into_iter().skip(rows + 2));
            for chunks in orders {
                let mut upload = GpuMatrix::allocate(ctx(), "w", ty, rows, cols, group, limit).unwrap();
                assert_eq!((upload.rows(), upload.row_bytes()), (rows, row_bytes));
                for c in &chunks {
                    upload.write_rows(ctx(), c.start, &raw[c.start * row_bytes..c.end * row_bytes]).unwrap();
                }
                let m = upload.finish().unwrap();
                assert_eq!(m.parts.len(), plan.len());
                assert!(part_bytes(&m) == want, "{ty} group {group}: chunks {chunks:?} differ from repack");
            }
        }
        // And it computes: a matvec over a matrix written in chunks straddling its parts.
        let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let limit = fmt.part_bytes(7, cols) + 2;
        let mut upload = GpuMatrix::allocate(ctx(), "w", ty, rows, cols, 1, limit).unwrap();
        for r in (0..rows).step_by(5) {
            let end = rows.min(r + 5);
            upload.write_rows(ctx(), r, &w.bytes[r * row_bytes..end * row_bytes]).unwrap();
        }
        let gw = upload.finish().unwrap();
        let x = random(&mut rng, cols, 1.0);
        let (gx, y) = (tensor(1, cols, &x), zeros(1, rows));
        let got = run(&y, |ops| kernels::matvec(ops, &gw, &gx, &y).unwrap());
        let want = reference::matmul(&w, 0, rows, &x);
        let mut row = vec![0.0; cols];
        let tol: Vec<f32> = (0..rows)
            .map(|r| {
                w.dequantize_row(r, &mut row);
                1e-4 * row.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum::<f32>() + 1e-6
            })
            .collect();
        assert_close(&format!("chunked matvec {ty}"), &got, &want, |i, _| tol[i]);
    }
}

#[test]
fn row_writes_that_overlap_miss_or_are_not_whole_rows_fail() {
    let (ty, rows, cols) = (GgmlType::Q8_0, 10, 64);
    let row_bytes = 68;
    let raw = random_rows(ty, rows, cols, &mut Rng::new(42));
    let mut upload = GpuMatrix::allocate(ctx(), "w", ty, rows, cols, 1, 3 * row_bytes as u64 + 4).unwrap();
    upload.write_rows(ctx(), 2, &raw[2 * row_bytes..5 * row_bytes]).unwrap();
    upload.write_rows(ctx(), 7, &raw[7 * row_bytes..8 * row_bytes]).unwrap();
    let err = upload.write_rows(ctx(), 4, &raw[4 * row_bytes..6 * row_bytes]).unwrap_err().to_string();
    assert!(err.contains("rows 4..6 written twice"), "{err}");
    let err = upload.write_rows(ctx(), 5, &raw[5 * row_bytes..8 * row_bytes]).unwrap_err().to_string();
    assert!(err.contains("written twice"), "{err}");
    let err = upload.write_rows(ctx(), 9, &raw[..2 * row_bytes]).unwrap_err().to_string();
    assert!(err.contains("not whole rows of a 10-row matrix"), "{err}");
    let err = upload.write_rows(ctx(), 0, &raw[..row_bytes + 4]).unwrap_err().to_string();
    assert!(err.contains("not whole rows"), "{err}");
    upload.write_rows(ctx(), 0, &raw[..2 * row_bytes]).unwrap();
    let err = upload.finish().err().expect("rows missing").to_string();
    assert!(err.contains("rows 5..7 of 10 were not written"), "{err}");
}

#[test]
fn tensors_uploaded_in_chunks_equal_whole_uploads() {
    let mut rng = Rng::new(43);
    // A matrix of stacked experts [cols, 6 rows, 4 experts] and a vector-role tensor.
    for (role, ty, dims) in
        [(TensorRole::Matrix, GgmlType::Q6_K, vec![256u64, 6, 4]), (TensorRole::Vector, GgmlType::F16, vec![8, 5])]
    {
        let (cols, rows) = (dims[0] as usize, (dims[1] * dims.get(2).copied().unwrap_or(1)) as usize);
        let host = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let host = lfm_webgpu::model::HostTensor { dims: dims.clone(), ..host };
        let info = TensorInfo { name: "t".into(), dims, ty, offset: 0 };
        let mut upload = GpuModel::begin_upload(ctx(), role, &info).unwrap();
        let row_bytes = upload.row_bytes();
        assert_eq!((upload.rows(), row_bytes as u64), (rows, ty.bytes_for(cols as u64).unwrap()));
        for r in (0..rows).step_by(2).rev() {
            let end = rows.min(r + 2);
            upload.write_rows(ctx(), r, &host.bytes[r * row_bytes..end * row_bytes]).unwrap();
        }
        let chunked = upload.finish(ctx()).unwrap();
        let whole = GpuModel::upload_tensor(ctx(), role, &host).unwrap();
        assert_eq!(chunked.bytes(), whole.bytes());
        match (chunked, whole) {
            (Uploaded::Matrix(a), Uploaded::Matrix(b)) => {
                assert_eq!(a.parts.len(), b.parts.len());
                assert!(part_bytes(&a) == part_bytes(&b), "{ty}: matrix bytes differ");
            }
            (Uploaded::Vector(a), Uploaded::Vector(b)) => {
                let (a, b) = (a.read_f32_blocking(ctx()).unwrap(), b.read_f32_blocking(ctx()).unwrap());
                assert_eq!(a, b);
                assert_eq!(a, host.to_f32());
            }
            _ => panic!("{role:?}: uploaded in another role"),
        }
        // A tensor not wholly written is an error.
        let mut upload = GpuModel::begin_upload(ctx(), role, &info).unwrap();
        upload.write_rows(ctx(), 0, &host.bytes[..row_bytes]).unwrap();
        let err = upload.finish(ctx()).err().expect("rows missing").to_string();
        assert!(err.contains(&format!("rows 1..{rows} of {rows} were not written")), "{err}");
    }
}

#[test]
fn matrices_moved_into_textures_hold_the_same_bytes_and_compute_the_same() {
    let mut rng = Rng::new(44);
    // Part sizes around a texel and a texture row (4096 texels): Q4_0 and Q8_0 parts end in
    // a part-texel of scales (4, 8 or 12 bytes past the last whole texel); F32 rows of 1 KiB
    // make 70 rows 1.1 texture rows; a 3-part split of Q8_0 rows across 2 texture rows each.
    let cases = [
        (GgmlType::Q4_0, 1, 1, None),
        (GgmlType::Q4_0, 1, 5, None),
        (GgmlType::Q8_0, 3, 1, None),
        (GgmlType::Q8_0, 1, 3, None),
        (GgmlType::F32, 1, 1, None),
        (GgmlType::F32, 70, 64, None),
        (GgmlType::Q4_K, 9, 1, None),
        (GgmlType::Q6_K, 5, 3, None),
        (GgmlType::Q8_0, 100, 37, Some(40)),
    ];
    for (ty, rows, blocks, rows_per_part) in cases {
        let cols = cols(ty, blocks);
        let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let fmt = GpuFormat::of(ty).unwrap();
        let limit = rows_per_part.map_or(u64::MAX, |n| fmt.part_bytes(n, cols) + 2);
        let buffers = GpuMatrix::with_limit(ctx(), "w", ty, rows, cols, &w.bytes, 1, limit).unwrap();
        let mut textures = GpuMatrix::with_limit(ctx(), "w", ty, rows, cols, &w.bytes, 1, limit).unwrap();
        textures.to_textures(ctx(), &mut TextureCopies::default()).unwrap();
        let what = format!("{ty}, {rows} rows of {blocks} blocks");
        assert!(textures.parts.iter().all(|p| p.is_texture()), "{what}: moved");
        assert_eq!(textures.parts.len(), rows_per_part.map_or(1, |n| rows.div_ceil(n)), "{what}: parts");
        assert_eq!(textures.bytes(), buffers.bytes(), "{what}: bytes");
        assert!(part_bytes(&textures) == part_bytes(&buffers), "{what}: bytes read back differ");
        let x = random(&mut rng, 2 * cols, 1.0);
        let gx = tensor(2, cols, &x);
        let product = |m: &GpuMatrix, batch: bool| {
            let y = zeros(2, rows);
            run(&y, |ops| {
                if batch { kernels::batch_matvec(ops, m, &gx, &y) } else { kernels::matvec(ops, m, &gx, &y) }.unwrap()
            })
        };
        for batch in [false, true] {
            assert_eq!(product(&textures, batch), product(&buffers, batch), "{what}: batch {batch}");
        }
    }
}

#[test]
fn the_context_option_overrides_where_a_model_keeps_its_weights() {
    for choice in [false, true] {
        let options = ContextOptions { weight_textures: Some(choice), ..Default::default() };
        let c = pollster::block_on(GpuContext::with_options(options)).unwrap();
        assert_eq!(c.tuning.weight_textures, choice);
    }
    let default = pollster::block_on(GpuContext::with_options(ContextOptions::default())).unwrap();
    assert_eq!(default.tuning.weight_textures, ctx().tuning.weight_textures);
}

#[test]
fn matrices_kept_in_textures_are_not_cut_at_the_binding_limit() {
    // A Q8_0 matrix of 300 x 512 (163 KB) under a 64 KiB binding limit: several buffers where
    // the weights are bound as buffers, one part (one texture) where they are kept in textures.
    let (rows, cols) = (300, 512);
    let mut rng = Rng::new(45);
    let values = random(&mut rng, rows * cols, 1.0);
    let w = host_matrix(GgmlType::Q8_0, rows, cols, &values);
    let x = random(&mut rng, cols, 1.0);
    let mut outputs = Vec::new();
    for textures in [false, true] {
        let options = ContextOptions { weight_textures: Some(textures), max_binding_bytes: Some(64 << 10) };
        let c = pollster::block_on(GpuContext::with_options(options)).unwrap();
        assert_eq!(c.max_binding_bytes(), 64 << 10);
        let mut m = GpuMatrix::from_host(&c, &w, 1).unwrap();
        let parts = m.parts.len();
        m.place_as_tuned(&c, &mut TextureCopies::default()).unwrap();
        if textures {
            assert!(c.max_weight_part_bytes() > c.max_binding_bytes());
            assert_eq!(parts, 1, "one part in a texture");
            assert!(m.parts[0].is_texture());
        } else {
            assert_eq!(c.max_weight_part_bytes(), c.max_binding_bytes());
            assert_eq!(parts, 3, "buffers of at most 64 KiB");
        }
        let gx = GpuTensor::from_f32(&c, "x", 1, cols, &x).unwrap();
        let y = GpuTensor::zeros(&c, "y", 1, rows).unwrap();
        outputs.push(run_on(&c, &y, |ops| kernels::matvec(ops, &m, &gx, &y).unwrap()));
    }
    let expect = reference::linear(&w, &x);
    for out in &outputs {
        assert_close("300 x 512 Q8_0 matvec", out, &expect, |_, v| 1e-4 * (1.0 + v.abs()));
    }
}
