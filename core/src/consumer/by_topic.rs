//! Kafka requests list partitions topic by topic; the consumer keeps them as
//! [`TopicPartition`]s in order. One helper turns the one into the other.

use alloc::vec::Vec;

use super::event::TopicPartition;

/// Groups `items` (in topic order, as a `BTreeMap<TopicPartition, _>` yields them)
/// into one entry per topic: `topic` makes an entry for a topic name, `add` puts a
/// partition into it. Items of one topic that are not adjacent make two entries.
pub(crate) fn group_by_topic<'a, X, T>(
    items: impl IntoIterator<Item = (&'a TopicPartition, X)>,
    mut topic: impl FnMut(&str) -> T,
    mut add: impl FnMut(&mut T, i32, X),
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    let mut current: Option<&str> = None;
    for (tp, x) in items {
        if current != Some(tp.topic.as_str()) {
            current = Some(tp.topic.as_str());
            out.push(topic(&tp.topic));
        }
        if let Some(entry) = out.last_mut() {
            add(entry, tp.partition, x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn partitions_are_grouped_under_their_topic_in_order() {
        let tps = [
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 1),
        ];
        let grouped = group_by_topic(
            tps.iter().map(|tp| (tp, tp.partition * 10)),
            |t| (String::from(t), Vec::new()),
            |(_, ps), p, x| ps.push((p, x)),
        );
        assert_eq!(
            grouped,
            [
                (String::from("a"), alloc::vec![(0, 0), (2, 20)]),
                (String::from("b"), alloc::vec![(1, 10)]),
            ]
        );
    }
}
