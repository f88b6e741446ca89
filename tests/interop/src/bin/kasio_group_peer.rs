//! kasio's consumer-group peer on kasio-std: a kasio-std `Consumer` in a group,
//! with the command line, JSON events and commands of the Java and librdkafka
//! peers (`scripts/rig/java/GroupConsumer.java`, `scripts/rig/group_consume.py`;
//! scripts/rig/README.md, "Group consumer peers"), so a test drives all of them
//! alike (`kasio_sim::peers::GroupPeer::kasio`). The command line, the lines and
//! how kasio's events map onto the others' callbacks are `kasio_interop::peer`'s,
//! shared with the kasio-tokio peer (`kasio_tokio_group_peer`).
//!
//! On kasio-std: commits wait with `commit_sync`, `commit_and_ack` and
//! `commit_consumed_sync` (a timed-out one's answer comes later as
//! `Event::Committed`); each poll hands out a batch, then its events.

use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use kasio_core::consumer::{Event, TopicPartition};
use kasio_core::group::RebalanceToken;
use kasio_interop::peer::{self, Input, Report, WAIT};
use kasio_std::{Consumer, SyncError};
use serde_json::{json, Map, Value};

/// What a commit commits.
enum Commit {
    /// The offsets after the records read and not committed yet (`pending`), as
    /// the other peers commit after each batch.
    Pending,
    /// Every owned partition's position, with the leader epoch of its last record
    /// (`commit_consumed`); with a token, the revoke is acknowledged after it
    /// (`commit_and_ack`).
    Consumed(Option<RebalanceToken>),
}

struct Member {
    c: Consumer,
    r: Report,
}

impl Member {
    fn generation(&self) -> (i32, String) {
        peer::generation(self.c.core())
    }

    /// Commits and waits for the answer: the pending offsets (`Commit::Pending`), or
    /// what was consumed, then acknowledging a revoke (`Commit::Consumed`).
    fn commit(&mut self, mode: &'static str, what: Commit) {
        // Records are reported before their offsets are committed: a member killed
        // right after the commit took no committed-but-unreported record with it.
        self.r.flush();
        let result = match what {
            Commit::Pending => self.c.commit_sync(self.r.pending_offsets(), WAIT),
            Commit::Consumed(Some(t)) => self.c.commit_and_ack(t, WAIT),
            Commit::Consumed(None) => self.c.commit_consumed_sync(WAIT),
        };
        match result {
            Ok(results) => {
                let gen = self.generation().0;
                self.r.commit_results(mode, gen, &results);
            }
            // The answer may still come: it is reported then, as `late`.
            Err(SyncError::Timeout) => self.r.commit_failed(mode, "no answer within 10 s"),
            Err(e) => self.r.commit_failed(mode, &e.to_string()),
        }
        self.r.flush();
    }

    /// Handles the events kasio has queued.
    fn events(&mut self) -> Result<(), ()> {
        while let Some(event) = self.c.next_event() {
            self.event(event)?;
        }
        Ok(())
    }

    fn event(&mut self, event: Event) -> Result<(), ()> {
        match event {
            Event::Assigned { partitions } => {
                self.r.assigned(&partitions);
                if self.r.paused && !partitions.is_empty() {
                    let _ = self.c.core_mut().pause(&partitions);
                }
                let gen = self.generation();
                self.r.rebalance("assigned", &partitions, gen);
            }
            Event::Revoked { partitions, token } => {
                let gen = self.generation();
                if self.r.auto_commit {
                    // The core committed what was consumed before the event.
                    let _ = self.c.ack_rebalance(token);
                } else {
                    self.commit("revoke", Commit::Consumed(Some(token)));
                }
                self.r.drop_partitions(&partitions);
                self.r.rebalance("revoked", &partitions, gen);
            }
            Event::Lost { partitions, token } => {
                let _ = self.c.ack_rebalance(token);
                self.r.drop_partitions(&partitions);
                let gen = self.generation();
                self.r.rebalance("lost", &partitions, gen);
            }
            Event::Committed { results, .. } => {
                let gen = self.generation().0;
                let mode = self.r.unawaited_mode();
                self.r.commit_results(mode, gen, &results);
            }
            Event::Error(e) => self.r.error(false, &e.to_string()),
            Event::Fatal(e) => {
                self.r.error(true, &e.to_string());
                return Err(());
            }
            _ => {}
        }
        Ok(())
    }

