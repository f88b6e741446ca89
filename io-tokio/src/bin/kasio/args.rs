//! The command line: kcat's consumer flags with kcat's meaning, long forms of them,
//! kasio's own options, and the `kasio group describe|lag GROUP` commands.
//!
//! Hand-written rather than clap: kcat's flags are glibc `getopt` (clusters such as
//! `-qeC`, values attached or separate: `-tfoo`, `-t foo`, `-o -5` taking `-5` as the
//! value, operands anywhere since glibc permutes them, `--` ends the flags), `-t`
//! changes meaning with the mode (`-Q -t topic:partition:ts`), and `-X`/`-F` must be
//! applied in command-line order. clap can be bent to most of that, but not to all of
//! it at once with kcat's error wording and our exit codes, and the parser below is
//! short.
//!
//! Where kasio differs from kcat on purpose (each makes a mistake visible instead of
//! silently doing something else):
//! - `-o`, `-p`, `-c`, `-m` values are checked; kcat reads them with `atoi`/`strtoll`
//!   and takes garbage as 0.
//! - `-t` is read after all flags, so `-t t:0:123 -Q` works as well as `-Q -t ...`
//!   (kcat takes a `-t` seen before `-Q` as a plain topic).
//! - `-p` with `-G`, and operands without `-G`, are errors (kcat ignores the first
//!   and refuses the second); `-t` with `-G` adds a topic to the subscription.
//! - There is no producer: `-P` and the producer-only flags are refused by name, and
//!   `-C` is the default mode (kcat picks `-P` when stdin is not a terminal).
//! - Without `-b` (and without `bootstrap.servers` in `-X`/`-F`), kasio reads the
//!   in-process simulated cluster, and `-t` defaults to its demo topic.
//! - `-F` files are read like kcat's (`prop=value`, `#` comments, `\:` `\=` unescaped,
//!   `sasl.jaas.config` with `PlainLoginModule` turned into `sasl.username` and
//!   `sasl.password`), but spaces around the `=` are trimmed, and kcat's default
//!   files (`$KCAT_CONFIG`, `~/.config/kcat.conf`) are not read: they hold
//!   librdkafka properties.
//! - `-X` and `-F` properties are checked by kasio-core's `Config::from_pairs`, not
//!   librdkafka's; `topic.` prefixes are dropped and `metadata.broker.list` is read
//!   as `bootstrap.servers`, as librdkafka does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kasio_core::config::Config;

use crate::format::{
    FormatError, FormatSource, Formatter, JsonEncoding, OutputOptions, TimeFormat,
};
use crate::offsets::{self, OffsetSpec, StartOffset};

/// The topic read from the simulated cluster when no `-t` is given.
pub const DEMO_TOPIC: &str = "kasio-demo";

/// A command-line mistake: printed with the usage hint, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `-C` (the default) or `-G`: print records.
    Consume(Consume),
    /// `-L`: brokers, topics, partitions.
    Metadata(Metadata),
    /// `-Q`: offsets by timestamp.
    QueryOffsets(QueryOffsets),
    /// `kasio group describe GROUP`
    GroupDescribe(GroupArgs),
    /// `kasio group lag GROUP`
    GroupLag(GroupArgs),
    /// `-X list` / `-X help`: the properties kasio knows.
    ListProperties,
    /// `-X dump`: the configuration the other flags make, then exit.
    DumpConfig(Common),
    /// `-h`: usage on stdout, exit 0.
    Help,
    /// `-V`: version on stdout, exit 0.
    Version,
}

/// Which cluster to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// `-b host:port,...` (or `bootstrap.servers` from `-X`/`-F`).
    Brokers(String),
    /// No brokers given: the in-process simulated cluster with a demo topic.
    Simulated,
}

/// Where a property came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-X name=value`
    Flag,
    /// A line of a `-F` file.
    File { path: PathBuf, line: usize },
    /// `-b`
    Brokers,
    /// `-G`
    Group,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag => f.write_str("-X"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Brokers => f.write_str("-b"),
            Origin::Group => f.write_str("-G"),
        }
    }
}

/// One configuration property as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
    pub origin: Origin,
}

/// What every command shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub cluster: Cluster,
    /// `-F` lines and `-X` properties in command-line order, then `-b` as
    /// `bootstrap.servers` and `-G` as `group.id` (kcat applies `-b` last too).
    pub properties: Vec<Property>,
    /// kcat's verbosity: 1, `-q` sets 0, each `-v` adds 1 (in order).
    pub verbosity: u8,
    /// `-m SECONDS`: how long to wait for metadata and other requests (kcat: 5 s).
    pub request_timeout: Duration,
    /// `-d contexts`: debug logging.
    pub debug: Option<String>,
    /// `-E` clears it: go on after non-fatal errors.
    pub exit_on_error: bool,
    /// `-u`: flush stdout after every record.
    pub unbuffered: bool,
}

impl Common {
    /// The properties as kasio-core's configuration, checked. For the simulated
    /// cluster a stand-in bootstrap address satisfies the required property. The
    /// error names the property, what was wrong and where it was given.
    pub fn config(&self) -> Result<Config, UsageError> {
        let mut pairs: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        if self.cluster == Cluster::Simulated {
            pairs.insert(0, ("bootstrap.servers", "simulated:9092"));
        }
        let config = Config::from_pairs(pairs).map_err(|e| {
            let at = self
                .properties
                .iter()
                .rev()
                .find(|p| p.name == e.property)
                .map(|p| format!(" (from {})", p.origin))
                .unwrap_or_default();
            UsageError(format!("configuration: {e}{at}"))
        })?;
        if config.security_protocol.uses_sasl()
            && config.sasl_mechanism == kasio_core::config::SaslMechanism::OAuthBearer
        {
            // The library asks the application for tokens; the CLI has none to give.
            return usage(
                "configuration: sasl.mechanism=OAUTHBEARER: the kasio CLI has no token \
                 provider (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 work)",
            );
        }
        Ok(config)
    }
}

/// A warning when SASL credentials would cross the network without TLS:
/// PLAIN sends the password itself, and a SCRAM exchange overheard is open to an
/// offline dictionary attack (Kafka's documentation asks for TLS with both).
pub fn cleartext_credentials(config: &Config) -> Option<String> {
    use kasio_core::config::{SaslMechanism, SecurityProtocol};
    if config.security_protocol != SecurityProtocol::SaslPlaintext {
        return None;
    }
    let mechanism = config.sasl_mechanism;
    let what = match mechanism {
        SaslMechanism::Plain => "sends sasl.password unencrypted",
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            "lets anyone who overhears the exchange guess the password offline"
        }
        _ => return None,
    };
    Some(format!(
        "sasl.mechanism={} over security.protocol=SASL_PLAINTEXT {what}; use SASL_SSL",
        mechanism.as_str()
    ))
}

