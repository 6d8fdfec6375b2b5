//! Patching the bytes of a written GGUF file, for the bad-input tests: find a tensor's info
//! and overwrite its dimensions, type or data offset in place.

/// Position of the only occurrence of `needle`.
pub fn find(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> =
        hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "{:?} occurs {} times", String::from_utf8_lossy(needle), hits.len());
    hits[0]
}

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Where the fields of tensor `name`'s info lie in a written file.
pub struct InfoAt {
    pub n_dims: usize,
    pub dims: usize,
    pub ty: usize,
    pub offset: usize,
}

/// The fields of tensor `name`'s info, found by its length-prefixed name.
pub fn info_at(bytes: &[u8], name: &str) -> InfoAt {
    let needle: Vec<u8> = (name.len() as u64).to_le_bytes().into_iter().chain(name.bytes()).collect();
    let n_dims = find(bytes, &needle) + needle.len();
    let nd = u32::from_le_bytes(bytes[n_dims..n_dims + 4].try_into().unwrap()) as usize;
    let ty = n_dims + 4 + 8 * nd;
    InfoAt { n_dims, dims: n_dims + 4, ty, offset: ty + 4 }
}
