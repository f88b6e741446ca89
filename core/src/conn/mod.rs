//! One connection to one broker: framing, correlation ids, in-flight requests and
//! their deadlines, the ApiVersions exchange that opens every connection and, with
//! [`Connection::with_sasl`], SASL authentication and re-authentication.
//!
//! ```text
//! Connecting ─▶ Negotiating ─▶ [Authenticating] ─▶ Ready ─┐
//!                (ApiVersions)  (SaslHandshake v1,    ▲    │ session lifetime
//!                                SaslAuthenticate…)   │    │ (KIP-368)
//!                                                     └────┘ Authenticating again
//! ```
//!
//! A [`Connection`] does not know what its requests are for: each carries a
//! caller-chosen purpose `P`, handed back with the response (or with the failure),
//! so the state machine that sent a request is the one that handles its answer.
//! Its own requests (ApiVersions, SASL) never reach the owner.
//!
//! Re-authentication does not mix with the owner's requests: once the session is
//! due for renewal ([`Connection::start_reauthentication`]) the connection stops
//! taking requests ([`Connection::is_ready`] is false), lets those in flight be
//! answered, then runs SaslHandshake and SaslAuthenticate alone, and takes requests
//! again when they succeed. Kafka closes a connection that sends anything but SASL
//! after its session ended, and the renewal starts at 85–95 % of the session, so
//! nothing is sent late as long as the requests in flight are answered in time.

use alloc::collections::VecDeque;
use alloc::string::String;

use bytes::{Bytes, BytesMut};

use crate::codec::{
    encode_request_frame, DecodeError, DecodeErrorKind, EncodeError, FrameDecoder, ResponseHeader,
};
use crate::protocol::messages::{
    ApiVersionsRequest, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use crate::protocol::versions::NegotiationOutcome;
use crate::protocol::{
    ApiKey, ApiVersionsNegotiation, ErrorCode, Message, NegotiatedVersions, Request,
};
use crate::sasl::{Authenticator, OAuthBearerToken, SaslError, SaslErrorKind, Step};
use crate::time::{Duration, Instant};

/// A connection handle minted by the core. Ids are never reused, so a stale id (a
/// driver reporting on a connection the core already dropped) is recognised and
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId(pub u64);

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnState {
    /// The driver was asked to connect; no answer yet.
    Connecting,
    /// Connected; the ApiVersions exchange is under way.
    Negotiating,
    /// SASL authentication (or re-authentication) is under way.
    Authenticating,
    /// Ready for requests at the negotiated versions (unless a re-authentication
    /// is due: see [`Connection::is_ready`]).
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
    /// SASL authentication failed.
    Sasl(SaslError),
    /// The driver reported the socket closed or broken.
    Disconnected,
    /// The driver's TLS handshake failed (see
    /// [`Consumer::handle_tls_failure`](crate::consumer::Consumer::handle_tls_failure)).
    Tls(TlsError),
}

/// A TLS failure a driver reports: what kind, and its own words. The core does no
/// TLS; it carries this to the application like any connection error, and
/// reconnects after the usual backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TlsError {
    /// What went wrong.
    pub kind: TlsErrorKind,
    /// The driver's description (never a secret).
    pub message: String,
}

/// What went wrong in a TLS setup or handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The broker's certificate chain ends at a CA that is not trusted
    /// (`ssl.ca.location` / `ssl.ca.pem`, or the system's roots).
    UnknownIssuer,
    /// The broker's certificate is not valid for the host name or address it was
    /// reached by (`ssl.endpoint.identification.algorithm=https`).
    NameMismatch,
    /// The broker's certificate (or one of its chain) has expired.
    Expired,
    /// The broker's certificate (or one of its chain) is not valid yet.
    NotYetValid,
    /// Another problem with the broker's certificate.
    BadCertificate,
    /// The broker requires a client certificate (mutual TLS) and none was
    /// configured (`ssl.certificate.*` and `ssl.key.*`).
    ClientCertificateRequired,
    /// The broker rejected the client certificate, or sent another alert.
    Rejected,
    /// The TLS settings themselves cannot be used (unreadable files, bad PEM, a
    /// keystore instead of PEM, a wrong key password).
    Config,
    /// Anything else (protocol errors, an I/O error during the handshake).
    Other,
}

