//! The brokers' side of the wire: connections, framing, one request at a time per
//! connection (Kafka mutes a connection until its response is sent, so a parked
//! Fetch holds back the requests behind it), dispatch by API key, the response
//! frames, and the cluster's timers (parked fetches).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{encode_response_frame, FrameDecoder, RequestHeader};
use kasio_core::protocol::messages::api_versions_response::ApiVersion;
use kasio_core::protocol::messages::ApiVersionsResponse;
use kasio_core::protocol::{ApiKey, ErrorCode, Message};
use kasio_core::time::Instant;

use super::cluster::Cluster;
use super::fetch::Parked;

/// A client connection to one broker, named by the driver (the simulated network
/// or the TCP server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerConn(pub u64);

/// What the cluster wants the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write one response frame (size prefix included) to the client.
    Send {
        /// The connection.
        conn: ServerConn,
        /// The frame.
        data: Bytes,
        /// For a Fetch response: what it carries per partition (for memory
        /// accounting by checkers).
        fetched: Vec<Fetched>,
    },
    /// Close the connection (the broker crashed, or the request was one Kafka
    /// closes the connection for).
    Close {
        /// The connection.
        conn: ServerConn,
    },
}

/// Record data one Fetch response carries for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The fetch offset.
    pub from: i64,
    /// One past the last offset of the last whole batch (where the client's next
    /// fetch starts).
    pub end: i64,
    /// Bytes of record data.
    pub bytes: usize,
    /// The partition's leader epoch when the response was made.
    pub leader_epoch: i32,
    /// When the broker got the request (a client sent it before then).
    pub requested_at: Instant,
}

/// The largest request a broker reads (Kafka's `socket.request.max.bytes`).
const MAX_REQUEST: usize = 100 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Conn {
    pub broker: i32,
    frames: FrameDecoder,
    inbox: VecDeque<Bytes>,
    /// The Fetch this connection waits on, if any.
    pub parked: Option<Parked>,
    /// A JoinGroup or SyncGroup of this connection waits for its group.
    pub group_wait: bool,
    /// SASL authentication (on a SASL listener, see [`super::sasl_server`]).
    pub(crate) auth: super::sasl_server::ConnAuth,
}

/// What handling one request came to.
pub(crate) enum Reply {
    /// A response frame, now.
    Frame(Bytes),
    /// A Fetch waiting for data or its deadline.
    Park(Parked),
    /// The group coordinator answers later (a JoinGroup or SyncGroup waiting for
    /// the rest of the group); the connection waits.
    Wait,
    /// Close the connection instead of answering.
    Close,
    /// Send the frame, then close the connection (a failed SASL exchange).
    FrameThenClose(Bytes),
    /// No response at all (a Produce with acks=0); the next request goes on.
    Nothing,
}

/// Encodes a response frame: size, header, body.
pub(crate) fn response_frame<M: Message>(api: ApiKey, version: i16, corr: i32, body: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(256);
    encode_response_frame(&mut buf, api, version, corr, body)
        .unwrap_or_else(|e| panic!("simulated broker cannot encode {api:?} v{version}: {e:?}"));
    buf.freeze()
}

/// The content of `data`, which holds exactly one whole frame (a response the
/// cluster sent, a request a scripted member made).
pub(crate) fn unframe(data: Bytes) -> Bytes {
    let mut frames = FrameDecoder::new(usize::MAX);
    frames.push_bytes(data);
    let frame = frames
        .next_frame()
        .expect("framing")
        .expect("a whole frame");
    assert_eq!(frames.buffered(), 0, "bytes after the frame");
    frame
}

/// A decoded request header with the body after it.
pub(crate) struct Req {
    pub client_id: Option<String>,
    pub api: ApiKey,
    pub version: i16,
    pub corr: i32,
    pub body: Bytes,
}

impl Req {
    /// Answers this request with `body`, at its version, now.
    pub(crate) fn reply<M: Message>(&self, body: &M) -> Option<Reply> {
        Some(Reply::Frame(response_frame(
            self.api,
            self.version,
            self.corr,
            body,
        )))
    }
}

impl Cluster {
    /// A client connected to `broker`. Returns `false` (connection refused) when
    /// the broker is down.
    pub fn handle_connect(&mut self, now: Instant, broker: i32, conn: ServerConn) -> bool {
        self.advance(now);
        if !self.is_up(broker) {
            return false;
        }
        self.conns.insert(
            conn,
            Conn {
                broker,
                frames: FrameDecoder::new(MAX_REQUEST),
                inbox: VecDeque::new(),
                parked: None,
                group_wait: false,
                auth: Default::default(),
            },
        );
        true
    }

    /// The client closed `conn` (or the network lost it). Its parked request is
    /// dropped; its fetch session stays, as on a real broker.
    pub fn handle_disconnect(&mut self, now: Instant, conn: ServerConn) {
        self.advance(now);
        self.conns.remove(&conn);
    }

