//! The streaming contract of `Gguf::parse_prefix`, which the browser relies on to read a
//! multi-GB file's header with a few range requests: grow a prefix of the input, parse it
//! again each time, and check that the answers agree with each other and with `from_bytes`.
//!
//! For prefixes of lengths k1 < k2 of the same bytes:
//! - `NeedBytes(n)` at k1 asks for more than it has (n > k1), and is a lower bound: k2 < n
//!   never completes, and a later `NeedBytes` never asks for less (monotone);
//! - an error at k1 is the same error at k2 (it was found in bytes both have);
//! - `Complete` at k1 is the same header at k2 (the header does not depend on what follows);
//! - on the whole input, `from_bytes` agrees: the same header (or tensors past the end), the
//!   same error, or `Truncated` with the same need.

#![no_main]

use lfm_webgpu::gguf::{Gguf, GgufError, Parsed};
use libfuzzer_sys::fuzz_target;

/// One parse, comparable: headers as their Debug text (`Value::F32(NaN)` is not `==` itself).
#[derive(Debug, PartialEq)]
enum Outcome {
    Need(u64),
    Complete(String),
    Error(GgufError),
}

fn parse(prefix: &[u8]) -> Outcome {
    match Gguf::parse_prefix(prefix) {
        Ok(Parsed::NeedBytes(n)) => Outcome::Need(n),
        Ok(Parsed::Complete(g)) => Outcome::Complete(format!("{g:?}")),
        Err(e) => Outcome::Error(e),
    }
}

fuzz_target!(|data: &[u8]| {
    let len = data.len();
    // Prefix lengths to try: every short one, the walks a streaming reader makes (exactly what
    // is asked; the browser's doubling), one byte short of each ask, and the whole input.
    // Parsing every prefix of a long input would be quadratic.
    let mut lens: Vec<usize> = (0..=len.min(64)).collect();
    for doubling in [false, true] {
        let mut have = if doubling { len / 3 } else { 0 };
        while let Outcome::Need(n) = parse(&data[..have]) {
            assert!(n > have as u64, "a prefix of {have} bytes asked for {n}");
            lens.push(n as usize - 1);
            if n > len as u64 {
                break;
            }
            have = if doubling { (n as usize).max(2 * have).min(len) } else { n as usize };
            lens.push(have);
        }
    }
    lens.push(len);
    lens.retain(|&k| k <= len);
    lens.sort_unstable();
    lens.dedup();

    let mut prev: Option<(usize, Outcome)> = None;
    for &k in &lens {
        let now = parse(&data[..k]);
        if let Outcome::Need(n) = now {
            assert!(n > k as u64, "a prefix of {k} bytes asked for {n}");
        }
        if let Some((pk, before)) = &prev {
            match (before, &now) {
                (Outcome::Need(a), Outcome::Need(b)) => assert!(b >= a, "{pk} bytes asked for {a}, {k} for {b}"),
                (Outcome::Need(a), Outcome::Complete(_)) => {
                    assert!(k as u64 >= *a, "{pk} bytes asked for {a} but {k} completed")
                }
                (Outcome::Need(_), Outcome::Error(_)) => {} // the new bytes hold the error
                (Outcome::Error(_) | Outcome::Complete(_), _) => {
                    assert_eq!(before, &now, "{pk} bytes then {k} bytes")
                }
            }
        }
        prev = Some((k, now));
    }

    let (_, last) = prev.expect("the whole input was parsed");
    match (last, Gguf::from_bytes(data)) {
        (Outcome::Complete(h), Ok(g)) => assert_eq!(h, format!("{g:?}")),
        (Outcome::Complete(_), Err(GgufError::TensorOutOfFile { .. })) => {}
        (Outcome::Need(n), Err(GgufError::Truncated { have, need })) => assert_eq!((have, need), (len as u64, n)),
        (Outcome::Error(e), Err(f)) => assert_eq!(e, f),
        (last, whole) => panic!("parse_prefix gave {last:?} but from_bytes {whole:?}"),
    }
});
