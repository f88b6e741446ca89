//! Iterating every record and header of an uncompressed batch allocates nothing: a
//! counting global allocator proves it. It counts only the allocations of the
//! thread that iterates: the test harness's own threads (output capture, timers)
//! may allocate meanwhile, and on a loaded machine did.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use kasio_core::records::{batches, BatchBuilder, DecodeOptions, Fetched, PartitionRecords};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Whether this thread's allocations count (only the iterating thread's).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTED.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn iterating_an_uncompressed_batch_allocates_nothing() {
    let mut b = BatchBuilder::new(0);
    let value = [b'v'; 100];
    for i in 0..500u32 {
        let key = i.to_be_bytes();
        b.push(
            i64::from(i),
            Some(&key),
            Some(&value),
            &[("trace-id", Some(b"abc")), ("null", None)],
        );
    }
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    let frame = buf.freeze();
    // In the consumer the records are a slice of the Fetch response frame, so the
    // buffer is already shared. `bytes` allocates its shared header on the first
    // slice of a `Vec`-backed buffer; take that slice here, as response decoding does.
    let records = frame.slice(..);

    let opts = DecodeOptions::default();
    COUNTED.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let (mut n, mut headers, mut bytes) = (0usize, 0usize, 0usize);
    for batch in batches(records.clone(), opts) {
        for record in batch.unwrap().records(&opts).unwrap() {
            let record = record.unwrap();
            n += 1;
            bytes += record.key.as_ref().map_or(0, |k| k.len())
                + record.value.as_ref().map_or(0, |v| v.len());
            for h in record.headers() {
                headers += 1;
                bytes += h.key.len() + h.value.map_or(0, <[u8]>::len);
            }
        }
    }
    // The borrowed view.
    for batch in batches(records.clone(), opts) {
        let mut recs = batch.unwrap().records(&opts).unwrap();
        while let Some(r) = recs.next_ref() {
            let r = r.unwrap();
            n += 1;
            bytes += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
            for h in r.headers() {
                headers += 1;
                bytes += h.key.len() + h.value.map_or(0, <[u8]>::len);
            }
        }
    }
    // The same through the partition-level iterator.
    for f in PartitionRecords::new(records, 0, opts) {
        match f.unwrap() {
            Fetched::Record(r) => headers += r.headers.iter().count(),
            Fetched::Control(_) => unreachable!(),
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!((n, headers), (1000, 3000));
    assert!(bytes > 500 * 100);
    assert_eq!(allocations, 0, "allocations while iterating");
}