    /// One poll: the records, the events, then (manual mode) the commit.
    fn poll(&mut self, timeout: Duration) -> Result<(), ()> {
        self.r.trace(self.c.core());
        let batch = self.c.poll(timeout);
        for (tp, r) in batch.iter() {
            self.r.record(tp, r);
        }
        self.events()?;
        if !self.r.auto_commit {
            self.r.retain_owned();
            if !batch.is_empty() {
                self.commit("sync", Commit::Pending);
            } else if !self.r.pending.is_empty() {
                self.commit("retry", Commit::Pending);
            }
        }
        self.events()?;
        self.r.flush();
        Ok(())
    }

    /// Closes the consumer: manual mode commits what was consumed first (as the
    /// other peers do in their revoke callback); kasio's close revokes, commits
    /// (auto-commit) and leaves (dynamic members).
    fn close(&mut self) {
        if !self.r.auto_commit && !self.r.pending.is_empty() {
            self.commit("revoke", Commit::Pending);
        }
        let gen = self.generation();
        self.c.core_mut().close();
        self.c.run_until(WAIT, |c| c.is_closed());
        while let Some(event) = self.c.next_event() {
            match event {
                Event::Revoked { partitions, .. } => {
                    self.r.drop_partitions(&partitions);
                    self.r.rebalance("revoked", &partitions, gen.clone());
                }
                other => {
                    let _ = self.event(other);
                }
            }
        }
        self.r.flush();
    }

    /// Answers one command; false when the member should exit.
    fn handle(&mut self, cmd: &Map<String, Value>) -> Result<bool, String> {
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
                let core = self.c.core_mut();
                let r = if self.r.paused {
                    core.pause(&owned)
                } else {
                    core.resume(&owned)
                };
                r.map_err(|e| e.to_string())?;
            }
            "committed" => {
                let parts = peer::committed_partitions(cmd, &self.r.owned)?;
                let got = self.c.committed(parts, WAIT).map_err(|e| e.to_string())?;
                ans["offsets"] = peer::committed_offsets(got)?;
            }
            "commit" => {
                self.commit("command", Commit::Consumed(None));
                ans["offsets"] = self
                    .r
                    .owned
                    .iter()
                    .map(|tp| {
                        json!([
                            tp.topic,
                            tp.partition,
                            self.c.core().position(tp).ok().flatten()
                        ])
                    })
                    .collect();
            }
            "stop" => {
                peer::check_stop(cmd, self.r.static_member)?;
                self.close();
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

    fn run(&mut self, poll: Duration, commands: &Receiver<Input>) -> u8 {
        loop {
            while let Ok(input) = commands.try_recv() {
                let cmd = match input {
                    Input::Eof => {
                        self.close();
                        return 0;
                    }
                    Input::Bad(e) => {
                        self.r.emit(json!({"ok": false, "id": null, "error": e}));
                        self.r.flush();
                        continue;
                    }
                    Input::Command(cmd) => cmd,
                };
                match self.handle(&cmd) {
                    Ok(true) => {}
                    Ok(false) => return 0,
                    Err(e) => {
                        self.r.emit(peer::error_answer(&cmd, &e));
                        self.r.flush();
                    }
                }
            }
            if self.poll(poll).is_err() {
                self.close();
                return 1;
            }
        }
    }
}

fn main() -> ExitCode {
    let client = concat!("kasio-std ", env!("CARGO_PKG_VERSION"));
    let Some((a, c, r)) = peer::start("kasio", client, |a, config| {
        let mut c = Consumer::new(config);
        c.subscribe(a.topics.clone()).map_err(|e| e.to_string())?;
        Ok(c)
    }) else {
        return ExitCode::from(2);
    };
    let (tx, rx) = channel();
    peer::read_stdin(move |input| tx.send(input).is_ok());
    let mut m = Member { c, r };
    ExitCode::from(m.run(Duration::from_millis(a.poll_ms), &rx))
}
