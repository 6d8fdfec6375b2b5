// Dot units for the formats without a dedicated helper: one block (QK elements) per unit,
// decoded 4 elements at a time through the quant helper's `dequant4`.
//   const UNIT: u32                          elements per dot unit
//   struct XUnit                             what a unit needs of x, loaded once for ROWS rows
//   fn x_unit(xu: u32) -> XUnit              that, for x[xu .. xu + UNIT / 4]
//   fn unit_dot(unit: u32, xv: XUnit) -> f32 part-local unit `unit` (units of a row are
//                                            consecutive) dotted with the x unit
//   fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32>
//                                            the same unit dotted with 4 vectors at x offsets
//                                            `xu` (batch_matvec)

const UNIT: u32 = QK;

// Blocks here may be 256 elements: too many to hold, so x is read where it is used.
struct XUnit {
    at: u32, // x offset of the unit
}

fn x_unit(xu: u32) -> XUnit {
    return XUnit(xu);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    var s = vec4<f32>(0.0);
    for (var j = 0u; j < QK / 4u; j++) {
        s += dequant4(unit, j) * x[xv.at + j];
    }
    return s.x + s.y + s.z + s.w;
}

fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var j = 0u; j < QK / 4u; j++) {
        let v = dequant4(unit, j);
        s0 += v * x[xu.x + j];
        s1 += v * x[xu.y + j];
        s2 += v * x[xu.z + j];
        s3 += v * x[xu.w + j];
    }
    return hsum4(s0, s1, s2, s3);
}
