//! The consumer's side of SASL: the OAUTHBEARER token (asking the application for
//! one, handing it to the connections that wait, refreshing it), renewing sessions
//! (KIP-368) when their timers fire, and what an authentication failure does.
//!
//! Each connection authenticates on its own (`conn::Connection` with a
//! `sasl::Authenticator`); this file is only the glue that needs the whole
//! consumer: one token for every connection, the timer table, the events.
//!
//! # Failure policy
//!
//! A failure that retrying cannot fix ([`SaslErrorKind::is_fatal`]: the broker said
//! SASL_AUTHENTICATION_FAILED or UNSUPPORTED_SASL_MECHANISM, SCRAM verification
//! failed, the broker is too old) is reported as [`Event::Fatal`] with an
//! [`AuthenticationError`]; every connection is closed and none is opened again
//! (no reconnect storm against a broker that will say the same). The Java consumer
//! throws its `AuthenticationException` from `poll` and backs the node off;
//! librdkafka reports and retries after its reconnect backoff. kasio stops instead,
//! since the configuration cannot change under a running consumer, except with
//! OAUTHBEARER: a new token from [`Consumer::set_oauthbearer_token`] lifts the stop.
//!
//! Other failures (ILLEGAL_SASL_STATE, a malformed server message, no token in
//! time) close the connection with [`Event::Error`]; it is reopened after
//! `reconnect.backoff.ms`, doubling up to `reconnect.backoff.max.ms`, since the
//! backoff only resets once a connection is authenticated.
//!
//! [`SaslErrorKind::is_fatal`]: crate::sasl::SaslErrorKind::is_fatal

use crate::conn::{ConnError, ConnId};
use crate::metadata::BrokerId;
use crate::sasl::{OAuthBearerToken, SaslError, SaslMechanism};
use crate::time::{Duration, Instant};

use super::error::{AuthenticationError, ConsumerError, LocalError, UsageError};
use super::event::Event;
use super::timer::Timer;
use super::Consumer;

/// Java's `sasl.login.refresh.window.factor` default: a new token is asked for at
/// 80 % of the current one's lifetime …
const REFRESH_FACTOR: f64 = 0.80;
/// … plus up to `sasl.login.refresh.window.jitter` (5 %), so that many consumers
/// do not ask at once.
const REFRESH_JITTER: f64 = 0.05;

/// The OAUTHBEARER token and its refresh schedule.
#[derive(Debug, Default)]
pub(super) struct TokenState {
    /// The token and when it expires.
    token: Option<(OAuthBearerToken, Instant)>,
    /// When to ask for the next token; `None` once asked.
    refresh_at: Option<Instant>,
    /// The application was asked and has not answered yet.
    requested: bool,
}

impl TokenState {
    /// The next instant the token timer must fire at.
    fn next_timer(&self) -> Option<Instant> {
        let expiry = self.token.as_ref().map(|(_, at)| *at);
        match (self.refresh_at, expiry) {
            (Some(r), Some(e)) => Some(r.min(e)),
            (r, e) => r.or(e),
        }
    }
}

impl Consumer {
    /// Whether the consumer authenticates with OAUTHBEARER.
    fn uses_oauthbearer(&self) -> bool {
        self.config.security_protocol.uses_sasl()
            && self.config.sasl_mechanism == SaslMechanism::OAuthBearer
    }

    /// Supplies the OAUTHBEARER token (after [`Event::OAuthBearerTokenRequired`], or
    /// ahead of it): connections waiting for one authenticate with it, later
    /// connections and re-authentications too, until a newer token replaces it.
    /// Its lifetime counts from the consumer's current time; the consumer asks for
    /// the next token at 80–85 % of it, and stops using it once it has expired.
    ///
    /// After a fatal authentication failure a new token lets the consumer connect
    /// again (see the module's failure policy).
    ///
    /// Errors: [`UsageError::NotOAuthBearer`] unless `sasl.mechanism` is
    /// OAUTHBEARER under a `SASL_*` protocol, [`UsageError::InvalidOAuthBearerToken`]
    /// for a token or extension the broker could not parse, [`UsageError::Closed`].
    pub fn set_oauthbearer_token(&mut self, token: OAuthBearerToken) -> Result<(), UsageError> {
        if self.closing.is_some() || self.closed {
            return Err(UsageError::Closed);
        }
        if !self.uses_oauthbearer() {
            return Err(UsageError::NotOAuthBearer);
        }
        token
            .validate()
            .map_err(UsageError::InvalidOAuthBearerToken)?;
        let now = self.now;
        let lifetime = token.lifetime();
        let factor = REFRESH_FACTOR + REFRESH_JITTER * self.rng.next_f64();
        let refresh = Duration::from_micros((lifetime.as_micros() as f64 * factor) as u64);
        kasio_log!(
            debug,
            "OAUTHBEARER token for {:?} supplied, valid for {} ms",
            token.principal(),
            lifetime.as_millis()
        );
        let state = self.oauth.get_or_insert_with(TokenState::default);
        state.token = Some((token, now + lifetime));
        state.refresh_at = Some(now + refresh);
        state.requested = false;
        let next = state.next_timer();
        self.timers.set_opt(Timer::OAuthBearerToken, next);
        if self.brokers.is_halted() && !self.refused {
            kasio_log!(info, "a new OAUTHBEARER token: connecting again");
            self.brokers.resume();
        }
        for conn in self.brokers.awaiting_token() {
            self.give_token(conn);
        }
        self.drive();
        Ok(())
    }

    /// The current token, unless it has expired.
    fn current_token(&self) -> Option<&OAuthBearerToken> {
        let (token, expires) = self.oauth.as_ref()?.token.as_ref()?;
        (self.now < *expires).then_some(token)
    }

