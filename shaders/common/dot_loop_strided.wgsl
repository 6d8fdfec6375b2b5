// The unit loop of common/dot_rows.wgsl for the formats without scale chunks: the threads
// take the units of the rows in turn (see strided_partials).

fn row_partials(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    return strided_partials(lid, a, b, x0, cols4);
}