/// `-C` / `-G`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consume {
    pub common: Common,
    pub source: Source,
    /// `-o`. `None` only with `-G`: the group's committed offsets, else
    /// `auto.offset.reset`. With `-G`, a given `-o` overrides the committed offsets of
    /// every assigned partition, as in kcat.
    pub start: Option<StartOffset>,
    /// `-o e@T`: stop each partition before its first record at or after T ms.
    pub stop_at: Option<i64>,
    /// `-c N`: exit after N records.
    pub count: Option<u64>,
    /// `-e`: exit when every assigned partition reached the end it had at start.
    pub exit_at_end: bool,
    pub output: Formatter,
    /// `--progress`
    pub progress: Progress,
}

/// What `-C`/`-G` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-C -t topic [-p partition]`: all partitions, or one.
    Partitions {
        topic: String,
        partition: Option<i32>,
    },
    /// `-G group topic...`: a group member subscribed to the topics (a topic starting
    /// with `^` is a regular expression, as in kcat/librdkafka).
    Group { group: String, topics: Vec<String> },
}

/// The live progress line on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// When stderr is a terminal and not `-q`.
    #[default]
    Auto,
    Always,
    Never,
}

/// `-L`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub common: Common,
    /// `-t`: one topic, else all.
    pub topic: Option<String>,
    pub json: bool,
}

/// `-Q`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOffsets {
    pub common: Common,
    /// `-t topic:partition:timestamp`, in the order given (kcat prints them sorted by
    /// topic and partition). A timestamp of -1 asks for the end offset and -2 for
    /// the start offset, as Kafka's ListOffsets.
    pub queries: Vec<(String, i32, i64)>,
    pub json: bool,
}

/// `kasio group describe|lag GROUP`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupArgs {
    pub common: Common,
    pub group: String,
    /// `-J`: JSON instead of a table.
    pub json: bool,
}

/// Every flag: short name, long name, whether it takes a value. The order is the
/// help text's.
const FLAGS: &[(char, &str, bool)] = &[
    ('C', "consume", false),
    ('G', "group", true),
    ('L', "metadata", false),
    ('Q', "query", false),
    ('b', "brokers", true),
    ('t', "topic", true),
    ('p', "partition", true),
    ('o', "offset", true),
    ('e', "exit", false),
    ('c', "count", true),
    ('f', "format", true),
    ('J', "json", false),
    ('D', "delimiter", true),
    ('K', "key-delimiter", true),
    ('Z', "null", false),
    ('X', "property", true),
    ('F', "config-file", true),
    ('q', "quiet", false),
    ('v', "verbose", false),
    ('u', "unbuffered", false),
    ('m', "metadata-timeout", true),
    ('d', "debug", true),
    ('E', "continue-on-error", false),
    ('O', "print-offset", false),
    ('h', "help", false),
    ('V', "version", false),
];

/// kasio's own options: long form only.
const LONG_ONLY: &[&str] = &["time-format", "json-encoding", "progress"];

/// kcat flags kasio refuses, and why.
const REFUSED: &[(char, &str)] = &[
    ('P', "producing is not supported: kasio is a consumer"),
    ('z', "compression is a producer option; kasio is a consumer"),
    ('k', "a fixed key is a producer option; kasio is a consumer"),
    (
        'H',
        "headers to send are a producer option; kasio is a consumer",
    ),
    ('l', "line mode is a producer option; kasio is a consumer"),
    ('T', "tee mode is a producer option; kasio is a consumer"),
    (
        's',
        "-s deserializers (pack formats, Avro) are not supported",
    ),
    ('r', "schema registry (Avro) is not supported"),
];

/// One flag occurrence, in order: its short name (kasio's long-only options use a
/// marker) and value.
#[derive(Debug)]
struct Opt {
    name: Name,
    value: Option<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Short(char),
    Long(&'static str),
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Short(c) => write!(f, "-{c}"),
            Name::Long(l) => write!(f, "--{l}"),
        }
    }
}

/// The flags in order, the operands, and the first malformed flag: reported only if
/// no flag before it ends parsing (`-h` comes first in `-h --bogus`, as in getopt's
/// one-at-a-time loop).
type Split = (Vec<Opt>, Vec<OsString>, Option<UsageError>);

/// Splits the arguments as glibc `getopt` does for kcat's option string (with
/// permutation), plus `--long[=value]` forms.
fn getopt(args: &[OsString]) -> Split {
    let mut opts = Vec::new();
    let mut operands = Vec::new();
    let err = split(args, &mut opts, &mut operands).err();
    (opts, operands, err)
}

fn split(
    args: &[OsString],
    opts: &mut Vec<Opt>,
    operands: &mut Vec<OsString>,
) -> Result<(), UsageError> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let bytes = os_bytes(arg);
        if bytes == b"--" {
            operands.extend(it.by_ref().cloned());
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, attached) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(os_from(&long[eq + 1..]))),
                None => (long, None),
            };
            let name = String::from_utf8_lossy(name);
            let (key, takes) =
                if let Some(&(c, _, takes)) = FLAGS.iter().find(|(_, l, _)| *l == name) {
                    (Name::Short(c), takes)
                } else if let Some(&l) = LONG_ONLY.iter().find(|l| **l == name) {
                    (Name::Long(l), true)
                } else {
                    return usage(format!("unknown option --{name}"));
                };
            let value = match (takes, attached) {
                (true, Some(v)) => Some(v),
                (true, None) => match it.next() {
                    Some(v) => Some(v.clone()),
                    None => return usage(format!("--{name} needs a value")),
                },
                (false, Some(_)) => return usage(format!("--{name} takes no value")),
                (false, None) => None,
            };
            opts.push(Opt { name: key, value });
            continue;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            operands.push(arg.clone());
            continue;
        }
        let mut i = 1;
        while i < bytes.len() {
            let c = bytes[i] as char;
            if let Some(&(_, why)) = REFUSED.iter().find(|(r, _)| *r == c) {
                return usage(format!("-{c}: {why}"));
            }
            let Some(&(_, _, takes)) = FLAGS.iter().find(|(f, _, _)| *f == c) else {
                return usage(format!("unknown option -{}", c.escape_default()));
            };
            if takes {
                let value = if i + 1 < bytes.len() {
                    os_from(&bytes[i + 1..])
                } else {
                    match it.next() {
                        Some(v) => v.clone(),
                        None => return usage(format!("-{c} needs a value ({})", what(c))),
                    }
                };
                opts.push(Opt {
                    name: Name::Short(c),
                    value: Some(value),
                });
                break;
            }
            opts.push(Opt {
                name: Name::Short(c),
                value: None,
            });
            i += 1;
        }
    }
    Ok(())
}