impl TlsErrorKind {
    /// A short name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownIssuer => "certificate signed by an unknown CA",
            Self::NameMismatch => "certificate does not match the broker's name",
            Self::Expired => "certificate expired",
            Self::NotYetValid => "certificate not valid yet",
            Self::BadCertificate => "bad certificate",
            Self::ClientCertificateRequired => "client certificate required",
            Self::Rejected => "rejected by the broker",
            Self::Config => "TLS configuration",
            Self::Other => "TLS failure",
        }
    }
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TLS: {}: {}", self.kind.as_str(), self.message)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TlsError {}

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
            Self::Sasl(e) => e.fmt(f),
            Self::Disconnected => f.write_str("connection closed"),
            Self::Tls(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnError {}

/// Who waits for a response: the connection itself, or its owner.
#[derive(Debug)]
enum Owner<P> {
    ApiVersions,
    SaslHandshake,
    SaslAuthenticate,
    User(P),
}

/// A request that was sent and awaits its response.
#[derive(Debug)]
struct InFlight<P> {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    deadline: Instant,
    owner: Owner<P>,
}

/// The connection's SASL state.
#[derive(Debug)]
struct Sasl {
    auth: Authenticator,
    /// How long an OAUTHBEARER exchange waits for the owner's token.
    token_timeout: Duration,
    /// While waiting for a token: when to give up.
    token_deadline: Option<Instant>,
    /// Once authenticated with a session lifetime: when to renew (KIP-368).
    reauth_at: Option<Instant>,
    /// The renewal is due: no new requests until it is done.
    reauth_due: bool,
    /// The connection was ready before (this exchange is a renewal).
    was_ready: bool,
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
    sasl: Option<Sasl>,
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
            sasl: None,
        }
    }

    /// Authenticates with `auth` after ApiVersions, before the connection is ready
    /// (SaslHandshake v1, then SaslAuthenticate; a broker without them fails the
    /// connection with [`SaslErrorKind::BrokerTooOld`]). An OAUTHBEARER exchange
    /// waits at most `token_timeout` for [`provide_token`](Self::provide_token).
    pub fn with_sasl(mut self, auth: Authenticator, token_timeout: Duration) -> Self {
        self.sasl = Some(Sasl {
            auth,
            token_timeout,
            token_deadline: None,
            reauth_at: None,
            reauth_due: false,
            was_ready: false,
        });
        self
    }

    /// The SASL authenticator, if the connection authenticates.
    pub fn authenticator(&self) -> Option<&Authenticator> {
        self.sasl.as_ref().map(|s| &s.auth)
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where the connection is.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Whether requests may be sent: ready, and no re-authentication due.
    pub fn is_ready(&self) -> bool {
        self.state == ConnState::Ready && !self.sasl.as_ref().is_some_and(|s| s.reauth_due)
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
            .any(|r| matches!(&r.owner, Owner::User(p) if pred(p)))
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
        self.enqueue(&req, version, Owner::ApiVersions, now, self.request_timeout)
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
        self.enqueue(
            req,
            version,
            Owner::User(purpose),
            now,
            self.request_timeout,
        )
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
        self.enqueue(req, version, Owner::User(purpose), now, timeout)
    }

    fn enqueue<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        owner: Owner<P>,
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
            owner,
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
            // The owner's last answer before a due renewal has been handed out.
            self.maybe_begin_reauth(now)?;
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
            let outcome = match req.owner {
                Owner::User(purpose) => {
                    return Ok(Some(Incoming::Response(Completion {
                        api: req.api,
                        version: req.version,
                        purpose,
                        body,
                    })))
                }
                Owner::ApiVersions => self.on_api_versions(&body, now)?,
                Owner::SaslHandshake => {
                    let resp = SaslHandshakeResponse::decode(req.version, &body)
                        .map_err(ConnError::Decode)?;
                    let step = self.sasl_mut()?.auth.on_handshake(&resp);
                    self.on_sasl_step(step, now)?
                }
                Owner::SaslAuthenticate => {
                    let resp = SaslAuthenticateResponse::decode(req.version, &body)
                        .map_err(ConnError::Decode)?;
                    let step = self.sasl_mut()?.auth.on_authenticate(&resp);
                    self.on_sasl_step(step, now)?
                }
            };
            if let Some(ready) = outcome {
                return Ok(Some(ready));
            }
        }
    }

    /// The SASL state; a SASL answer on a connection without it cannot happen (only
    /// the connection sends SASL requests), but is an error rather than a panic.
    fn sasl_mut(&mut self) -> Result<&mut Sasl, ConnError> {
        self.sasl.as_mut().ok_or(ConnError::Decode(DecodeError::new(
            DecodeErrorKind::InvalidValue,
            0,
        )))
    }

    fn sasl_error(&self, kind: SaslErrorKind) -> ConnError {
        let mechanism = self
            .sasl
            .as_ref()
            .map_or(crate::config::SaslMechanism::Plain, |s| s.auth.mechanism());
        ConnError::Sasl(SaslError::new(mechanism, kind))
    }

    /// Starts SASL after ApiVersions (or a renewal): SaslHandshake v1.
    fn start_sasl(&mut self, now: Instant) -> Result<(), ConnError> {
        let handshake = self.versions.version(ApiKey::SaslHandshake);
        let authenticate = self.versions.version(ApiKey::SaslAuthenticate);
        if handshake != Some(1) || authenticate.is_none() {
            return Err(self.sasl_error(SaslErrorKind::BrokerTooOld));
        }
        let req = self.sasl_mut()?.auth.start();
        self.state = ConnState::Authenticating;
        self.enqueue(&req, 1, Owner::SaslHandshake, now, self.request_timeout)
            .map_err(|_| self.sasl_error(SaslErrorKind::Encode))
    }

    fn on_sasl_step(
        &mut self,
        step: Result<Step, SaslError>,
        now: Instant,
    ) -> Result<Option<Incoming<P>>, ConnError> {
        let timeout = self.request_timeout;
        match step.map_err(ConnError::Sasl)? {
            Step::Authenticate(auth_bytes) => {
                let Some(version) = self.versions.version(ApiKey::SaslAuthenticate) else {
                    return Err(self.sasl_error(SaslErrorKind::BrokerTooOld));
                };
                let req = SaslAuthenticateRequest { auth_bytes };
                self.enqueue(&req, version, Owner::SaslAuthenticate, now, timeout)
                    .map_err(|_| self.sasl_error(SaslErrorKind::Encode))?;
                Ok(None)
            }
            Step::NeedToken => {
                let sasl = self.sasl_mut()?;
                sasl.token_deadline = Some(now + sasl.token_timeout);
                Ok(None)
            }
            Step::Done {
                reauthenticate_after,
            } => {
                let sasl = self.sasl_mut()?;
                sasl.token_deadline = None;
                sasl.reauth_at = reauthenticate_after.map(|d| now + d);
                sasl.reauth_due = false;
                let first = !core::mem::replace(&mut sasl.was_ready, true);
                self.state = ConnState::Ready;
                Ok(first.then_some(Incoming::Ready))
            }
        }
    }

    /// Whether the SASL exchange waits for an OAUTHBEARER token.
    pub fn awaiting_token(&self) -> bool {
        self.sasl.as_ref().is_some_and(|s| s.auth.awaiting_token())
    }

    /// Hands the OAUTHBEARER exchange its token, if it waits for one (else nothing
    /// happens). Errors mean the connection must be closed.
    pub fn provide_token(
        &mut self,
        token: &OAuthBearerToken,
        now: Instant,
    ) -> Result<(), ConnError> {
        if !self.awaiting_token() {
            return Ok(());
        }
        let sasl = self.sasl_mut()?;
        sasl.token_deadline = None;
        let step = sasl.auth.provide_token(token);
        self.on_sasl_step(step, now).map(drop)
    }

    /// When the SASL session should be renewed (KIP-368), while the connection is
    /// ready and the renewal is not under way: call
    /// [`start_reauthentication`](Self::start_reauthentication) then.
    pub fn reauth_deadline(&self) -> Option<Instant> {
        let sasl = self.sasl.as_ref()?;
        (self.state == ConnState::Ready && !sasl.reauth_due)
            .then_some(sasl.reauth_at)
            .flatten()
    }

    /// Renews the SASL session if [`reauth_deadline`](Self::reauth_deadline) has
    /// come: from now on the connection takes no requests; once those in flight are
    /// answered it re-authenticates, and is ready again when that succeeds. A no-op
    /// otherwise (idempotent). Errors mean the connection must be closed.
    pub fn start_reauthentication(&mut self, now: Instant) -> Result<(), ConnError> {
        if self.reauth_deadline().is_some_and(|at| now >= at) {
            if let Some(sasl) = &mut self.sasl {
                sasl.reauth_due = true;
                sasl.reauth_at = None;
            }
        }
        self.maybe_begin_reauth(now)
    }

    fn maybe_begin_reauth(&mut self, now: Instant) -> Result<(), ConnError> {
        let due = self.sasl.as_ref().is_some_and(|s| s.reauth_due);
        if !due || self.state != ConnState::Ready || !self.in_flight.is_empty() {
            return Ok(());
        }
        if let Some(sasl) = &mut self.sasl {
            sasl.reauth_due = false;
        }
        kasio_log!(debug, "connection {} re-authenticates", self.id.0);
        self.start_sasl(now)
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
                if self.sasl.is_some() {
                    self.start_sasl(now)?;
                    return Ok(None);
                }
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
    /// request's timeout, or how long an OAUTHBEARER exchange waits for its token.
    /// (The renewal of a SASL session is not a deadline of this kind: see
    /// [`reauth_deadline`](Self::reauth_deadline).)
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            ConnState::Connecting => Some(self.setup_deadline),
            _ => {
                let token = self.sasl.as_ref().and_then(|s| s.token_deadline);
                self.in_flight.iter().map(|r| r.deadline).chain(token).min()
            }
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
        if self
            .sasl
            .as_ref()
            .and_then(|s| s.token_deadline)
            .is_some_and(|at| now >= at)
        {
            return Err(self.sasl_error(SaslErrorKind::TokenTimeout));
        }
        match self.in_flight.iter().find(|r| now >= r.deadline) {
            Some(r) => Err(ConnError::RequestTimeout(r.api)),
            None => Ok(()),
        }
    }

    /// Closes the connection; returns the purposes of every request that will now
    /// never be answered, oldest first.
    pub fn close(self) -> impl Iterator<Item = (ApiKey, P)> {
        self.in_flight.into_iter().filter_map(|r| match r.owner {
            Owner::User(p) => Some((r.api, p)),
            _ => None,
        })
    }
}