    /// Hands the current token to `conn` if it waits for one, or asks the
    /// application for a token (once until it answers).
    fn give_token(&mut self, conn: ConnId) {
        let now = self.now;
        let result = match self.current_token() {
            Some(token) => {
                let token = token.clone();
                self.brokers.provide_token(conn, &token, now)
            }
            None => {
                self.request_token();
                Ok(())
            }
        };
        match result {
            Ok(()) => self.brokers.sync_timer(conn, &mut self.timers),
            Err(error) => self.drop_connection(conn, error, true),
        }
    }

    /// Asks the application for a token, unless it was asked and has not answered.
    fn request_token(&mut self) {
        let state = self.oauth.get_or_insert_with(TokenState::default);
        if !core::mem::replace(&mut state.requested, true) {
            self.events.push_back(Event::OAuthBearerTokenRequired);
        }
    }

    /// After input on `conn`: a token if its exchange waits for one, and its timers.
    pub(super) fn after_conn_input(&mut self, conn: ConnId) {
        let waits = self
            .brokers
            .conn_mut(conn)
            .is_some_and(|(_, _, c)| c.awaiting_token());
        if waits {
            self.give_token(conn);
        } else {
            self.brokers.sync_timer(conn, &mut self.timers);
        }
    }

    /// `Timer::OAuthBearerToken`: time to ask for a new token, or the token expired.
    pub(super) fn on_token_timer(&mut self) {
        let now = self.now;
        let Some(state) = self.oauth.as_mut() else {
            return;
        };
        let mut ask = false;
        if state.token.as_ref().is_some_and(|(_, at)| now >= *at) {
            kasio_log!(
                warn,
                "the OAUTHBEARER token expired before a new one was supplied"
            );
            state.token = None;
            state.refresh_at = None;
            // Asked before or not, the application must know it has none now.
            state.requested = false;
            ask = true;
        } else if state.refresh_at.is_some_and(|at| now >= at) {
            state.refresh_at = None;
            ask = true;
        }
        let next = state.next_timer();
        self.timers.set_opt(Timer::OAuthBearerToken, next);
        if ask {
            self.request_token();
        }
    }

    /// `Timer::Reauthenticate`: renew `conn`'s SASL session.
    pub(super) fn on_reauth_timer(&mut self, conn: ConnId) {
        let now = self.now;
        match self.brokers.start_reauthentication(conn, now) {
            Ok(()) => self.after_conn_input(conn),
            Err(error) => self.drop_connection(conn, error, true),
        }
    }

    /// Reports a failed authentication with `broker`; returns whether it was fatal
    /// (the caller then stops all connecting with [`halt_connections`]).
    ///
    /// [`halt_connections`]: Self::halt_connections
    pub(super) fn report_auth_failure(&mut self, broker: BrokerId, error: SaslError) -> bool {
        let fatal = error.is_fatal();
        let error = ConsumerError::Authentication(AuthenticationError { broker, error });
        kasio_log!(warn, "{}", error);
        if fatal {
            self.events.push_back(Event::Fatal(error));
        } else {
            self.events.push_back(Event::Error(error));
        }
        fatal
    }

    /// The driver cannot do what `property` asks (its value as configured):
    /// [`Event::Fatal`] with [`LocalError::Unsupported`], and no connection is
    /// ever opened, so nothing goes out otherwise than configured (a SASL password
    /// in clear where TLS was asked for). Call it before driving the consumer.
    ///
    /// ```
    /// use kasio_core::config::Config;
    /// use kasio_core::consumer::{Consumer, ConsumerError, Event, LocalError};
    /// use kasio_core::time::Instant;
    ///
    /// let config = Config::from_pairs([
    ///     ("bootstrap.servers", "broker:9093"),
    ///     ("security.protocol", "SSL"),
    /// ])?;
    /// let mut consumer = Consumer::new(config, Instant::ZERO, 1);
    /// consumer.refuse_unsupported("security.protocol", "this driver has no TLS");
    /// assert!(matches!(
    ///     consumer.poll_event(),
    ///     Some(Event::Fatal(ConsumerError::Local(LocalError::Unsupported { .. })))
    /// ));
    /// # Ok::<(), kasio_core::config::ConfigError>(())
    /// ```
    pub fn refuse_unsupported(&mut self, property: &'static str, reason: &'static str) {
        let value = self.config.get(property).unwrap_or_default();
        let error = LocalError::Unsupported {
            property,
            value,
            reason,
        };
        kasio_log!(error, "{}", error);
        self.refused = true;
        self.events
            .push_back(Event::Fatal(ConsumerError::Local(error)));
        self.halt_connections();
    }

    /// The driver cannot set up TLS from the configuration (an unreadable CA file,
    /// a keystore where PEM is needed, a wrong key password): the consumer fails
    /// at once ([`Event::Fatal`] with [`LocalError::Tls`]) and never connects, as
    /// with [`refuse_unsupported`](Self::refuse_unsupported).
    pub fn fail_tls_setup(&mut self, error: crate::conn::TlsError) {
        let error = LocalError::Tls(error);
        kasio_log!(error, "{}", error);
        self.refused = true;
        self.events
            .push_back(Event::Fatal(ConsumerError::Local(error)));
        self.halt_connections();
    }

    /// A fatal authentication failure: closes every connection and opens none
    /// until [`set_oauthbearer_token`](Self::set_oauthbearer_token) (OAUTHBEARER)
    /// or ever.
    pub(super) fn halt_connections(&mut self) {
        self.brokers.halt();
        for conn in self.brokers.conn_ids() {
            self.drop_connection(conn, ConnError::Disconnected, true);
        }
        self.timers.retain(|t| !matches!(t, Timer::Reconnect(..)));
    }
}
