//! kasio's consumer-group peer on kasio-tokio: a `kasio_tokio::Consumer` in a
//! group, with exactly the command line, JSON events and commands of the kasio-std
//! peer (`kasio_group_peer`) and the Java and librdkafka peers (scripts/rig/README.md,
//! "Group consumer peers"); `kasio_sim::peers::GroupPeer::kasio_tokio` starts it.
//! The command line, the lines and how kasio's items map onto the others'
//! callbacks are `kasio_interop::peer`'s, shared with the kasio-std peer.
//!
//! On kasio-tokio: one task awaits [`Consumer::recv`] (at most `--poll-ms`; an
//! empty wait is an empty poll) or a command, whichever comes first (`recv` is
//! cancel safe: a command arriving first loses no record). Rebalances are items:
//! `Revoked` carries a guard, committed from (`commit_and_ack`, manual commits) or
//! dropped (auto-commit: the core committed before the item), `Lost` a guard that
//! is dropped. Commits are futures awaited for at most 10 s; one that times out
//! is dropped, and its answer comes as an `Item::Event(Event::Committed)`, reported
//! `late`, as are auto-commit's answers (`auto`). The driver task heartbeats and
//! fetches meanwhile, on a current-thread runtime.

use std::process::ExitCode;
use std::time::Duration;

use kasio_core::consumer::{Event, TopicPartition};
use kasio_interop::peer::{self, Input, Report, WAIT};
use kasio_tokio::{Consumer, Error, Item, Pending, RebalanceGuard};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// What a commit commits.
enum Commit {
    /// The offsets after the records read and not committed yet (`pending`), as
    /// the other peers commit after each batch.
    Pending,
    /// Every owned partition's position, with the leader epoch of its last record
    /// (`commit_consumed`).
    Consumed,
    /// The same from a revoke's guard, which acknowledges the revoke after it
    /// (`commit_and_ack`).
    Revoke(RebalanceGuard),
}

struct Member {
    c: Consumer,
    r: Report,
}

impl Member {
    fn generation(&self) -> (i32, String) {
        self.c.with_core(|core| peer::generation(core))
    }

    /// Commits and waits (at most [`WAIT`]) for the answer.
    async fn commit(&mut self, mode: &'static str, what: Commit) {
        // Records are reported before their offsets are committed: a member killed
        // right after the commit took no committed-but-unreported record with it.
        self.r.flush();
        let result = match what {
            Commit::Pending => wait(self.c.commit(self.r.pending_offsets())).await,
            Commit::Consumed => wait(self.c.commit_consumed()).await,
            // A timed-out `commit_and_ack` is dropped: that acknowledges.
            Commit::Revoke(guard) => tokio::time::timeout(WAIT, guard.commit_and_ack())
                .await
                .unwrap_or(Err(Error::Timeout)),
        };
        match result {
            Ok(results) => {
                let gen = self.generation().0;
                self.r.commit_results(mode, gen, &results);
            }
            // The answer may still come: it is reported then, as `late`.
            Err(Error::Timeout) => self.r.commit_failed(mode, "no answer within 10 s"),
            Err(e) => self.r.commit_failed(mode, &e.to_string()),
        }
        self.r.flush();
    }

    /// Handles one item; `Err` when the member must give up.
    async fn item(&mut self, item: Item) -> Result<(), ()> {
        match item {
            Item::Records(batch) => {
                for (tp, r) in batch.iter() {
                    self.r.record(tp, r);
                }
                if !self.r.auto_commit {
                    self.r.retain_owned();
                    self.commit("sync", Commit::Pending).await;
                }
            }
            Item::Assigned(partitions) => {
                self.r.assigned(&partitions);
                if self.r.paused && !partitions.is_empty() {
                    let _ = self.c.pause(&partitions);
                }
                let gen = self.generation();
                self.r.rebalance("assigned", &partitions, gen);
            }
            Item::Revoked(guard) => {
                let gen = self.generation();
                let partitions = guard.partitions().to_vec();
                if self.r.auto_commit {
                    // The core committed what was consumed before the item.
                    guard.ack();
                } else {
                    self.commit("revoke", Commit::Revoke(guard)).await;
                }
                self.r.drop_partitions(&partitions);
                self.r.rebalance("revoked", &partitions, gen);
            }
            Item::Lost(guard) => {
                let partitions = guard.partitions().to_vec();
                guard.ack();
                self.r.drop_partitions(&partitions);
                let gen = self.generation();
                self.r.rebalance("lost", &partitions, gen);
            }
            Item::Event(Event::Committed { results, .. }) => {
                let gen = self.generation().0;
                let mode = self.r.unawaited_mode();
                self.r.commit_results(mode, gen, &results);
            }
            Item::Error(e) => self.r.error(false, &e.to_string()),
            _ => {}
        }
        Ok(())
    }

    /// What one poll brought: an item, or nothing within `--poll-ms` (`None`:
    /// then, in manual mode, failed commits are retried).
    async fn polled(&mut self, got: Option<Result<Item, Error>>) -> Result<(), ()> {
        match got {
            Some(Ok(item)) => self.item(item).await?,
            // Fatal, or closed or failed under our feet: the member gives up.
            Some(Err(e)) => {
                self.r.error(true, &e.to_string());
                return Err(());
            }
            None => {
                if !self.r.auto_commit {
                    self.r.retain_owned();
                    if !self.r.pending.is_empty() {
                        self.commit("retry", Commit::Pending).await;
                    }
                }
            }
        }
        self.r.flush();
        Ok(())
    }

