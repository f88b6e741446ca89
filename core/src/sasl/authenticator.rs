//! The mechanism-independent part: SaslHandshake, then SaslAuthenticate tokens
//! until the mechanism is done, as a sans-IO state machine.
//!
//! ```text
//! Idle ──start──▶ Handshake ──ok──▶ Exchange ──answers…──▶ Done
//!                     │               ▲   (OAUTHBEARER)      │
//!                     │  AwaitToken ──┘ provide_token        │
//!                     └── any error ──▶ Failed ◀─────────────┘ (start again: KIP-368)
//! ```
//!
//! The owner ([`Connection`](crate::conn::Connection)) sends the requests it is
//! handed and passes back the decoded answers; the authenticator never sees bytes
//! that are not a decoded response, nor anything other than the answers to its own
//! requests.

use bytes::Bytes;

use super::oauthbearer::{OAuthBearerToken, KVSEP};
use super::scram::{self, ScramClient};
use super::{
    bounded_text, plain, Credentials, SaslConfig, SaslError, SaslErrorKind, SaslMechanism,
};
use crate::protocol::messages::{
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::protocol::ErrorCode;
use crate::rng::Rng;
use crate::time::Duration;

use alloc::string::String;

/// What the owner must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send a SaslAuthenticate request with these bytes.
    Authenticate(Bytes),
    /// OAUTHBEARER: wait for a token, then call
    /// [`provide_token`](Authenticator::provide_token).
    NeedToken,
    /// Authenticated. With a session lifetime from the broker (KIP-368, SaslAuthenticate
    /// v1 and later), re-authenticate (call [`start`](Authenticator::start) again on the
    /// same connection) within `reauthenticate_after`: 85–95 % of the lifetime, as the
    /// Java client, so that the broker never sees a request after the session ended.
    Done {
        /// When to re-authenticate, from now; `None` when the broker set no lifetime.
        reauthenticate_after: Option<Duration>,
    },
}

#[derive(Debug)]
enum Session {
    Plain,
    Scram {
        client: ScramClient,
        sent_final: bool,
    },
    /// The server's error challenge, once it sent one.
    OAuthBearer {
        challenge: Option<String>,
    },
}

#[derive(Debug)]
enum State {
    Idle,
    Handshake,
    AwaitToken,
    Exchange(Session),
    Done,
    Failed,
}

/// One connection's SASL exchanges (the first and every re-authentication).
/// `Debug` shows no secret.
#[derive(Debug)]
pub struct Authenticator {
    config: SaslConfig,
    rng: Rng,
    state: State,
}

impl Authenticator {
    /// An authenticator for `config`; `seed` drives its randomness (the SCRAM nonce,
    /// the re-authentication jitter).
    pub fn new(config: SaslConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
            state: State::Idle,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.config.mechanism
    }

    /// Whether the last exchange succeeded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the exchange waits for an OAUTHBEARER token.
    pub fn awaiting_token(&self) -> bool {
        matches!(self.state, State::AwaitToken)
    }

    /// Starts an exchange (the first, or a re-authentication): the SaslHandshake
    /// request to send, at version 1.
    pub fn start(&mut self) -> SaslHandshakeRequest {
        self.state = State::Handshake;
        SaslHandshakeRequest {
            mechanism: String::from(self.config.mechanism.as_str()),
        }
    }

    fn fail(&mut self, kind: SaslErrorKind) -> SaslError {
        self.state = State::Failed;
        SaslError::new(self.config.mechanism, kind)
    }

