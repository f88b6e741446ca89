//! kcat's `-o` values.
//!
//! kcat reads them loosely (`strtoll` with no check: `-o foo` starts at offset 0);
//! kasio refuses anything it cannot read, naming the forms it accepts. kcat keeps
//! `s@` and `e@` in fields of their own, apart from the other forms, so
//! `-o s@T -o e@U` sets both ends; [`OffsetSpec`] keeps that split.

/// Where consuming starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// `beginning`: the log start offset.
    Beginning,
    /// `end`: only records produced from now on.
    End,
    /// `stored`: the group's committed offset (kcat: librdkafka's stored offset), else
    /// `auto.offset.reset`.
    Stored,
    /// `N`: this absolute offset.
    Offset(i64),
    /// `-N`: N records before the end of each partition (librdkafka's
    /// `RD_KAFKA_OFFSET_TAIL(N)`).
    Tail(u64),
    /// `s@T`: the first record whose timestamp is at or after T ms (ListOffsets by
    /// time).
    Timestamp(i64),
}

/// One `-o` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// Any form but `e@`.
    Start(StartOffset),
    /// `e@T`: stop each partition at its first record with a timestamp at or after T
    /// ms, not printing that record.
    StopAt(i64),
}

/// The forms `-o` accepts, for error messages.
pub const FORMS: &str =
    "beginning, end, stored, <offset>, -<count from end>, s@<start ms>, e@<stop ms>";

/// Reads one `-o` value.
pub fn parse(s: &str) -> Result<OffsetSpec, String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid offset '{s}'{why}: expected one of {FORMS}"
        ))
    };
    let timestamp = |t: &str| match t.parse::<i64>() {
        Ok(t) if t >= 0 => Ok(t),
        _ => Err(format!(
            "invalid timestamp in '{s}': expected milliseconds since the epoch (0 or more)"
        )),
    };
    Ok(match s {
        "beginning" => OffsetSpec::Start(StartOffset::Beginning),
        "end" => OffsetSpec::Start(StartOffset::End),
        "stored" => OffsetSpec::Start(StartOffset::Stored),
        _ => {
            if let Some(t) = s.strip_prefix("s@") {
                OffsetSpec::Start(StartOffset::Timestamp(timestamp(t)?))
            } else if let Some(t) = s.strip_prefix("e@") {
                OffsetSpec::StopAt(timestamp(t)?)
            } else if let Some(n) = s.strip_prefix('-') {
                match n.parse::<u64>() {
                    _ if n.starts_with('+') => return bad(""),
                    // kcat: `-0` is `strtoll` 0, not negative: offset 0.
                    Ok(0) => OffsetSpec::Start(StartOffset::Offset(0)),
                    Ok(n) => OffsetSpec::Start(StartOffset::Tail(n)),
                    Err(_) => return bad(""),
                }
            } else {
                match s.parse::<i64>() {
                    Ok(n) => OffsetSpec::Start(StartOffset::Offset(n)),
                    Err(_) => return bad(""),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form() {
        use OffsetSpec::*;
        use StartOffset::*;
        assert_eq!(parse("beginning"), Ok(Start(Beginning)));
        assert_eq!(parse("end"), Ok(Start(End)));
        assert_eq!(parse("stored"), Ok(Start(Stored)));
        assert_eq!(parse("0"), Ok(Start(Offset(0))));
        assert_eq!(parse("1234"), Ok(Start(Offset(1234))));
        assert_eq!(parse("+5"), Ok(Start(Offset(5))));
        assert_eq!(parse("-10"), Ok(Start(Tail(10))));
        assert_eq!(parse("-0"), Ok(Start(Offset(0))));
        assert_eq!(
            parse("s@1700000000000"),
            Ok(Start(Timestamp(1_700_000_000_000)))
        );
        assert_eq!(parse("e@1700000000001"), Ok(StopAt(1_700_000_000_001)));
        assert_eq!(parse("s@0"), Ok(Start(Timestamp(0))));
    }

    #[test]
    fn refusals_name_the_forms() {
        for bad in ["", "foo", "Beginning", "1.5", "--3", "-+3", "-x", "12abc"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(FORMS), "{bad}: {e}");
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        for bad in ["s@", "s@x", "e@-5", "s@1e3"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("milliseconds since the epoch"), "{bad}: {e}");
        }
    }
}
