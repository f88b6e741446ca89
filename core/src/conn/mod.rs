//! One connection to one broker: framing, correlation ids, in-flight requests and
//! their deadlines, and the ApiVersions exchange that opens every connection.
//!
//! A [`Connection`] does not know what its requests are for: each carries a
//! caller-chosen purpose `P`, handed back with the response (or with the failure),
//! so the state machine that sent a request is the one that handles its answer.

use alloc::collections::VecDeque;
use alloc::string::String;

use bytes::{Bytes, BytesMut};

use crate::codec::{encode_request_frame, DecodeError, EncodeError, FrameDecoder, ResponseHeader};
use crate::protocol::messages::ApiVersionsRequest;
use crate::protocol::versions::NegotiationOutcome;
use crate::protocol::{ApiKey, ApiVersionsNegotiation, ErrorCode, NegotiatedVersions, Request};
use crate::time::{Duration, Instant};

/// A connection handle minted by the core. Ids are never reused, so a stale id (a
/// driver reporting on a connection the core already dropped) is recognised and
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId(pub u64);

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// The driver was asked to connect; no answer yet.
    Connecting,
    /// Connected; the ApiVersions exchange is under way.
    Negotiating,
    /// Ready for requests at the negotiated versions.
    Ready,
}

/// Why a connection must be closed. The owner closes it, fails its in-flight
/// requests and reconnects after a backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnError {
    /// The frame or a response did not decode.
    Decode(DecodeError),
    /// A response arrived with a correlation id other than the oldest in flight
    /// (Kafka answers in order), or with none in flight.
    CorrelationMismatch {
        /// What was expected (`None`: nothing in flight).
        expected: Option<i32>,
        /// What arrived.
        got: i32,
    },
    /// A request got no answer within `request.timeout.ms`.
    RequestTimeout(ApiKey),
    /// Connecting took longer than `socket.connection.setup.timeout.ms`.
    SetupTimeout,
    /// ApiVersions failed.
    Negotiation(ErrorCode),
    /// The driver reported the socket closed or broken.
    Disconnected,
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "undecodable response: {e}"),
            Self::CorrelationMismatch {
                expected: Some(expected),
                got,
            } => write!(
                f,
                "response with correlation id {got} while {expected} was expected"
            ),
            Self::CorrelationMismatch {
                expected: None,
                got,
            } => write!(f, "response with correlation id {got} to no request"),
            Self::RequestTimeout(api) => {
                write!(f, "no answer to {api:?} within request.timeout.ms")
            }
            Self::SetupTimeout => {
                f.write_str("not connected within socket.connection.setup.timeout.ms")
            }
            Self::Negotiation(code) => write!(f, "ApiVersions failed: {}", code.name()),
            Self::Disconnected => f.write_str("connection closed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnError {}

/// A request that was sent and awaits its response.
#[derive(Debug)]
struct InFlight<P> {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    deadline: Instant,
    purpose: Option<P>,
}

/// A response, matched to the request it answers.
#[derive(Debug)]
pub struct Completion<P> {
    /// The API of the request.
    pub api: ApiKey,
    /// The version the request (and so the response) used.
    pub version: i16,
    /// The purpose given with the request.
    pub purpose: P,
    /// The response body (after the header), a slice of the received frame.
    pub body: Bytes,
}

/// What [`Connection::next_incoming`] produced.
#[derive(Debug)]
pub enum Incoming<P> {
    /// A response to one of the owner's requests.
    Response(Completion<P>),
    /// The ApiVersions exchange finished: the connection is ready.
    Ready,
}

/// One broker connection.
#[derive(Debug)]
pub struct Connection<P> {
    id: ConnId,
    state: ConnState,
    client_id: Option<String>,
    frames: FrameDecoder,
    outbox: VecDeque<Bytes>,
    in_flight: VecDeque<InFlight<P>>,
    next_correlation: i32,
    negotiation: ApiVersionsNegotiation,
    versions: NegotiatedVersions,
    request_timeout: Duration,
    setup_deadline: Instant,
    ours: fn(ApiKey) -> (i16, i16),
}

/// How a connection is set up.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// `client.id`, sent in every request header.
    pub client_id: Option<String>,
    /// The largest response frame accepted (`receive.message.max.bytes`).
    pub max_frame: usize,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// The versions of each API the owner can use; negotiation picks the highest the
    /// broker also speaks.
    pub versions: fn(ApiKey) -> (i16, i16),
}