    /// Digests the SaslHandshake answer.
    pub fn on_handshake(&mut self, resp: &SaslHandshakeResponse) -> Result<Step, SaslError> {
        if !matches!(self.state, State::Handshake) {
            return Err(self.fail(SaslErrorKind::Malformed(
                "a SaslHandshake answer out of turn",
            )));
        }
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                let enabled = resp
                    .mechanisms
                    .iter()
                    .take(32)
                    .map(|m| bounded_text(m.as_bytes()))
                    .collect();
                return Err(self.fail(SaslErrorKind::UnsupportedMechanism { enabled }));
            }
            code => return Err(self.fail(error_kind(code, None))),
        }
        let (username, password, token_auth) = match &self.config.credentials {
            Credentials::Token => {
                self.state = State::AwaitToken;
                return Ok(Step::NeedToken);
            }
            Credentials::Password {
                username,
                password,
                token_auth,
            } => (username, password, *token_auth),
        };
        let (session, first) = match self.config.mechanism {
            SaslMechanism::Plain => (Session::Plain, plain::message(username, password.expose())),
            mechanism => {
                let nonce = scram::nonce(&mut self.rng);
                let Some(client) = ScramClient::with_extensions(
                    mechanism,
                    username,
                    password.expose(),
                    &nonce,
                    token_auth,
                ) else {
                    return Err(self.fail(SaslErrorKind::Encode));
                };
                let first = client.client_first();
                (
                    Session::Scram {
                        client,
                        sent_final: false,
                    },
                    first,
                )
            }
        };
        self.state = State::Exchange(session);
        Ok(Step::Authenticate(Bytes::from(first)))
    }

    /// OAUTHBEARER: the token to authenticate with, once [`Step::NeedToken`] asked
    /// for it. Elsewhere a no-op that asks for nothing.
    pub fn provide_token(&mut self, token: &OAuthBearerToken) -> Result<Step, SaslError> {
        if !self.awaiting_token() {
            return Err(self.fail(SaslErrorKind::Malformed("a token out of turn")));
        }
        self.state = State::Exchange(Session::OAuthBearer { challenge: None });
        Ok(Step::Authenticate(Bytes::from(token.initial_response())))
    }

    /// Digests a SaslAuthenticate answer.
    pub fn on_authenticate(&mut self, resp: &SaslAuthenticateResponse) -> Result<Step, SaslError> {
        let State::Exchange(session) = core::mem::replace(&mut self.state, State::Failed) else {
            return Err(self.fail(SaslErrorKind::Malformed(
                "a SaslAuthenticate answer out of turn",
            )));
        };
        let code = ErrorCode::from_code(resp.error_code);
        if code != ErrorCode::None {
            let mut message = resp
                .error_message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| bounded_text(m.as_bytes()));
            if let Session::OAuthBearer {
                challenge: Some(challenge),
            } = session
            {
                let mut m = message.unwrap_or_default();
                if !m.is_empty() {
                    m.push_str("; ");
                }
                m.push_str("server said: ");
                m.push_str(&challenge);
                message = Some(m);
            }
            return Err(self.fail(error_kind(code, message)));
        }
        let bytes: &[u8] = &resp.auth_bytes;
        match session {
            Session::Plain => Ok(self.done(resp)),
            Session::Scram {
                mut client,
                sent_final: false,
            } => match client.handle_server_first(bytes) {
                Ok(client_final) => {
                    self.state = State::Exchange(Session::Scram {
                        client,
                        sent_final: true,
                    });
                    Ok(Step::Authenticate(Bytes::from(client_final)))
                }
                Err(kind) => Err(self.fail(kind)),
            },
            Session::Scram {
                mut client,
                sent_final: true,
            } => match client.handle_server_final(bytes) {
                Ok(()) => Ok(self.done(resp)),
                Err(kind) => Err(self.fail(kind)),
            },
            Session::OAuthBearer { challenge: None } if bytes.is_empty() => Ok(self.done(resp)),
            Session::OAuthBearer { challenge: None } => {
                // The broker's error JSON: acknowledge it; the broker then fails the
                // exchange, and the JSON says why.
                self.state = State::Exchange(Session::OAuthBearer {
                    challenge: Some(bounded_text(bytes)),
                });
                Ok(Step::Authenticate(Bytes::from_static(&[KVSEP])))
            }
            Session::OAuthBearer {
                challenge: Some(challenge),
            } => Err(self.fail(SaslErrorKind::AuthenticationFailed {
                message: Some(alloc::format!(
                    "the server reported an error and then did not fail the exchange: {challenge}"
                )),
            })),
        }
    }

    fn done(&mut self, resp: &SaslAuthenticateResponse) -> Step {
        self.state = State::Done;
        let lifetime = resp.session_lifetime_ms;
        let reauthenticate_after = (lifetime > 0).then(|| {
            let micros = Duration::from_millis(lifetime as u64).as_micros() as f64;
            let factor = 0.85 + 0.10 * self.rng.next_f64();
            Duration::from_micros((micros * factor) as u64)
        });
        Step::Done {
            reauthenticate_after,
        }
    }
}

