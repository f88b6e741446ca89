//! The SASL parsers, on arbitrary bytes: SCRAM's server-first and server-final
//! messages (alone, and fed to a SCRAM client whose nonce the input may or may not
//! extend), and `sasl.jaas.config` entries. The first byte picks which.
//!
//! Oracle: no panic, no allocation beyond the input's size (the run's
//! `-malloc_limit_mb`); what parses satisfies the syntax's promises (a nonce is
//! printable ASCII without `,`, a salt is not empty); a client accepts a server-first
//! only if its nonce strictly extends the client's and the iteration count is in
//! bounds; a JAAS entry that parses parses again from its own text to the same
//! value, and one that does not is reported without its text.
#![no_main]

use kasio_core::config::{ConfigErrorKind, JaasConfig, SaslMechanism};
use kasio_core::sasl::scram::{
    ScramClient, ServerFinal, ServerFirst, MAX_ITERATIONS, MIN_ITERATIONS,
};
use kasio_core::sasl::SaslErrorKind;
use libfuzzer_sys::fuzz_target;

const NONCE: &str = "fuzzclientnonce";
const PASSWORD: &str = "fuzz-password";

fn server_first(data: &[u8]) {
    let Ok(first) = ServerFirst::parse(data) else {
        return;
    };
    assert!(!first.nonce.is_empty());
    assert!(first.nonce.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b','));
    assert!(!first.salt.is_empty());
}

fn server_final(data: &[u8]) {
    if let Ok(ServerFinal::Error(e)) = ServerFinal::parse(data) {
        assert!(!e.contains(&b','));
    }
}

/// A SCRAM client meets `data` as server-first (after `r=<our nonce>` when
/// `prefixed`, so that the fuzzer reaches the key derivation), then the rest as
/// server-final.
fn client(data: &[u8], prefixed: bool, sha512: bool) {
    let mechanism = if sha512 {
        SaslMechanism::ScramSha512
    } else {
        SaslMechanism::ScramSha256
    };
    let mut c = ScramClient::new(mechanism, "user", PASSWORD, NONCE).expect("a valid nonce");
    let (first, fin) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut message = Vec::new();
    if prefixed {
        message.extend_from_slice(b"r=");
        message.extend_from_slice(NONCE.as_bytes());
    }
    message.extend_from_slice(first);
    // PBKDF2 at up to 100 000 iterations is correct but slow; keep the fuzzer fast
    // by deriving keys only for small counts (the bound check runs either way).
    if let Ok(parsed) = ServerFirst::parse(&message) {
        if parsed.iterations > u64::from(MIN_ITERATIONS)
            && parsed.iterations <= u64::from(MAX_ITERATIONS)
        {
            return;
        }
    }
    match c.handle_server_first(&message) {
        Ok(client_final) => {
            let parsed = ServerFirst::parse(&message).expect("accepted, so it parses");
            assert!(parsed.nonce.starts_with(NONCE) && parsed.nonce.len() > NONCE.len());
            assert!(u64::from(MIN_ITERATIONS) <= parsed.iterations);
            // The client echoes the server's nonce: the password may appear only if
            // the server put it there.
            assert!(
                !contains(&client_final, PASSWORD.as_bytes())
                    || contains(&message, PASSWORD.as_bytes())
            );
            match c.handle_server_final(fin) {
                Ok(()) => assert!(c.is_done()),
                Err(e) => {
                    assert!(!c.is_done());
                    // The error quotes the server's e=, which may hold anything.
                    if !contains(fin, PASSWORD.as_bytes()) {
                        assert!(!format!("{e:?}").contains(PASSWORD));
                    }
                }
            }
        }
        Err(SaslErrorKind::IterationCount(n)) => {
            assert!(!(u64::from(MIN_ITERATIONS)..=u64::from(MAX_ITERATIONS)).contains(&n))
        }
        Err(_) => assert!(c.handle_server_final(fin).is_err()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn jaas(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match JaasConfig::parse(&text) {
        Ok(config) => {
            let again = JaasConfig::parse(config.as_str()).expect("its own text parses");
            assert_eq!(again, config);
            let _ = format!("{config:?}");
        }
        Err(e) => {
            assert_eq!(e.property, "sasl.jaas.config");
            assert!(
                matches!(
                    e.kind,
                    ConfigErrorKind::InvalidSecret { .. } | ConfigErrorKind::Unsupported { .. }
                ),
                "{e:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else { return };
    match which % 6 {
        0 => server_first(rest),
        1 => server_final(rest),
        2 => client(rest, false, which & 0x80 != 0),
        3 => client(rest, true, which & 0x80 != 0),
        4 => jaas(rest),
        _ => {
            server_first(rest);
            server_final(rest);
        }
    }
});