    /// Bytes from the client, in any chunking.
    pub fn handle_input(&mut self, now: Instant, conn: ServerConn, data: &[u8]) {
        self.advance(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.frames.push(data);
        loop {
            match c.frames.next_frame() {
                Ok(Some(frame)) => c.inbox.push_back(frame),
                Ok(None) => break,
                Err(e) => {
                    let what = format!("conn {}: bad framing: {e:?}", conn.0);
                    self.violation(what);
                    self.close(conn);
                    return;
                }
            }
        }
        self.pump(conn);
    }

    /// One complete request frame (without its size prefix) from the client on
    /// `conn` to `broker`; a connection not seen before is accepted if the broker is
    /// up. Responses come out of [`poll_output`](Self::poll_output).
    pub fn handle_frame(&mut self, broker: i32, conn: ServerConn, now: Instant, frame: Bytes) {
        self.advance(now);
        if !self.conns.contains_key(&conn) && !self.handle_connect(now, broker, conn) {
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbox.push_back(frame);
        }
        self.pump(conn);
    }

    /// The next thing for the driver to do. Drain after every input (including
    /// simulation-side calls such as `produce`, which can complete parked fetches).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.dirty {
            self.dirty = false;
            // Appends replicate (at once without lag) before parked fetches look.
            self.replicate();
            self.wake_parked(false);
        }
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let parked = self
            .conns
            .values()
            .filter_map(|c| c.parked.as_ref().map(|p| p.deadline));
        parked
            .chain(self.coordinator.next_deadline())
            .chain(self.replication_deadline())
            .min()
    }

    /// Time passed: followers fetch and the ISR shrinks as due, parked fetches
    /// whose wait is over are answered, group sessions expire. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.replicate();
        self.wake_parked(true);
        self.group_timeouts();
    }

    pub(crate) fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn close(&mut self, conn: ServerConn) {
        if self.conns.remove(&conn).is_some() {
            self.outputs.push_back(Output::Close { conn });
        }
    }

    /// Handles queued requests on `conn` until one parks or none is left.
    pub(crate) fn pump(&mut self, conn: ServerConn) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.parked.is_some() || c.group_wait {
                return;
            }
            let Some(frame) = c.inbox.pop_front() else {
                return;
            };
            let broker = c.broker;
            self.current = Some(conn);
            let reply = self.dispatch(broker, conn, frame);
            self.current = None;
            match reply {
                Reply::Frame(data) => {
                    let fetched = std::mem::take(&mut self.fetched);
                    self.outputs.push_back(Output::Send {
                        conn,
                        data,
                        fetched,
                    })
                }
                Reply::Park(p) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.parked = Some(p);
                    }
                }
                // The coordinator marked the connection (or already answered).
                Reply::Wait | Reply::Nothing => {}
                Reply::Close => {
                    self.close(conn);
                    return;
                }
                Reply::FrameThenClose(data) => {
                    self.outputs.push_back(Output::Send {
                        conn,
                        data,
                        fetched: Vec::new(),
                    });
                    self.close(conn);
                    return;
                }
            }
        }
    }

    /// Re-evaluates parked fetches (after a change, or at their deadlines).
    fn wake_parked(&mut self, timers: bool) {
        let waiting: Vec<ServerConn> = self
            .conns
            .iter()
            .filter(|(_, c)| c.parked.is_some())
            .map(|(id, _)| *id)
            .collect();
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let Some(parked) = c.parked.take() else {
                continue;
            };
            let broker = c.broker;
            let expired = timers && self.now >= parked.deadline;
            self.current = Some(conn);
            let done = self.complete_parked(broker, parked, expired);
            self.current = None;
            match done {
                Ok(data) => {
                    let fetched = std::mem::take(&mut self.fetched);
                    self.outputs.push_back(Output::Send {
                        conn,
                        data,
                        fetched,
                    });
                    self.pump(conn);
                }
                Err(parked) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.parked = Some(parked);
                    }
                }
            }
        }
    }

    fn dispatch(&mut self, broker: i32, conn: ServerConn, frame: Bytes) -> Reply {
        let Ok((key, version, corr)) = RequestHeader::peek(&frame) else {
            self.violation(format!(
                "b{broker} conn {}: truncated request header",
                conn.0
            ));
            return Reply::Close;
        };
        if let Some(why) = self.sasl_refuses(conn, key) {
            // Kafka closes a SASL connection that sends anything but ApiVersions
            // and the SASL requests before it is authenticated, or once its
            // session expired (KIP-368: the client must re-authenticate first).
            self.note(broker, format!("API key {key} {why}: closing"));
            self.violation(format!("b{broker} conn {}: API key {key} {why}", conn.0));
            return Reply::Close;
        }
        if super::producer::is_producer_api(key) {
            return self.dispatch_producer(broker, key, version, corr, &frame);
        }
        let Some(api) = ApiKey::from_i16(key) else {
            // Kafka closes the connection on an API key it does not know.
            self.note(broker, format!("unknown API key {key}: closing"));
            self.violation(format!("b{broker}: unknown API key {key}"));
            return Reply::Close;
        };
        let advertised = self
            .brokers
            .get(&broker)
            .and_then(|b| b.apis.get(&api))
            .copied();
        let supported = advertised.is_some_and(|(lo, hi)| (lo..=hi).contains(&version));
        if !supported {
            if api == ApiKey::ApiVersions {
                // Kafka answers an ApiVersions it cannot parse in v0, with the
                // error and its own ApiVersions range, so the client can retry.
                self.note(broker, format!("ApiVersions v{version} unsupported"));
                let body = ApiVersionsResponse {
                    error_code: ErrorCode::UnsupportedVersion.code(),
                    api_keys: self.api_versions_list(broker, Some(ApiKey::ApiVersions)),
                    ..Default::default()
                };
                return Reply::Frame(response_frame(api, 0, corr, &body));
            }
            self.note(
                broker,
                format!("{api:?} v{version} not advertised: closing"),
            );
            self.violation(format!(
                "b{broker}: {api:?} v{version} sent, advertised {advertised:?}"
            ));
            return Reply::Close;
        }
        let header_version = api.request_header_version(version);
        let (client_id, body) = match RequestHeader::decode(header_version, &frame) {
            Ok((h, body)) => (h.client_id, body),
            Err(e) => {
                self.violation(format!("b{broker}: {api:?} v{version} header: {e:?}"));
                return Reply::Close;
            }
        };
        let req = Req {
            client_id,
            api,
            version,
            corr,
            body,
        };
        match api {
            ApiKey::ApiVersions => self.handle_api_versions(broker, &req),
            ApiKey::Metadata => self.handle_metadata(broker, &req),
            ApiKey::ListOffsets => self.handle_list_offsets(broker, &req),
            ApiKey::OffsetForLeaderEpoch => self.handle_offset_for_leader_epoch(broker, &req),
            ApiKey::Fetch => self.handle_fetch(broker, &req),
            ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::DescribeGroups => self.handle_group_api(broker, conn, &req),
            ApiKey::SaslHandshake => self.handle_sasl_handshake(broker, conn, &req),
            ApiKey::SaslAuthenticate => self.handle_sasl_authenticate(broker, conn, &req),
            ApiKey::ConsumerGroupHeartbeat => Reply::Close,
        }
    }

    /// Decodes a request body; an undecodable one closes the connection.
    pub(crate) fn decode<M: Message>(&mut self, broker: i32, req: &Req) -> Option<M> {
        match M::decode_exact(req.version, &req.body) {
            Ok(m) => Some(m),
            Err(e) => {
                self.violation(format!(
                    "b{broker}: {:?} v{} does not decode: {e:?}",
                    req.api, req.version
                ));
                None
            }
        }
    }

    pub(crate) fn note(&mut self, broker: i32, line: String) {
        self.notes.push((self.current, format!("b{broker} {line}")));
    }

    /// What ApiVersions lists for `broker` (only `only`, if given).
    pub(crate) fn api_versions_list(&self, broker: i32, only: Option<ApiKey>) -> Vec<ApiVersion> {
        let Some(b) = self.brokers.get(&broker) else {
            return Vec::new();
        };
        let mut list: Vec<ApiVersion> = b
            .apis
            .iter()
            .filter(|(k, _)| only.is_none_or(|o| o == **k))
            .map(|(k, (lo, hi))| ApiVersion {
                api_key: k.key(),
                min_version: *lo,
                max_version: *hi,
            })
            .collect();
        if only.is_none() {
            list.extend(
                b.foreign_apis
                    .iter()
                    .map(|&(api_key, min_version, max_version)| ApiVersion {
                        api_key,
                        min_version,
                        max_version,
                    }),
            );
            list.sort_by_key(|a| a.api_key);
        }
        list
    }

    fn handle_api_versions(&mut self, broker: i32, req: &Req) -> Reply {
        let Some(_) =
            self.decode::<kasio_core::protocol::messages::ApiVersionsRequest>(broker, req)
        else {
            return Reply::Close;
        };
        let error = self.take_injection(broker, ApiKey::ApiVersions);
        let body = ApiVersionsResponse {
            error_code: error.map_or(0, ErrorCode::code),
            api_keys: self.api_versions_list(broker, None),
            ..Default::default()
        };
        self.note(
            broker,
            format!("ApiVersions v{} -> {:?}", req.version, error),
        );
        Reply::Frame(response_frame(req.api, req.version, req.corr, &body))
    }
}
