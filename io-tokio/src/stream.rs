//! `Stream`s over [`Consumer::recv`]: one of items, one of single records.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use kasio_core::consumer::{PartitionBatch, TopicPartition};
use kasio_core::records::Record;

use crate::item::{Error, Item, Message};
use crate::Consumer;

type RecvFuture<'a> = Pin<Box<dyn Future<Output = Result<Item, Error>> + Send + 'a>>;

/// The items of [`Consumer::recv`] as a [`Stream`]; ends when the consumer is
/// closed. From [`Consumer::stream`].
///
/// Polling it takes what is ready without allocating; only a poll that must wait
/// boxes a `recv` future (kept until it completes). Dropping the stream, or a
/// `next()` future, loses nothing (see [`Consumer::recv`]).
pub struct ItemStream<'a> {
    consumer: &'a Consumer,
    waiting: Option<RecvFuture<'a>>,
    done: bool,
}

impl<'a> ItemStream<'a> {
    pub(crate) fn new(consumer: &'a Consumer) -> Self {
        Self {
            consumer,
            waiting: None,
            done: false,
        }
    }

    /// The next item (`None` once closed), without `StreamExt`.
    pub async fn next(&mut self) -> Option<Result<Item, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for ItemStream<'_> {
    type Item = Result<Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let result = match this.waiting.as_mut() {
            Some(waiting) => ready!(waiting.as_mut().poll(cx)),
            None => match this.consumer.try_recv() {
                Some(result) => result,
                None => {
                    let mut waiting: RecvFuture<'_> = Box::pin(this.consumer.recv());
                    match waiting.as_mut().poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            this.waiting = Some(waiting);
                            return Poll::Pending;
                        }
                    }
                }
            },
        };
        this.waiting = None;
        match result {
            Err(Error::Closed) => {
                this.done = true;
                Poll::Ready(None)
            }
            other => Poll::Ready(Some(other)),
        }
    }
}

/// One record at a time, as a [`Stream`]; from [`Consumer::records`].
///
/// Built on [`ItemStream`]: each batch is taken whole from the consumer (so
/// `commit_consumed` covers the whole batch as soon as its first record is
/// yielded, as with Java's `poll`) and yielded record by record, with no allocation
/// per record. Rebalance guards are acknowledged as they pass (use
/// [`Consumer::recv`] or [`Consumer::stream`] to act on rebalances); a non-fatal
/// error is yielded as `Err(Error::Consumer(..))` and the stream goes on;
/// `Err(Error::Fatal(..))` means the consumer should be closed. Other events are
/// skipped. Ends when the consumer is closed.
///
/// Dropping the stream with records of a batch not yet yielded moves the
/// consumer's positions back to the first of them, so they are read again, not
/// lost.
pub struct RecordStream<'a> {
    items: ItemStream<'a>,
    current: Option<(Arc<TopicPartition>, std::vec::IntoIter<Record>)>,
    rest: std::vec::IntoIter<PartitionBatch>,
}

impl<'a> RecordStream<'a> {
    pub(crate) fn new(consumer: &'a Consumer) -> Self {
        Self {
            items: ItemStream::new(consumer),
            current: None,
            rest: Vec::new().into_iter(),
        }
    }

    /// The next record (`None` once closed), without `StreamExt`.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for RecordStream<'_> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some((tp, records)) = this.current.as_mut() {
                if let Some(record) = records.next() {
                    let tp = Arc::clone(tp);
                    return Poll::Ready(Some(Ok(Message { tp, record })));
                }
                this.current = None;
            }
            if let Some(batch) = this.rest.next() {
                this.current = Some((Arc::new(batch.tp), batch.records.into_iter()));
                continue;
            }
            match ready!(Pin::new(&mut this.items).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(Item::Records(records))) => this.rest = records.into_iter(),
                Some(Ok(Item::Error(e))) => {
                    return Poll::Ready(Some(Err(Error::Consumer(Box::new(e)))))
                }
                // Guards acknowledge as they drop here.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        let mut back: Vec<(TopicPartition, i64)> = Vec::new();
        if let Some((tp, records)) = self.current.take() {
            if let Some(first) = records.as_slice().first() {
                back.push(((*tp).clone(), first.offset));
            }
        }
        for batch in std::mem::take(&mut self.rest) {
            if let Some(first) = batch.records.first() {
                back.push((batch.tp, first.offset));
            }
        }
        if !back.is_empty() {
            self.items.consumer.give_back(&back);
        }
    }
}