impl<P> Connection<P> {
    /// A connection that the driver is about to open; it must be connected by
    /// `setup_deadline`.
    pub fn new(id: ConnId, settings: &ConnSettings, setup_deadline: Instant) -> Self {
        Self {
            id,
            state: ConnState::Connecting,
            client_id: settings.client_id.clone(),
            frames: FrameDecoder::new(settings.max_frame),
            outbox: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_correlation: 0,
            negotiation: ApiVersionsNegotiation::new(),
            versions: NegotiatedVersions::default(),
            request_timeout: settings.request_timeout,
            setup_deadline,
            ours: settings.versions,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where the connection is.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Whether requests may be sent.
    pub fn is_ready(&self) -> bool {
        self.state == ConnState::Ready
    }

    /// The negotiated versions (meaningful once ready).
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    /// Requests awaiting a response.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether an in-flight request has this purpose.
    pub fn has_in_flight(&self, mut pred: impl FnMut(&P) -> bool) -> bool {
        self.in_flight
            .iter()
            .any(|r| r.purpose.as_ref().is_some_and(&mut pred))
    }

    /// The driver connected: start the ApiVersions exchange.
    pub fn on_connected(&mut self, now: Instant) -> Result<(), EncodeError> {
        if self.state != ConnState::Connecting {
            return Ok(());
        }
        self.state = ConnState::Negotiating;
        self.send_api_versions(now)
    }

    fn send_api_versions(&mut self, now: Instant) -> Result<(), EncodeError> {
        let req = ApiVersionsRequest {
            client_software_name: String::from("kasio"),
            client_software_version: String::from(env!("CARGO_PKG_VERSION")),
        };
        let version = self.negotiation.request_version();
        self.enqueue(&req, version, None, now, self.request_timeout)
    }

    /// Queues a request at the negotiated `version`; `purpose` comes back with the
    /// response.
    pub fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        purpose: P,
        now: Instant,
    ) -> Result<(), EncodeError> {
        self.enqueue(req, version, Some(purpose), now, self.request_timeout)
    }

    /// As [`send`](Self::send), with its own timeout instead of
    /// `request.timeout.ms` (JoinGroup may wait for the whole rebalance timeout).
    pub fn send_with_timeout<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        purpose: P,
        now: Instant,
        timeout: Duration,
    ) -> Result<(), EncodeError> {
        self.enqueue(req, version, Some(purpose), now, timeout)
    }

    fn enqueue<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        purpose: Option<P>,
        now: Instant,
        timeout: Duration,
    ) -> Result<(), EncodeError> {
        let correlation_id = self.next_correlation;
        let mut buf = BytesMut::with_capacity(64);
        let client_id = self.client_id.as_deref();
        encode_request_frame(&mut buf, version, correlation_id, client_id, req)?;
        self.next_correlation = self.next_correlation.wrapping_add(1) & i32::MAX;
        self.outbox.push_back(buf.freeze());
        self.in_flight.push_back(InFlight {
            correlation_id,
            api: R::API_KEY,
            version,
            deadline: now + timeout,
            purpose,
        });
        Ok(())
    }

    /// The next bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    /// Whether bytes are waiting to be written.
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Feeds received bytes (any chunking).
    pub fn on_input(&mut self, data: &[u8]) {
        self.frames.push(data);
    }

    /// Feeds received bytes the driver owns (any chunking); whole frames inside
    /// them are not copied.
    pub fn on_input_bytes(&mut self, data: Bytes) {
        self.frames.push_bytes(data);
    }

    /// The next complete response, if one is buffered. Errors mean the connection
    /// must be closed.
    pub fn next_incoming(&mut self, now: Instant) -> Result<Option<Incoming<P>>, ConnError> {
        loop {
            let Some(frame) = self.frames.next_frame().map_err(ConnError::Decode)? else {
                return Ok(None);
            };
            let got = ResponseHeader::peek_correlation_id(&frame).map_err(ConnError::Decode)?;
            let Some(front) = self.in_flight.front() else {
                return Err(ConnError::CorrelationMismatch {
                    expected: None,
                    got,
                });
            };
            if front.correlation_id != got {
                return Err(ConnError::CorrelationMismatch {
                    expected: Some(front.correlation_id),
                    got,
                });
            }
            let req = self.in_flight.pop_front().expect("front exists");
            let (_, body) =
                ResponseHeader::decode(req.api.response_header_version(req.version), &frame)
                    .map_err(ConnError::Decode)?;
            match req.purpose {
                Some(purpose) => {
                    return Ok(Some(Incoming::Response(Completion {
                        api: req.api,
                        version: req.version,
                        purpose,
                        body,
                    })))
                }
                None => {
                    if let Some(ready) = self.on_api_versions(&body, now)? {
                        return Ok(Some(ready));
                    }
                }
            }
        }
    }

    fn on_api_versions(
        &mut self,
        body: &Bytes,
        now: Instant,
    ) -> Result<Option<Incoming<P>>, ConnError> {
        let (resp, _) = self
            .negotiation
            .decode_response(body)
            .map_err(ConnError::Decode)?;
        match self.negotiation.on_response(&resp, self.ours) {
            NegotiationOutcome::Done(versions) => {
                self.versions = versions;
                self.state = ConnState::Ready;
                Ok(Some(Incoming::Ready))
            }
            NegotiationOutcome::Retry(_) => {
                self.send_api_versions(now)
                    .map_err(|_| ConnError::Negotiation(ErrorCode::UnsupportedVersion))?;
                Ok(None)
            }
            NegotiationOutcome::Failed(code) => Err(ConnError::Negotiation(code)),
        }
    }

    /// The earliest deadline: the setup timeout while connecting, else the oldest
    /// request's timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            ConnState::Connecting => Some(self.setup_deadline),
            _ => self.in_flight.iter().map(|r| r.deadline).min(),
        }
    }

    /// Checks deadlines at `now`.
    pub fn check_timeouts(&self, now: Instant) -> Result<(), ConnError> {
        if self.state == ConnState::Connecting {
            return if now >= self.setup_deadline {
                Err(ConnError::SetupTimeout)
            } else {
                Ok(())
            };
        }
        match self.in_flight.iter().find(|r| now >= r.deadline) {
            Some(r) => Err(ConnError::RequestTimeout(r.api)),
            None => Ok(()),
        }
    }

    /// Closes the connection; returns the purposes of every request that will now
    /// never be answered, oldest first.
    pub fn close(self) -> impl Iterator<Item = (ApiKey, P)> {
        self.in_flight
            .into_iter()
            .filter_map(|r| r.purpose.map(|p| (r.api, p)))
    }
}