/// What a flag's value is, for "needs a value" messages.
fn what(c: char) -> &'static str {
    match c {
        'G' => "the group id",
        'b' => "host[:port],...",
        't' => "a topic, or topic:partition:timestamp with -Q",
        'p' => "a partition number",
        'o' => offsets::FORMS,
        'c' => "a record count",
        'f' => "a format string",
        'D' | 'K' => "a delimiter",
        'X' => "property=value, list or dump",
        'F' => "a configuration file",
        'm' => "seconds",
        'd' => "debug contexts",
        _ => "a value",
    }
}

#[cfg(unix)]
fn os_bytes(s: &OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: &OsString) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

#[cfg(unix)]
fn os_from(b: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b).to_os_string()
}

#[cfg(not(unix))]
fn os_from(b: &[u8]) -> OsString {
    String::from_utf8_lossy(b).into_owned().into()
}

/// A flag value that must be text (names, numbers).
fn text(name: Name, v: &OsString) -> Result<String, UsageError> {
    match v.to_str() {
        Some(s) => Ok(s.to_owned()),
        None => usage(format!("{name}: the value is not valid UTF-8")),
    }
}

/// Parses the arguments after the program name, reading `-F` files from disk.
pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    parse_with(args, &mut |p| std::fs::read(p))
}

