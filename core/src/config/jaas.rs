//! `sasl.jaas.config`: one JAAS login module entry, written as Java users write it.
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cret";
//! org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";
//! org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
//! ```
//!
//! The grammar is Java's `JaasConfig` (a `StreamTokenizer`): the login module's
//! class name, a control flag (`required`, `requisite`, `sufficient`, `optional`),
//! `name=value` options (values in double quotes, with `\"` and `\\` escapes, or
//! bare words), and a closing `;`. `//` and `/* */` comments are skipped. Exactly
//! one entry, as Kafka requires.
//!
//! The text holds a password, so it never appears in an error or in `Debug`: a parse
//! error says what was expected, not what was found.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::error::{ConfigError, ConfigErrorKind};

/// The property this module parses.
const PROPERTY: &str = "sasl.jaas.config";

/// A login module kasio knows, by its Java class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoginModule {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`: PLAIN.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`: SCRAM-SHA-256/512.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`:
    /// OAUTHBEARER (the token comes from the application, so options are ignored).
    OAuthBearer,
}

impl LoginModule {
    /// The Java class name.
    pub const fn class_name(self) -> &'static str {
        match self {
            Self::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            Self::Scram => "org.apache.kafka.common.security.scram.ScramLoginModule",
            Self::OAuthBearer => {
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
            }
        }
    }

    fn from_class(name: &str) -> Option<Self> {
        [Self::Plain, Self::Scram, Self::OAuthBearer]
            .into_iter()
            .find(|m| m.class_name() == name)
    }
}

/// A parsed `sasl.jaas.config`. `Debug` shows the module and the option names only.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    text: String,
    module: LoginModule,
    options: Vec<(String, String)>,
}

impl fmt::Debug for JaasConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasConfig")
            .field("module", &self.module)
            .field(
                "options",
                &self
                    .options
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl JaasConfig {
    /// Parses one entry; errors name `sasl.jaas.config` and never quote the text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_kind(text).map_err(|kind| ConfigError::new(PROPERTY, kind))
    }

    pub(crate) fn parse_kind(text: &str) -> Result<Self, ConfigErrorKind> {
        let invalid = |expected| ConfigErrorKind::InvalidSecret { expected };
        let mut tokens = Tokens {
            rest: text.as_bytes(),
            text,
        };
        let class = match tokens.next().map_err(invalid)? {
            Some(Token::Word(w)) => w,
            _ => return Err(invalid("a login module class name first")),
        };
        let module = LoginModule::from_class(&class).ok_or(ConfigErrorKind::Unsupported {
            reason:
                "the login module must be org.apache.kafka.common.security.plain.PlainLoginModule, \
                     org.apache.kafka.common.security.scram.ScramLoginModule or \
                     org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
        })?;
        match tokens.next().map_err(invalid)? {
            Some(Token::Word(flag))
                if ["required", "requisite", "sufficient", "optional"]
                    .iter()
                    .any(|f| flag.eq_ignore_ascii_case(f)) => {}
            _ => {
                return Err(invalid(
                    "a control flag (required, requisite, sufficient or optional) after the \
                     login module",
                ))
            }
        }
        let mut options: Vec<(String, String)> = Vec::new();
        loop {
            match tokens.next().map_err(invalid)? {
                Some(Token::Semicolon) => break,
                Some(Token::Word(name)) => {
                    if tokens.next().map_err(invalid)? != Some(Token::Equals) {
                        return Err(invalid("name=value options after the control flag"));
                    }
                    let value = match tokens.next().map_err(invalid)? {
                        Some(Token::Word(v) | Token::Quoted(v)) => v,
                        _ => return Err(invalid("a value after each option's '='")),
                    };
                    // A repeated option replaces the earlier one, as in Java's map.
                    options.retain(|(n, _)| *n != name);
                    options.push((name, value));
                }
                None => return Err(invalid("';' at the end of the login module entry")),
                Some(_) => return Err(invalid("name=value options after the control flag")),
            }
        }
        if tokens.next().map_err(invalid)?.is_some() {
            return Err(invalid("exactly one login module entry"));
        }
        let config = Self {
            text: String::from(text.trim()),
            module,
            options,
        };
        if module != LoginModule::OAuthBearer
            && !(config.option("username").is_some_and(|u| !u.is_empty())
                && config.option("password").is_some_and(|p| !p.is_empty()))
        {
            return Err(invalid(
                "username=\"…\" and password=\"…\" options (PlainLoginModule and ScramLoginModule \
                 need both)",
            ));
        }
        Ok(config)
    }

    /// The login module.
    pub fn module(&self) -> LoginModule {
        self.module
    }

    /// An option's value (`username`, `password`, `tokenauth`, …).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The entry as given (trimmed). It holds the password.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for JaasConfig {
    type Err = ConfigError;
    /// As [`JaasConfig::parse`].
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse(s)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

struct Tokens<'a> {
    rest: &'a [u8],
    text: &'a str,
}

