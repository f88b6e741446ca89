//! Record batch decoding throughput (criterion).
//!
//! For each input, three decoders run on the same bytes in the same run:
//! - `kasio`: walk the batches (CRC32C checked), iterate every record as a borrowed
//!   view (`Records::next_ref`), touch the key and value and iterate every header;
//! - `kasio_owned`: the same through `Iterator`, which yields owned `Record`s whose
//!   key, value and headers are `Bytes` (a reference-count bump each);
//! - `crc_only`: only CRC32C over the bytes the batch CRCs cover — the floor no
//!   decoder that checks CRCs can beat;
//! - `kafka_protocol`: the `kafka-protocol` crate's `RecordBatchDecoder` (also checks
//!   CRCs; materialises records into `Vec`s and headers into maps).
//!
//! Grid: value size {10, 100, 1000, 10000} B × records per batch {1, 10, 500} ×
//! headers {0, 2}, uncompressed; and each codec at 100 B × 500 records. Every input
//! holds at least 500 records (several batches when a batch holds fewer).
//!
//! `scripts/bench.sh` runs this and turns criterion's estimates plus the input table
//! this writes (`target/criterion/kasio-inputs.tsv`) into `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kasio_core::records::{batches, crc::crc32c, BatchBuilder, Compression, DecodeOptions};

struct Input {
    id: String,
    data: Bytes,
    records: usize,
}

fn input(value_size: usize, per_batch: usize, headers: usize, codec: Compression) -> Input {
    let batches_needed = 500usize.div_ceil(per_batch);
    let value: Vec<u8> = (0..value_size).map(|i| b'a' + (i % 23) as u8).collect();
    let header_values = [
        ("trace-id", Some(&b"4bf92f3577b34da6"[..])),
        ("source", Some(&b"bench"[..])),
    ];
    let mut buf = BytesMut::new();
    let mut offset = 0i64;
    for _ in 0..batches_needed {
        let mut b = BatchBuilder::new(offset).with_compression(codec);
        for i in 0..per_batch {
            let key = format!("key-{i:06}");
            b.push(
                1_700_000_000_000 + i as i64,
                Some(key.as_bytes()),
                Some(&value),
                &header_values[..headers],
            );
        }
        b.encode(&mut buf).unwrap();
        offset += per_batch as i64;
    }
    let id = format!("{}/v{value_size}_r{per_batch}_h{headers}", codec.name());
    // The frame a Fetch response is decoded from is shared already; so is this.
    let data = buf.freeze().slice(..);
    Input {
        id,
        data,
        records: batches_needed * per_batch,
    }
}

/// Our decoder, borrowed view (`Records::next_ref`): every record and header touched.
fn kasio(data: &Bytes, opts: &DecodeOptions) -> usize {
    let mut sum = 0;
    for batch in batches(data.clone(), *opts) {
        let mut records = batch.unwrap().into_records(opts).unwrap();
        while let Some(r) = records.next_ref() {
            let r = r.unwrap();
            sum += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
            for h in r.headers() {
                sum += h.key.len() + h.value.map_or(0, <[u8]>::len);
            }
        }
    }
    sum
}

/// Our decoder, owned records (`Iterator`: key, value and headers as `Bytes`).
fn kasio_owned(data: &Bytes, opts: &DecodeOptions) -> usize {
    let mut sum = 0;
    for batch in batches(data.clone(), *opts) {
        for r in batch.unwrap().into_records(opts).unwrap() {
            let r = r.unwrap();
            sum += r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
            for h in r.headers() {
                sum += h.key.len() + h.value.map_or(0, <[u8]>::len);
            }
        }
    }
    sum
}

/// CRC32C over what the batch CRCs cover (all but the first 21 bytes of each batch).
fn crc_only(data: &Bytes) -> u32 {
    let mut acc = 0;
    let mut rest = &data[..];
    while rest.len() >= 12 {
        let len = 12 + i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]) as usize;
        acc ^= crc32c(&rest[21..len]);
        rest = &rest[len..];
    }
    acc
}

fn kafka_protocol(data: &Bytes) -> usize {
    let mut buf = data.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
    let mut sum = 0;
    for set in sets {
        for r in set.records {
            sum += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len());
            for (k, v) in r.headers {
                sum += k.len() + v.map_or(0, |v| v.len());
            }
        }
    }
    sum
}

fn run(c: &mut Criterion, group_name: &str, inputs: &[Input]) {
    let opts = DecodeOptions::default();
    let mut group = c.benchmark_group(group_name);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    for input in inputs {
        // Sanity: both decoders see the same records.
        assert_eq!(
            kasio(&input.data, &opts),
            kafka_protocol(&input.data),
            "{}",
            input.id
        );
        assert_eq!(
            kasio_owned(&input.data, &opts),
            kafka_protocol(&input.data),
            "{}",
            input.id
        );
        group.throughput(Throughput::Elements(input.records as u64));
        group.bench_with_input(BenchmarkId::new("kasio", &input.id), &input.data, |b, d| {
            b.iter(|| kasio(black_box(d), &opts))
        });
        group.bench_with_input(
            BenchmarkId::new("kasio_owned", &input.id),
            &input.data,
            |b, d| b.iter(|| kasio_owned(black_box(d), &opts)),
        );
        group.bench_with_input(
            BenchmarkId::new("crc_only", &input.id),
            &input.data,
            |b, d| b.iter(|| crc_only(black_box(d))),
        );
        group.bench_with_input(
            BenchmarkId::new("kafka_protocol", &input.id),
            &input.data,
            |b, d| b.iter(|| kafka_protocol(black_box(d))),
        );
    }
    group.finish();
}

fn write_inputs(inputs: &[&Input]) {
    let mut tsv = String::from("group_id\trecords\tbytes\n");
    for i in inputs {
        let _ = writeln!(tsv, "{}\t{}\t{}", i.id, i.records, i.data.len());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("kasio-inputs.tsv"), tsv);
}

fn benches(c: &mut Criterion) {
    let mut grid = Vec::new();
    for value in [10, 100, 1000, 10000] {
        for per_batch in [1, 10, 500] {
            for headers in [0, 2] {
                grid.push(input(value, per_batch, headers, Compression::None));
            }
        }
    }
    let codecs: Vec<Input> = Compression::ALL
        .into_iter()
        .map(|codec| input(100, 500, 0, codec))
        .collect();
    write_inputs(&grid.iter().chain(&codecs).collect::<Vec<_>>());
    run(c, "uncompressed", &grid);
    run(c, "codecs", &codecs);
}

criterion_group!(records, benches);
criterion_main!(records);
