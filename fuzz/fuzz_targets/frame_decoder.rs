//! The frame decoder under arbitrary chunking: frames come out the same whatever the
//! chunk sizes, and an oversized length is an error, never an allocation.
#![no_main]

use kasio_core::codec::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (stream, chunk_sizes) = input;
    let run = |sizes: &mut dyn Iterator<Item = usize>| {
        let mut d = FrameDecoder::new(1 << 16);
        let mut frames = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(e) => return (frames, Some(e.kind)),
                }
            }
        }
        (frames, None)
    };
    let whole = run(&mut std::iter::empty());
    let chunked = run(&mut chunk_sizes
        .iter()
        .map(|&b| usize::from(b))
        .chain(std::iter::repeat(1)));
    assert_eq!(whole, chunked);
});