impl Tokens<'_> {
    /// The next token, or what was expected where the text went wrong.
    fn next(&mut self) -> Result<Option<Token>, &'static str> {
        loop {
            let skipped = self
                .rest
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
            self.rest = &self.rest[skipped..];
            if let Some(after) = self.rest.strip_prefix(b"//") {
                let line = after.iter().take_while(|&&c| c != b'\n').count();
                self.rest = &after[line..];
            } else if let Some(after) = self.rest.strip_prefix(b"/*") {
                let end = after
                    .windows(2)
                    .position(|w| w == b"*/")
                    .ok_or("a closed /* comment */")?;
                self.rest = &after[end + 2..];
            } else {
                break;
            }
        }
        let Some((&first, after)) = self.rest.split_first() else {
            return Ok(None);
        };
        match first {
            b'=' => {
                self.rest = after;
                Ok(Some(Token::Equals))
            }
            b';' => {
                self.rest = after;
                Ok(Some(Token::Semicolon))
            }
            b'"' => {
                let mut value = Vec::new();
                let mut i = 0;
                loop {
                    match after.get(i) {
                        None => return Err("a closing '\"' after each quoted value"),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let escaped = *after
                                .get(i + 1)
                                .ok_or("a closing '\"' after each quoted value")?;
                            value.push(match escaped {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'r' => b'\r',
                                other => other,
                            });
                            i += 2;
                        }
                        Some(&c) => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                self.rest = &after[i + 1..];
                // Only ASCII escapes were replaced, so the bytes stay UTF-8.
                let value = String::from_utf8(value).map_err(|_| "UTF-8 text")?;
                Ok(Some(Token::Quoted(value)))
            }
            _ => {
                let len = self
                    .rest
                    .iter()
                    .take_while(|c| !c.is_ascii_whitespace() && !matches!(c, b'=' | b';' | b'"'))
                    .count();
                let start = self.text.len() - self.rest.len();
                // Word boundaries are ASCII bytes, so the slice is on char boundaries.
                let word = self.text.get(start..start + len).ok_or("UTF-8 text")?;
                self.rest = &self.rest[len..];
                Ok(Some(Token::Word(String::from(word))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javas_forms_parse() {
        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\"  password=\"s3 c\\\"ret\";",
        )
        .unwrap();
        assert_eq!(j.module(), LoginModule::Plain);
        assert_eq!(j.option("username"), Some("alice"));
        assert_eq!(j.option("password"), Some("s3 c\"ret"));

        let j = JaasConfig::parse(
            "  // a comment\n org.apache.kafka.common.security.scram.ScramLoginModule /* x */ REQUIRED\n\
             username=bob\npassword=\"p=w;d\" tokenauth=\"true\"; ",
        )
        .unwrap();
        assert_eq!(j.module(), LoginModule::Scram);
        assert_eq!(j.option("username"), Some("bob"));
        assert_eq!(j.option("password"), Some("p=w;d"));
        assert_eq!(j.option("tokenauth"), Some("true"));

        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
        )
        .unwrap();
        assert_eq!(j.module(), LoginModule::OAuthBearer);
    }

    #[test]
    fn errors_say_what_was_expected_and_never_quote_the_text() {
        let plain = "org.apache.kafka.common.security.plain.PlainLoginModule";
        for (text, expected) in [
            ("", "class name"),
            ("\"quoted\" required;", "class name"),
            (plain, "control flag"),
            (&alloc::format!("{plain} maybe;"), "control flag"),
            (
                &alloc::format!("{plain} required username=\"u\" password=\"hunter2\""),
                "';'",
            ),
            (
                &alloc::format!("{plain} required username \"u\";"),
                "name=value",
            ),
            (&alloc::format!("{plain} required username=;"), "a value"),
            (
                &alloc::format!("{plain} required username=\"u password=hunter2;"),
                "closing '\"'",
            ),
            (
                &alloc::format!("{plain} required username=\"u\";"),
                "password",
            ),
            (
                &alloc::format!("{plain} required password=\"hunter2\";"),
                "username",
            ),
            (
                &alloc::format!(
                    "{plain} required username=\"u\" password=\"hunter2\"; {plain} required;"
                ),
                "exactly one",
            ),
            (&alloc::format!("/* {plain}"), "comment"),
        ] {
            let err = JaasConfig::parse(text).unwrap_err();
            assert_eq!(err.property, "sasl.jaas.config");
            let shown = alloc::format!("{err} {err:?}");
            assert!(shown.contains(expected), "{text:?}: {shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let err = JaasConfig::parse(
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
        )
        .unwrap_err();
        assert!(matches!(err.kind, ConfigErrorKind::Unsupported { .. }));
    }

    #[test]
    fn debug_shows_option_names_only() {
        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\" password=\"hunter2\";",
        )
        .unwrap();
        let s = alloc::format!("{j:?}");
        assert!(
            s.contains("password") && !s.contains("hunter2") && !s.contains("alice"),
            "{s}"
        );
    }
}
