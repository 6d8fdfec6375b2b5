// The workgroup sum of ROWS per-thread partial sums, for workgroups that are one subgroup
// (the host includes this file only when the adapter's smallest subgroup holds `wg_size`
// threads): no workgroup memory, no barrier.

struct RowSums {
    a: vec4<f32>, // rows 0..3
    b: vec4<f32>, // rows 4..7
}

fn reduce_rows(lid: u32, acc: RowSums) -> RowSums {
    return RowSums(subgroupAdd(acc.a), subgroupAdd(acc.b));
}