    /// Closes the consumer: manual mode commits what was consumed first (as the
    /// other peers do in their revoke callback); kasio's close revokes, commits
    /// (auto-commit) and leaves (dynamic members). The items close queued are
    /// reported after it.
    async fn close(&mut self) {
        if !self.r.auto_commit && !self.r.pending.is_empty() {
            self.commit("revoke", Commit::Pending).await;
        }
        let gen = self.generation();
        if let Err(e) = self.c.close(WAIT).await {
            self.r.error(false, &format!("close: {e}"));
        }
        while let Some(Ok(item)) = self.c.try_recv() {
            match item {
                // Close's own revoke: commits are refused by then; dropping the
                // guard acknowledges.
                Item::Revoked(guard) => {
                    let partitions = guard.partitions().to_vec();
                    self.r.drop_partitions(&partitions);
                    self.r.rebalance("revoked", &partitions, gen.clone());
                }
                Item::Records(_) => {}
                other => {
                    let _ = self.item(other).await;
                }
            }
        }
        self.r.flush();
    }

    /// Answers one command; false when the member should exit.
    async fn handle(&mut self, cmd: &Map<String, Value>) -> Result<bool, String> {
        let mut ans = peer::answer(cmd);
        match ans["cmd"].as_str().unwrap_or("") {
            "ping" => {}
            "status" => {
                let gen = self.generation();
                self.r.status(&mut ans, gen);
            }
            op @ ("pause" | "resume") => {
                self.r.paused = op == "pause";
                let owned: Vec<TopicPartition> = self.r.owned.iter().cloned().collect();
                let r = if self.r.paused {
                    self.c.pause(&owned)
                } else {
                    self.c.resume(&owned)
                };
                r.map_err(|e| e.to_string())?;
            }
            "committed" => {
                let parts = peer::committed_partitions(cmd, &self.r.owned)?;
                let got = wait(self.c.committed(parts))
                    .await
                    .map_err(|e| e.to_string())?;
                ans["offsets"] = peer::committed_offsets(got)?;
            }
            "commit" => {
                self.commit("command", Commit::Consumed).await;
                ans["offsets"] = self
                    .r
                    .owned
                    .iter()
                    .map(|tp| json!([tp.topic, tp.partition, self.c.position(tp).ok().flatten()]))
                    .collect();
            }
            "stop" => {
                peer::check_stop(cmd, self.r.static_member)?;
                self.close().await;
                ans["records"] = json!(self.r.records);
                self.r.emit(ans);
                self.r.flush();
                return Ok(false);
            }
            other => return Err(format!("unknown cmd {other:?}")),
        }
        self.r.emit(ans);
        self.r.flush();
        Ok(true)
    }

    /// Handles one input; false when the member should exit.
    async fn input(&mut self, input: Input) -> bool {
        let cmd = match input {
            Input::Eof => {
                self.close().await;
                return false;
            }
            Input::Bad(e) => {
                self.r.emit(json!({"ok": false, "id": null, "error": e}));
                self.r.flush();
                return true;
            }
            Input::Command(cmd) => cmd,
        };
        match self.handle(&cmd).await {
            Ok(go_on) => go_on,
            Err(e) => {
                self.r.emit(peer::error_answer(&cmd, &e));
                self.r.flush();
                true
            }
        }
    }

    async fn run(&mut self, poll: Duration, mut commands: UnboundedReceiver<Input>) -> u8 {
        loop {
            if self.r.tracing() {
                let r = &mut self.r;
                self.c.with_core(|core| r.trace(core));
            }
            // Whichever comes first: a command, or an item (at most `poll`). The
            // `recv` a command interrupts loses nothing (cancel safe); what came is
            // handled outside the race, so no commit is ever cut short.
            let next = tokio::select! {
                biased;
                input = commands.recv() => Next::Input(input.unwrap_or(Input::Eof)),
                got = tokio::time::timeout(poll, self.c.recv()) => Next::Polled(got.ok()),
            };
            match next {
                Next::Input(input) => {
                    if !self.input(input).await {
                        return 0;
                    }
                }
                Next::Polled(got) => {
                    if self.polled(got).await.is_err() {
                        self.close().await;
                        return 1;
                    }
                }
            }
        }
    }
}

/// What the main loop's wait brought.
enum Next {
    Input(Input),
    Polled(Option<Result<Item, Error>>),
}

/// A commit or query's answer, waited for at most [`WAIT`]; a future dropped then
/// lets its answer come later as an item.
async fn wait<T>(pending: Pending<T>) -> Result<T, Error> {
    tokio::time::timeout(WAIT, pending)
        .await
        .unwrap_or(Err(Error::Timeout))
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let client = concat!("kasio-tokio ", env!("CARGO_PKG_VERSION"));
    rt.block_on(async {
        let Some((a, c, r)) = peer::start("kasio-tokio", client, |a, config| {
            let c = Consumer::new(config);
            c.subscribe(a.topics.clone()).map_err(|e| e.to_string())?;
            Ok(c)
        }) else {
            return ExitCode::from(2);
        };
        let (tx, rx) = unbounded_channel();
        peer::read_stdin(move |input| tx.send(input).is_ok());
        let mut m = Member { c, r };
        ExitCode::from(m.run(Duration::from_millis(a.poll_ms), rx).await)
    })
}
