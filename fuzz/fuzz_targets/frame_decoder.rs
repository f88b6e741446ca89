//! The frame decoder under arbitrary chunking: frames come out the same whatever the
//! chunk sizes, whether chunks come in copied (`push`), owned (`push_bytes`) or
//! mixed, and an oversized length is an error, never an allocation.
#![no_main]

use bytes::Bytes;
use kasio_core::codec::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (stream, chunk_sizes) = input;
    let stream = Bytes::from(stream);
    // Chunk `i` goes in through `push_bytes` if `owned(i)`, else through `push`.
    let run = |sizes: &mut dyn Iterator<Item = usize>, owned: &dyn Fn(usize) -> bool| {
        let mut d = FrameDecoder::new(1 << 16);
        let mut frames = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < stream.len() {
            let n = sizes
                .next()
                .unwrap_or(stream.len() - at)
                .clamp(1, stream.len() - at);
            let chunk = stream.slice(at..at + n);
            if owned(i) {
                d.push_bytes(chunk);
            } else {
                d.push(&chunk);
            }
            at += n;
            i += 1;
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
    let sizes = || {
        chunk_sizes
            .iter()
            .map(|&b| usize::from(b))
            .chain(std::iter::repeat(1))
    };
    let whole = run(&mut std::iter::empty(), &|_| false);
    assert_eq!(whole, run(&mut std::iter::empty(), &|_| true));
    assert_eq!(whole, run(&mut sizes(), &|_| false));
    assert_eq!(whole, run(&mut sizes(), &|_| true));
    // Mixed: the low bit of each chunk's size picks the way in.
    let mixed = |i: usize| chunk_sizes.get(i).is_some_and(|b| b & 1 == 1);
    assert_eq!(whole, run(&mut sizes(), &mixed));
});