/// The error for a code in a SaslHandshake or SaslAuthenticate answer.
fn error_kind(code: ErrorCode, message: Option<String>) -> SaslErrorKind {
    match code {
        ErrorCode::SaslAuthenticationFailed => SaslErrorKind::AuthenticationFailed { message },
        ErrorCode::IllegalSaslState => SaslErrorKind::IllegalState { message },
        ErrorCode::UnsupportedSaslMechanism => SaslErrorKind::UnsupportedMechanism {
            enabled: alloc::vec::Vec::new(),
        },
        code => SaslErrorKind::Broker { code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ok_handshake() -> SaslHandshakeResponse {
        SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec![],
        }
    }

    fn answer(bytes: &'static [u8], lifetime: i64) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse {
            auth_bytes: Bytes::from_static(bytes),
            session_lifetime_ms: lifetime,
            ..Default::default()
        }
    }

    #[test]
    fn answers_out_of_turn_are_errors_not_panics() {
        let config = SaslConfig::with_password(SaslMechanism::Plain, "u", "p");
        let mut a = Authenticator::new(config, 1);
        assert!(a.on_handshake(&ok_handshake()).is_err());
        assert!(a.on_authenticate(&answer(b"", 0)).is_err());
        assert!(a
            .provide_token(&OAuthBearerToken::new("t", Duration::from_secs(1)))
            .is_err());
        // A failed authenticator starts again cleanly (as a renewal would).
        a.start();
        assert!(matches!(
            a.on_handshake(&ok_handshake()),
            Ok(Step::Authenticate(_))
        ));
        assert_eq!(
            a.on_authenticate(&answer(b"", 0)),
            Ok(Step::Done {
                reauthenticate_after: None
            })
        );
        assert!(a.is_done());
    }

    #[test]
    fn other_error_codes_keep_their_code_and_message() {
        let config = SaslConfig::with_password(SaslMechanism::ScramSha256, "u", "p");
        let mut a = Authenticator::new(config, 1);
        a.start();
        let err = a
            .on_handshake(&SaslHandshakeResponse {
                error_code: ErrorCode::PolicyViolation.code(),
                mechanisms: vec![],
            })
            .unwrap_err();
        assert_eq!(
            err.kind,
            SaslErrorKind::Broker {
                code: ErrorCode::PolicyViolation,
                message: None
            }
        );
        assert!(!err.is_fatal());
    }

    #[test]
    fn the_session_renewal_falls_within_85_to_95_percent() {
        for seed in 0..50 {
            let config = SaslConfig::with_password(SaslMechanism::Plain, "u", "p");
            let mut a = Authenticator::new(config, seed);
            a.start();
            a.on_handshake(&ok_handshake()).unwrap();
            let Ok(Step::Done {
                reauthenticate_after: Some(after),
            }) = a.on_authenticate(&answer(b"", 100_000))
            else {
                panic!("a renewal");
            };
            assert!((85_000..=95_000).contains(&after.as_millis()), "{after:?}");
        }
    }

    #[test]
    fn scram_nonces_differ_between_exchanges() {
        let config = SaslConfig::with_password(SaslMechanism::ScramSha512, "u", "p");
        let mut a = Authenticator::new(config, 7);
        let first = |a: &mut Authenticator| {
            a.start();
            match a.on_handshake(&ok_handshake()) {
                Ok(Step::Authenticate(bytes)) => bytes,
                other => panic!("{other:?}"),
            }
        };
        let one = first(&mut a);
        let two = first(&mut a);
        assert!(one.starts_with(b"n,,n=u,r="));
        assert_ne!(one, two);
    }
}