/// [`parse`] with the file reader given (for tests).
pub fn parse_with(
    args: &[OsString],
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Command, UsageError> {
    if args.first().is_some_and(|a| a == "group") {
        return parse_group(&args[1..], read);
    }
    let (opts, operands, malformed) = getopt(args);
    let mut p = Parsed::default();
    for o in &opts {
        if let Some(c) = p.apply(o, read)? {
            return Ok(c);
        }
    }
    if let Some(e) = malformed {
        return Err(e);
    }
    p.finish(operands)
}

fn parse_group(
    args: &[OsString],
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Command, UsageError> {
    const ALLOWED: &[char] = &['b', 'X', 'F', 'J', 'q', 'v', 'm', 'd', 'E', 'u', 'h'];
    let (opts, operands, malformed) = getopt(args);
    let mut p = Parsed::default();
    for o in &opts {
        match o.name {
            Name::Short(c) if ALLOWED.contains(&c) => {}
            n => {
                return usage(format!(
                    "{n} is not an option of 'kasio group': it takes -b, -X, -F, -J, -q, -v, -m, -d, -E"
                ))
            }
        }
        if let Some(c) = p.apply(o, read)? {
            return Ok(c);
        }
    }
    if let Some(e) = malformed {
        return Err(e);
    }
    let sub = operands.first().and_then(|s| s.to_str());
    let group = match operands.get(1) {
        Some(g) => text(Name::Long("group"), g)?,
        None => return usage("kasio group describe|lag GROUP: the group id is missing"),
    };
    if group.is_empty() {
        return usage("kasio group: the group id is empty");
    }
    if let Some(extra) = operands.get(2) {
        return usage(format!(
            "kasio group: unexpected argument '{}' after the group id",
            extra.to_string_lossy()
        ));
    }
    let common = p.common()?;
    let g = GroupArgs {
        common,
        group,
        json: p.json,
    };
    match sub {
        Some("describe") => Ok(Command::GroupDescribe(g)),
        Some("lag") => Ok(Command::GroupLag(g)),
        _ => usage(format!(
            "kasio group: unknown command '{}': expected describe or lag",
            operands[0].to_string_lossy()
        )),
    }
}

/// The flags as they accumulate, in order.
struct Parsed {
    mode: Option<char>,
    group: Option<String>,
    brokers: Option<String>,
    topics: Vec<String>,
    partition: Option<Option<i32>>,
    start: Option<StartOffset>,
    stop_at: Option<i64>,
    exit_at_end: bool,
    count: Option<u64>,
    output: OutputOptions,
    json: bool,
    properties: Vec<Property>,
    dump: bool,
    verbosity: u8,
    request_timeout: Duration,
    debug: Option<String>,
    exit_on_error: bool,
    unbuffered: bool,
    progress: Progress,
}

impl Default for Parsed {
    fn default() -> Self {
        Self {
            mode: None,
            group: None,
            brokers: None,
            topics: Vec::new(),
            partition: None,
            start: None,
            stop_at: None,
            exit_at_end: false,
            count: None,
            output: OutputOptions::default(),
            json: false,
            properties: Vec::new(),
            dump: false,
            verbosity: 1,
            request_timeout: Duration::from_secs(5),
            debug: None,
            exit_on_error: true,
            unbuffered: false,
            progress: Progress::Auto,
        }
    }
}

impl Parsed {
    /// Applies one flag; `Some` for the flags that end parsing (`-h`, `-V`, `-X list`).
    fn apply(
        &mut self,
        o: &Opt,
        read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Option<Command>, UsageError> {
        let v = o.value.as_ref();
        let t = || text(o.name, v.expect("getopt gave the value"));
        let raw = || os_bytes(v.expect("getopt gave the value"));
        match o.name {
            Name::Short(c @ ('C' | 'L' | 'Q')) => self.mode = Some(c),
            Name::Short('G') => {
                let g = t()?;
                if g.is_empty() {
                    return usage("-G: the group id is empty");
                }
                self.mode = Some('G');
                self.group = Some(g);
            }
            Name::Short('b') => {
                let b = t()?;
                if b.trim().is_empty() {
                    return usage("-b: expected host[:port],..., got nothing");
                }
                self.brokers = Some(b);
            }
            Name::Short('t') => self.topics.push(t()?),
            Name::Short('p') => {
                let s = t()?;
                self.partition = Some(match s.parse::<i32>() {
                    // kcat: -1 is RD_KAFKA_PARTITION_UA, every partition.
                    Ok(-1) => None,
                    Ok(n) if n >= 0 => Some(n),
                    _ => {
                        return usage(format!(
                            "-p: invalid partition '{s}': expected a partition number (0 or more), or -1 for all"
                        ))
                    }
                });
            }
            Name::Short('o') => match offsets::parse(&t()?) {
                Ok(OffsetSpec::Start(s)) => self.start = Some(s),
                Ok(OffsetSpec::StopAt(ts)) => self.stop_at = Some(ts),
                Err(e) => return usage(format!("-o: {e}")),
            },
            Name::Short('e') => self.exit_at_end = true,
            Name::Short('c') => {
                let s = t()?;
                match s.parse::<u64>() {
                    Ok(n) if n > 0 => self.count = Some(n),
                    _ => {
                        return usage(format!(
                            "-c: invalid count '{s}': expected a number of records, 1 or more"
                        ))
                    }
                }
            }
            Name::Short('f') => self.output.format = Some(raw()),
            Name::Short('J') => {
                self.output.json = true;
                self.json = true;
            }
            Name::Short('D') => self.output.delim = raw(),
            Name::Short('K') => self.output.key_delim = Some(raw()),
            Name::Short('Z') => self.output.null_str = true,
            Name::Short('X') => {
                let s = t()?;
                match s.as_str() {
                    "list" | "help" => return Ok(Some(Command::ListProperties)),
                    "dump" => self.dump = true,
                    _ => match s.split_once('=') {
                        Some((name, value)) => self.property(name, value, Origin::Flag)?,
                        None => {
                            return usage(format!(
                            "-X: expected property=value, not '{s}' (-X list shows the properties)"
                        ))
                        }
                    },
                }
            }
            Name::Short('F') => {
                let path = v.expect("getopt gave the value");
                // kcat: `-F -` and `-F none` only turn off its default files.
                if path != "-" && path != "none" {
                    self.config_file(Path::new(path), read)?;
                }
            }
            Name::Short('q') => self.verbosity = 0,
            Name::Short('v') => self.verbosity = self.verbosity.saturating_add(1),
            Name::Short('u') => self.unbuffered = true,
            Name::Short('m') => {
                let s = t()?;
                match s.parse::<u64>() {
                    Ok(n) => self.request_timeout = Duration::from_secs(n),
                    Err(_) => {
                        return usage(format!("-m: invalid timeout '{s}': expected whole seconds"))
                    }
                }
            }
            Name::Short('d') => {
                let contexts = t()?;
                crate::debug::level(&contexts)?;
                self.debug = Some(contexts);
            }
            Name::Short('E') => self.exit_on_error = false,
            // kcat 1.7 accepts -O and prints nothing different for it.
            Name::Short('O') => {}
            Name::Short('h') => return Ok(Some(Command::Help)),
            Name::Short('V') => return Ok(Some(Command::Version)),
            Name::Long("time-format") => {
                self.output.time = match t()?.as_str() {
                    "ms" => TimeFormat::Millis,
                    "iso" => TimeFormat::Iso,
                    other => {
                        return usage(format!(
                            "--time-format: invalid value '{other}': expected ms or iso"
                        ))
                    }
                }
            }
            Name::Long("json-encoding") => {
                self.output.encoding = match t()?.as_str() {
                    "raw" => JsonEncoding::Raw,
                    "base64" => JsonEncoding::Base64,
                    other => {
                        return usage(format!(
                            "--json-encoding: invalid value '{other}': expected raw or base64"
                        ))
                    }
                }
            }
            Name::Long("progress") => {
                self.progress = match t()?.as_str() {
                    "auto" => Progress::Auto,
                    "always" => Progress::Always,
                    "never" => Progress::Never,
                    other => {
                        return usage(format!(
                            "--progress: invalid value '{other}': expected auto, always or never"
                        ))
                    }
                }
            }
            Name::Short(c) => unreachable!("flag -{c} is in FLAGS but not handled"),
            Name::Long(l) => unreachable!("option --{l} is in LONG_ONLY but not handled"),
        }
        Ok(None)
    }

    fn property(&mut self, name: &str, value: &str, origin: Origin) -> Result<(), UsageError> {
        if name == "debug" {
            // librdkafka's property behind kcat's -d.
            crate::debug::level(value)?;
            self.debug = Some(value.to_owned());
            return Ok(());
        }
        // librdkafka's spellings that kasio-core knows under Kafka's names.
        let name = name.strip_prefix("topic.").unwrap_or(name);
        let name = if name == "metadata.broker.list" {
            "bootstrap.servers"
        } else {
            name
        };
        self.properties.push(Property {
            name: name.to_owned(),
            value: value.to_owned(),
            origin,
        });
        Ok(())
    }

    /// kcat's `read_conf_file`.
    fn config_file(
        &mut self,
        path: &Path,
        read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<(), UsageError> {
        let bytes = read(path)
            .map_err(|e| UsageError(format!("-F: cannot read {}: {e}", path.display())))?;
        let Ok(content) = String::from_utf8(bytes) else {
            return usage(format!("-F: {} is not UTF-8 text", path.display()));
        };
        for (n, line) in content.lines().enumerate() {
            let at = || Origin::File {
                path: path.to_path_buf(),
                line: n + 1,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Java .properties files escape these; kcat unescapes them.
            let line = line.replace("\\:", ":").replace("\\=", "=");
            let Some((name, value)) = line.split_once('=') else {
                return usage(format!("{}: expected property=value", at()));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                return usage(format!("{}: expected property=value", at()));
            }
            if name == "sasl.jaas.config" {
                if let Some((user, pass)) = jaas_plain(value) {
                    self.property("sasl.username", user, at())?;
                    self.property("sasl.password", pass, at())?;
                    continue;
                }
            }
            self.property(name, value, at())?;
        }
        Ok(())
    }

    fn common(&mut self) -> Result<Common, UsageError> {
        let mut properties = std::mem::take(&mut self.properties);
        let cluster = if let Some(b) = &self.brokers {
            properties.push(Property {
                name: "bootstrap.servers".into(),
                value: b.clone(),
                origin: Origin::Brokers,
            });
            Cluster::Brokers(b.clone())
        } else if let Some(p) = properties
            .iter()
            .rev()
            .find(|p| p.name == "bootstrap.servers")
        {
            Cluster::Brokers(p.value.clone())
        } else {
            Cluster::Simulated
        };
        if let Some(g) = &self.group {
            properties.push(Property {
                name: "group.id".into(),
                value: g.clone(),
                origin: Origin::Group,
            });
        }
        Ok(Common {
            cluster,
            properties,
            verbosity: self.verbosity,
            request_timeout: self.request_timeout,
            debug: self.debug.clone(),
            exit_on_error: self.exit_on_error,
            unbuffered: self.unbuffered,
        })
    }

    fn finish(mut self, operands: Vec<OsString>) -> Result<Command, UsageError> {
        let mode = self.mode.unwrap_or('C');
        if mode != 'G' {
            if let Some(op) = operands.first() {
                return usage(format!(
                    "unexpected argument '{}': topics are given as arguments only with -G (else -t topic)",
                    op.to_string_lossy()
                ));
            }
        }
        let formatter = Formatter::new(&self.output).map_err(|(src, e)| format_error(src, e))?;
        let common = self.common()?;
        if self.dump {
            return Ok(Command::DumpConfig(common));
        }
        let simulated = common.cluster == Cluster::Simulated;
        match mode {
            'L' => {
                if self.topics.len() > 1 {
                    return usage("-L: give at most one -t topic");
                }
                Ok(Command::Metadata(Metadata {
                    common,
                    topic: self.topics.pop(),
                    json: self.json,
                }))
            }
            'Q' => {
                let mut queries = Vec::new();
                for t in &self.topics {
                    let q = topic_partition_time(t)?;
                    if queries
                        .iter()
                        .any(|(t, p, _): &(String, i32, i64)| *t == q.0 && *p == q.1)
                    {
                        return usage(format!(
                            "-Q: partition {} of topic {} is given twice",
                            q.1, q.0
                        ));
                    }
                    queries.push(q);
                }
                if queries.is_empty() {
                    return usage("-Q needs one or more -t topic:partition:timestamp");
                }
                Ok(Command::QueryOffsets(QueryOffsets {
                    common,
                    queries,
                    json: self.json,
                }))
            }
            'G' => {
                if matches!(self.partition, Some(Some(_))) {
                    return usage("-p cannot be used with -G: the group assigns the partitions");
                }
                if matches!(self.start, Some(StartOffset::Timestamp(_))) || self.stop_at.is_some() {
                    return usage("-o s@/e@ timestamps cannot be used with -G (as in kcat)");
                }
                let mut topics = self.topics;
                for op in &operands {
                    topics.push(text(Name::Short('G'), op)?);
                }
                if topics.is_empty() {
                    return usage("-G GROUP needs at least one topic: kasio -G GROUP TOPIC...");
                }
                if let Some(t) = topics.iter().find(|t| t.is_empty()) {
                    return usage(format!("-G: empty topic name '{t}'"));
                }
                Ok(Command::Consume(Consume {
                    common,
                    source: Source::Group {
                        group: self.group.expect("-G set the group"),
                        topics,
                    },
                    start: self.start,
                    stop_at: None,
                    count: self.count,
                    exit_at_end: self.exit_at_end,
                    output: formatter,
                    progress: self.progress,
                }))
            }
            _ => {
                let topic =
                    match (self.topics.len(), simulated) {
                        (0, true) => DEMO_TOPIC.to_owned(),
                        (0, false) => return usage("-t topic is missing (or -G group topic...)"),
                        (1, _) => self.topics.pop().expect("one topic"),
                        _ => return usage(
                            "-C reads one topic: give one -t (or -G group topic... for several)",
                        ),
                    };
                if topic.is_empty() {
                    return usage("-t: the topic name is empty");
                }
                Ok(Command::Consume(Consume {
                    common,
                    source: Source::Partitions {
                        topic,
                        partition: self.partition.flatten(),
                    },
                    // kcat: no -o in -C mode starts at the beginning.
                    start: Some(self.start.unwrap_or(StartOffset::Beginning)),
                    stop_at: self.stop_at,
                    count: self.count,
                    exit_at_end: self.exit_at_end,
                    output: formatter,
                    progress: self.progress,
                }))
            }
        }
    }
}

fn format_error(src: FormatSource, e: FormatError) -> UsageError {
    let flag = match src {
        FormatSource::Format => "-f",
        FormatSource::Delim => "-D",
        FormatSource::KeyDelim => "-K",
    };
    UsageError(format!("{flag}: {e}"))
}

/// `-Q -t topic:partition:timestamp` (kcat's `add_topparoff`).
fn topic_partition_time(s: &str) -> Result<(String, i32, i64), UsageError> {
    let bad = || {
        usage(format!(
            "-t: expected topic:partition:timestamp with -Q (timestamp in ms, -1 for the end, -2 for the start), got '{s}'"
        ))
    };
    let mut it = s.splitn(3, ':');
    let (Some(topic), Some(p), Some(ts)) = (it.next(), it.next(), it.next()) else {
        return bad();
    };
    match (p.parse::<i32>(), ts.parse::<i64>()) {
        (Ok(p), Ok(ts)) if !topic.is_empty() && p >= 0 && ts >= -2 => Ok((topic.to_owned(), p, ts)),
        _ => bad(),
    }
}

/// kcat's conversion of a Java `sasl.jaas.config` (its `sscanf` pattern):
/// `org.apache.kafka.common.security.plain.PlainLoginModule required
/// username="U" password="P"`; anything else is passed on as it is.
fn jaas_plain(v: &str) -> Option<(&str, &str)> {
    let rest = v.strip_prefix("org.apache.kafka.common.security.plain.PlainLoginModule")?;
    let rest = rest.trim_start().strip_prefix("required")?;
    let rest = rest.trim_start().strip_prefix("username=\"")?;
    let (user, rest) = rest.split_once('"')?;
    let rest = rest.trim_start().strip_prefix("password=\"")?;
    let (pass, _) = rest.split_once('"')?;
    (!user.is_empty() && !pass.is_empty()).then_some((user, pass))
}

/// `-h`
pub const HELP: &str = "\
Usage: kasio [options] [-G group topic...]
       kasio group describe|lag GROUP [-b brokers] [-J]
A Kafka consumer with kcat's flags. Without -b it reads the in-process simulated
cluster's demo topic.

Modes:
  -C, --consume              consume -t topic (the default)
  -G, --group GROUP          consume as a member of GROUP the topics given as
                             arguments (^regex allowed)
  -L, --metadata             list brokers, topics and partitions (-t: one topic)
  -Q, --query                offsets by time: -t topic:partition:timestamp ...
  group describe GROUP       members, their assignment, committed offsets
  group lag GROUP            committed offset, end offset and lag per partition

General:
  -b, --brokers HOST:PORT,.. bootstrap brokers
  -t, --topic TOPIC          topic to consume or list
  -X, --property NAME=VALUE  a configuration property (Kafka's names); -X list
                             shows them, -X dump prints the configuration
  -F, --config-file FILE     properties from a file, one NAME=VALUE a line
  -m, --metadata-timeout S   request timeout in seconds (default 5)
  -q, --quiet                no informational messages
  -v, --verbose              more of them
  -d, --debug CONTEXTS       debug lines on stderr (librdkafka's context names; all = everything)
  -E, --continue-on-error    do not exit on non-fatal errors
  -h, --help / -V, --version

Consumer:
  -p, --partition N          one partition (-1: all)
  -o, --offset OFFSET        beginning | end | stored | N | -N (N before the end)
                             | s@MS (first at/after timestamp) | e@MS (stop before)
  -e, --exit                 exit when every partition reached the end it had at
                             start (the last stable offset under read_committed)
  -c, --count N              exit after N records
  -f, --format FORMAT        output format, see below (takes precedence over -D/-K)
  -J, --json                 kcat's JSON envelope, one object a line
  -D, --delimiter DELIM      record delimiter (default \\n)
  -K, --key-delimiter DELIM  print keys, followed by DELIM
  -Z, --null                 print NULL for null (and empty) keys and values
  -u, --unbuffered           flush after every record
  --time-format ms|iso       %T and -J timestamps: milliseconds (default) or
                             ISO 8601 UTC (-J adds \"ts_iso\")
  --json-encoding raw|base64 -J keys, values and header values as kcat (raw) or
                             base64 with \"encoding\":\"base64\" (binary-safe)
  --progress auto|always|never
                             live progress line on stderr (auto: if a terminal)

Format tokens (-f):
  %s value   %S value length (-1 for null)   %R value length, binary int32 BE
  %k key     %K key length (-1 for null)     %T timestamp   %h headers (n=v,..)
  %t topic   %p partition   %o offset   %% percent
  \\n \\r \\t  \\xHH  \\NNN escapes

Exit codes: 0 done, 1 runtime error, 2 usage error.
";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn files() -> HashMap<PathBuf, Vec<u8>> {
        let mut m = HashMap::new();
        m.insert(
            PathBuf::from("kcat.conf"),
            b"# a comment\n\n  fetch.max.wait.ms = 100  \nclient.id=a\\=b\\:c\n\
              sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p w\";\n\
              security.protocol=SASL_SSL\n"
                .to_vec(),
        );
        m.insert(
            PathBuf::from("bad.conf"),
            b"ok=1\nno equals here\n".to_vec(),
        );
        m.insert(PathBuf::from("eq.conf"), b"=value\n".to_vec());
        m
    }

    fn p(a: &[&str]) -> Result<Command, UsageError> {
        let fs = files();
        parse_with(&args(a), &mut |path| {
            fs.get(path).cloned().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
            })
        })
    }

    fn consume(a: &[&str]) -> Consume {
        match p(a) {
            Ok(Command::Consume(c)) => c,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    fn err(a: &[&str]) -> String {
        match p(a) {
            Err(UsageError(e)) => e,
            other => panic!("{a:?} should fail: {other:?}"),
        }
    }

    fn prop<'a>(c: &'a Common, name: &str) -> Option<&'a str> {
        c.properties
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    #[test]
    fn debug_contexts_from_d_or_the_debug_property() {
        assert_eq!(
            consume(&["-d", "cgrp,fetch"]).common.debug.as_deref(),
            Some("cgrp,fetch")
        );
        let c = consume(&["-X", "debug=all"]);
        assert_eq!(c.common.debug.as_deref(), Some("all"));
        // Not passed on to kasio-core, which has no `debug` property.
        assert_eq!(prop(&c.common, "debug"), None);
        assert!(err(&["-d", "cgrp,nope"]).contains("unknown debug context 'nope'"));
        assert!(err(&["-X", "debug=nope"]).contains("unknown debug context 'nope'"));
    }

    #[test]
    fn no_arguments_reads_the_demo_topic() {
        let c = consume(&[]);
        assert_eq!(c.common.cluster, Cluster::Simulated);
        assert_eq!(
            c.source,
            Source::Partitions {
                topic: DEMO_TOPIC.into(),
                partition: None
            }
        );
        assert_eq!(c.start, Some(StartOffset::Beginning));
        assert!(!c.exit_at_end);
        assert_eq!(c.common.verbosity, 1);
        assert_eq!(c.common.request_timeout, Duration::from_secs(5));
        assert!(c.common.exit_on_error);
    }

    #[test]
    fn values_attached_or_separate() {
        for a in [
            &[
                "-b", "k:9092", "-t", "foo", "-p", "2", "-o", "5", "-c", "10",
            ][..],
            &["-bk:9092", "-tfoo", "-p2", "-o5", "-c10"],
            &[
                "--brokers",
                "k:9092",
                "--topic=foo",
                "--partition",
                "2",
                "--offset=5",
                "--count",
                "10",
            ],
        ] {
            let c = consume(a);
            assert_eq!(c.common.cluster, Cluster::Brokers("k:9092".into()), "{a:?}");
            assert_eq!(
                c.source,
                Source::Partitions {
                    topic: "foo".into(),
                    partition: Some(2)
                }
            );
            assert_eq!(c.start, Some(StartOffset::Offset(5)));
            assert_eq!(c.count, Some(10));
            assert_eq!(prop(&c.common, "bootstrap.servers"), Some("k:9092"));
        }
    }

    #[test]
    fn clusters_and_getopt_corners() {
        // -qeC is three flags; the value-taking flag ends a cluster.
        let c = consume(&["-qeC", "-uZtfoo"]);
        assert_eq!(c.common.verbosity, 0);
        assert!(c.exit_at_end && c.common.unbuffered);
        // A separate value may start with '-'.
        let c = consume(&["-t", "foo", "-o", "-5"]);
        assert_eq!(c.start, Some(StartOffset::Tail(5)));
        // -q then -v: verbosity 1; -v -v: 3.
        assert_eq!(consume(&["-q", "-v"]).common.verbosity, 1);
        assert_eq!(consume(&["-vv"]).common.verbosity, 3);
        // Operands may come before, between and after flags (glibc permutes).
        match p(&["t1", "-G", "g", "t2", "-e", "--", "-t3"]).unwrap() {
            Command::Consume(c) => {
                assert_eq!(
                    c.source,
                    Source::Group {
                        group: "g".into(),
                        topics: vec!["t1".into(), "t2".into(), "-t3".into()]
                    }
                );
                assert!(c.exit_at_end);
                assert_eq!(c.start, None);
                assert_eq!(prop(&c.common, "group.id"), Some("g"));
            }
            other => panic!("{other:?}"),
        }
        // "-" alone is an operand.
        assert!(err(&["-"]).contains("unexpected argument '-'"));
    }

    #[test]
    fn modes() {
        match p(&["-L", "-b", "k:1", "-J"]).unwrap() {
            Command::Metadata(m) => {
                assert_eq!(m.topic, None);
                assert!(m.json);
            }
            other => panic!("{other:?}"),
        }
        match p(&["--metadata", "-t", "foo"]).unwrap() {
            Command::Metadata(m) => assert_eq!(m.topic.as_deref(), Some("foo")),
            other => panic!("{other:?}"),
        }
        // -t before -Q is still a query (kcat would take it as a plain topic).
        match p(&[
            "-t",
            "a:0:1700000000000",
            "-Q",
            "-t",
            "b:3:-1",
            "-t",
            "a:1:-2",
        ])
        .unwrap()
        {
            Command::QueryOffsets(q) => {
                assert_eq!(
                    q.queries,
                    vec![
                        ("a".into(), 0, 1_700_000_000_000),
                        ("b".into(), 3, -1),
                        ("a".into(), 1, -2)
                    ]
                );
                assert!(!q.json);
            }
            other => panic!("{other:?}"),
        }
        // The last mode flag wins, as in kcat.
        assert!(matches!(
            p(&["-L", "-C", "-t", "x"]).unwrap(),
            Command::Consume(_)
        ));
        assert_eq!(p(&["-h"]).unwrap(), Command::Help);
        assert_eq!(p(&["--help", "--bogus"]).unwrap(), Command::Help);
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
        assert_eq!(p(&["-X", "list"]).unwrap(), Command::ListProperties);
        assert_eq!(p(&["-Xhelp"]).unwrap(), Command::ListProperties);
        match p(&["-X", "dump", "-X", "client.id=x"]).unwrap() {
            Command::DumpConfig(c) => assert_eq!(prop(&c, "client.id"), Some("x")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn group_commands() {
        match p(&["group", "describe", "g1", "-b", "k:1", "-J"]).unwrap() {
            Command::GroupDescribe(g) => {
                assert_eq!(g.group, "g1");
                assert!(g.json);
                assert_eq!(g.common.cluster, Cluster::Brokers("k:1".into()));
            }
            other => panic!("{other:?}"),
        }
        match p(&["group", "-X", "client.id=c", "lag", "g2"]).unwrap() {
            Command::GroupLag(g) => {
                assert_eq!(g.group, "g2");
                assert!(!g.json);
                assert_eq!(g.common.cluster, Cluster::Simulated);
            }
            other => panic!("{other:?}"),
        }
        assert!(err(&["group"]).contains("group id is missing"));
        assert!(err(&["group", "lag"]).contains("group id is missing"));
        assert!(err(&["group", "show", "g"]).contains("unknown command 'show'"));
        assert!(err(&["group", "lag", "g", "x"]).contains("unexpected argument 'x'"));
        assert!(err(&["group", "lag", "g", "-t", "x"]).contains("-t is not an option"));
        assert!(err(&["group", "lag", ""]).contains("empty"));
    }

    #[test]
    fn offsets_every_form() {
        let start = |o: &str| consume(&["-t", "x", "-o", o]).start;
        assert_eq!(start("beginning"), Some(StartOffset::Beginning));
        assert_eq!(start("end"), Some(StartOffset::End));
        assert_eq!(start("stored"), Some(StartOffset::Stored));
        assert_eq!(start("17"), Some(StartOffset::Offset(17)));
        assert_eq!(start("-17"), Some(StartOffset::Tail(17)));
        assert_eq!(start("s@1000"), Some(StartOffset::Timestamp(1000)));
        let c = consume(&["-t", "x", "-o", "s@1000", "-o", "e@2000"]);
        assert_eq!(c.start, Some(StartOffset::Timestamp(1000)));
        assert_eq!(c.stop_at, Some(2000));
        let c = consume(&["-t", "x", "-o", "e@2000"]);
        assert_eq!(c.start, Some(StartOffset::Beginning));
        assert_eq!(c.stop_at, Some(2000));
        let e = err(&["-t", "x", "-o", "begining"]);
        assert!(e.starts_with("-o: invalid offset 'begining'"), "{e}");
        assert!(e.contains(offsets::FORMS), "{e}");
        assert!(err(&["-G", "g", "t", "-o", "s@5"]).contains("cannot be used with -G"));
        assert!(err(&["-G", "g", "t", "-o", "e@5"]).contains("cannot be used with -G"));
        let c = consume(&["-G", "g", "t", "-o", "end"]);
        assert_eq!(c.start, Some(StartOffset::End));
    }

    #[test]
    fn partitions() {
        let part = |v: &str| match consume(&["-t", "x", "-p", v]).source {
            Source::Partitions { partition, .. } => partition,
            s => panic!("{s:?}"),
        };
        assert_eq!(part("0"), Some(0));
        assert_eq!(part("-1"), None);
        for bad in ["-2", "x", "1.0", ""] {
            let e = err(&["-t", "x", "-p", bad]);
            assert!(
                e.starts_with(&format!("-p: invalid partition '{bad}'")),
                "{e}"
            );
        }
        assert!(err(&["-G", "g", "t", "-p", "1"]).contains("-p cannot be used with -G"));
        // -p -1 is "all" and fine with -G.
        consume(&["-G", "g", "t", "-p", "-1"]);
    }

    #[test]
    fn usage_errors_name_the_flag() {
        for (a, want) in [
            (&["-y"][..], "unknown option -y"),
            (&["--nope"], "unknown option --nope"),
            (&["-t"], "-t needs a value"),
            (&["--topic"], "--topic needs a value"),
            (&["--json=1"], "--json takes no value"),
            (&["-P"], "-P: producing is not supported"),
            (&["-z", "gzip"], "-z: compression"),
            (&["-k", "key"], "-k: a fixed key"),
            (&["-H", "a=b"], "-H: headers"),
            (&["-s", "i"], "-s: -s deserializers"),
            (&["-r", "u"], "-r: schema registry"),
            (&["-l"], "-l: line mode"),
            (&["-T"], "-T: tee"),
            (&["-c", "0"], "-c: invalid count '0'"),
            (&["-c", "-3"], "-c: invalid count '-3'"),
            (&["-m", "x"], "-m: invalid timeout 'x'"),
            (&["-X", "foo"], "-X: expected property=value, not 'foo'"),
            (&["-b", ""], "-b: expected host[:port]"),
            (&["-G", ""], "-G: the group id is empty"),
            (&["-G", "g"], "-G GROUP needs at least one topic"),
            (&["-b", "k:1"], "-t topic is missing"),
            (&["-t", "a", "-t", "b"], "-C reads one topic"),
            (&["-t", ""], "-t: the topic name is empty"),
            (&["-t", "a", "extra"], "unexpected argument 'extra'"),
            (&["-L", "-t", "a", "-t", "b"], "-L: give at most one -t"),
            (&["-Q"], "-Q needs one or more -t"),
            (&["-Q", "-t", "a"], "-t: expected topic:partition:timestamp"),
            (
                &["-Q", "-t", "a:x:1"],
                "-t: expected topic:partition:timestamp",
            ),
            (
                &["-Q", "-t", "a:0:"],
                "-t: expected topic:partition:timestamp",
            ),
            (
                &["-Q", "-t", ":0:1"],
                "-t: expected topic:partition:timestamp",
            ),
            (
                &["-Q", "-t", "a:0:-3"],
                "-t: expected topic:partition:timestamp",
            ),
            (
                &["-Q", "-t", "a:0:1", "-t", "a:0:2"],
                "-Q: partition 0 of topic a is given twice",
            ),
            (&["-f", "%s%"], "-f: the format ends with a lone '%'"),
            (&["-f", "%y"], "-f: unsupported format token '%y'"),
            (&["-D", "%"], "-D: the format ends with a lone '%'"),
            (&["-K", "\\xz"], "-K: '\\xz' expects a hex number"),
            (
                &["--time-format", "local"],
                "--time-format: invalid value 'local': expected ms or iso",
            ),
            (
                &["--json-encoding=hex"],
                "--json-encoding: invalid value 'hex': expected raw or base64",
            ),
            (&["--progress", "yes"], "--progress: invalid value 'yes'"),
            (&["-F", "missing.conf"], "-F: cannot read missing.conf"),
            (&["-F", "bad.conf"], "bad.conf:2: expected property=value"),
            (&["-F", "eq.conf"], "eq.conf:1: expected property=value"),
        ] {
            let e = err(a);
            assert!(
                e.starts_with(want),
                "{a:?}: {e:?} does not start with {want:?}"
            );
        }
    }

    #[test]
    fn properties_in_order_with_origins() {
        let c = consume(&[
            "-X",
            "client.id=first",
            "-F",
            "kcat.conf",
            "-Xtopic.auto.offset.reset=earliest",
            "-X",
            "metadata.broker.list=m:1",
            "-b",
            "k:1",
            "-t",
            "x",
        ]);
        let got: Vec<(&str, &str, String)> = c
            .common
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str(), p.origin.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("client.id", "first", "-X".to_string()),
                ("fetch.max.wait.ms", "100", "kcat.conf:3".into()),
                ("client.id", "a=b:c", "kcat.conf:4".into()),
                ("sasl.username", "u", "kcat.conf:5".into()),
                ("sasl.password", "p w", "kcat.conf:5".into()),
                ("security.protocol", "SASL_SSL", "kcat.conf:6".into()),
                ("auto.offset.reset", "earliest", "-X".into()),
                ("bootstrap.servers", "m:1", "-X".into()),
                ("bootstrap.servers", "k:1", "-b".into()),
            ]
        );
        // bootstrap.servers from -X alone selects a real cluster.
        let c = consume(&["-X", "bootstrap.servers=x:1", "-t", "t"]);
        assert_eq!(c.common.cluster, Cluster::Brokers("x:1".into()));
        // -F - and -F none read nothing.
        assert!(consume(&["-F", "-", "-F", "none"])
            .common
            .properties
            .is_empty());
    }

    #[test]
    fn config_errors_name_property_and_origin() {
        let c = consume(&["-X", "fetch.max.wait.ms=soon", "-b", "k:1", "-t", "x"]);
        let e = c.common.config().unwrap_err().0;
        assert!(
            e.starts_with("configuration: fetch.max.wait.ms: invalid value \"soon\""),
            "{e}"
        );
        assert!(e.ends_with("(from -X)"), "{e}");
        let c = consume(&["-F", "kcat.conf", "-X", "no.such=1"]);
        let e = c.common.config().unwrap_err().0;
        assert_eq!(e, "configuration: no.such: unknown property (from -X)");
        let c = consume(&["-F", "kcat.conf"]);
        c.common.config().unwrap();
        let c = consume(&["-X", "client.id=x"]);
        assert_eq!(
            c.common.config().unwrap().get("client.id").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn output_options() {
        let c = consume(&["-J", "-Z", "--time-format=iso", "--json-encoding", "base64"]);
        let want = Formatter::new(&OutputOptions {
            json: true,
            null_str: true,
            time: TimeFormat::Iso,
            encoding: JsonEncoding::Base64,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.output, want);
        let c = consume(&["-K", ":", "-D", "\\r\\n"]);
        let want = Formatter::new(&OutputOptions {
            key_delim: Some(b":".to_vec()),
            delim: b"\\r\\n".to_vec(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.output, want);
        assert_eq!(consume(&["--progress", "never"]).progress, Progress::Never);
        assert_eq!(consume(&[]).progress, Progress::Auto);
    }

    #[cfg(unix)]
    #[test]
    fn binary_format_and_delimiters() {
        use std::os::unix::ffi::OsStringExt;
        let a = vec![
            OsString::from("-f"),
            OsString::from_vec(b"\xff%s\xfe".to_vec()),
            OsString::from("-D"),
            OsString::from_vec(b"\x80".to_vec()),
        ];
        let Command::Consume(c) = parse_with(&a, &mut |_| unreachable!()).unwrap() else {
            panic!()
        };
        let want = Formatter::new(&OutputOptions {
            format: Some(b"\xff%s\xfe".to_vec()),
            delim: b"\x80".to_vec(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.output, want);
        // Names must be text.
        let a = vec![OsString::from("-t"), OsString::from_vec(b"\xff".to_vec())];
        assert!(parse_with(&a, &mut |_| unreachable!())
            .unwrap_err()
            .0
            .contains("not valid UTF-8"));
    }

    #[test]
    fn oauthbearer_is_refused_by_name() {
        let c = consume(&[
            "-b",
            "k:9092",
            "-t",
            "t",
            "-X",
            "security.protocol=SASL_PLAINTEXT",
            "-X",
            "sasl.mechanism=OAUTHBEARER",
        ]);
        let e = c.common.config().unwrap_err().0;
        assert!(e.contains("sasl.mechanism=OAUTHBEARER"), "{e}");
    }

    #[test]
    fn credentials_over_plaintext_are_warned_about() {
        let warning = |props: &[&str]| {
            let mut argv = vec!["-b", "k:9092", "-t", "t"];
            for p in props {
                argv.extend(["-X", p]);
            }
            cleartext_credentials(&consume(&argv).common.config().unwrap())
        };
        let plain = warning(&[
            "security.protocol=SASL_PLAINTEXT",
            "sasl.username=u",
            "sasl.password=secret",
        ])
        .unwrap();
        assert!(plain.contains("sasl.mechanism=PLAIN"), "{plain}");
        assert!(plain.contains("unencrypted"), "{plain}");
        assert!(!plain.contains("secret"), "{plain}");
        let scram = warning(&[
            "security.protocol=SASL_PLAINTEXT",
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.username=u",
            "sasl.password=p",
        ])
        .unwrap();
        assert!(scram.contains("SCRAM-SHA-512"), "{scram}");
        for quiet in [
            &[
                "security.protocol=SASL_SSL",
                "sasl.username=u",
                "sasl.password=p",
            ][..],
            &["security.protocol=SSL"][..],
            &[][..],
        ] {
            assert_eq!(warning(quiet), None, "{quiet:?}");
        }
    }

    #[test]
    fn jaas_conversion() {
        assert_eq!(
            jaas_plain(
                "org.apache.kafka.common.security.plain.PlainLoginModule   required username=\"a\" password=\"b\";"
            ),
            Some(("a", "b"))
        );
        assert_eq!(
            jaas_plain("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"a\" password=\"b\";"),
            None
        );
        assert_eq!(
            jaas_plain("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"\" password=\"b\""),
            None
        );
    }

    #[test]
    fn every_flag_is_handled() {
        // A flag listed in FLAGS but missing from `apply` would panic here.
        for &(c, long, takes) in FLAGS {
            if matches!(c, 'h' | 'V') {
                continue;
            }
            let value = match c {
                'G' => "g",
                'p' | 'c' | 'm' => "1",
                'o' => "end",
                'X' => "client.id=x",
                'F' => "-",
                _ => "v",
            };
            let mut a = vec![format!("--{long}")];
            if takes {
                a.push(value.into());
            }
            a.extend(["-t".into(), "t".into()]);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let _ = p(&a);
        }
        for l in LONG_ONLY {
            let _ = p(&[&format!("--{l}"), "x"]);
        }
    }
}
