// Dot units for the formats without a dedicated helper: one block (QK elements) per unit,
// decoded 4 elements at a time through the quant helper's `dequant4`.
//   const UNIT: u32                          elements per dot unit
//   fn unit_dot(unit: u32, xu: u32) -> f32   part-local unit `unit` (units of a row are
//                                            consecutive) dotted with x[xu .. xu + UNIT / 4]

const UNIT: u32 = QK;

fn unit_dot(unit: u32, xu: u32) -> f32 {
    var s = vec4<f32>(0.0);
    for (var j = 0u; j < QK / 4u; j++) {
        s += dequant4(unit, j) * x[xu + j];
    }
    return s.x + s.y + s.z + s.w;
}
