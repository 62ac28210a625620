use std::cell::Cell;

use super::*;

const SMALL: ArchiveLimits = ArchiveLimits {
    member_size: 4 << 20,
    total_size: 6 << 20,
    members: 3,
    ratio: 10,
};

fn copy(budget: &mut Budget, bytes: &[u8], stored: Stored<'_>) -> Result<Vec<u8>, Exceeded> {
    let mut out = Vec::new();
    match budget.copy(&mut &bytes[..], stored, &mut out) {
        Ok(n) => {
            assert_eq!(n as usize, out.len());
            Ok(out)
        }
        Err(Stop::Limit(e)) => {
            // Never more than one chunk past the bound is read, let alone kept.
            assert!(out.len() as u64 <= SMALL.member_size + (64 << 10));
            Err(e)
        }
        Err(Stop::Io(e)) => panic!("{e}"),
    }
}

#[test]
fn members_within_every_bound_are_copied_whole() {
    let mut budget = Budget::new(SMALL);
    let honest = vec![7u8; 3 << 20];
    assert_eq!(
        copy(&mut budget, &honest, Stored::Member(1 << 20)).unwrap(),
        honest
    );
    // A small member of one repeated byte is below the ratio's floor.
    let zeros = vec![0u8; 512 << 10];
    assert_eq!(
        copy(&mut budget, &zeros, Stored::Member(10)).unwrap(),
        zeros
    );
}

#[test]
fn each_bound_stops_the_copy_and_names_itself() {
    let big = vec![1u8; 5 << 20];
    let mut budget = Budget::new(SMALL);
    assert_eq!(
        copy(&mut budget, &big, Stored::Member(5 << 20)),
        Err(Exceeded::MemberSize(4 << 20))
    );
    let mut budget = Budget::new(SMALL);
    let part = vec![1u8; 3 << 20];
    copy(&mut budget, &part, Stored::Member(3 << 20)).unwrap();
    assert_eq!(
        copy(&mut budget, &vec![1u8; 7 << 19], Stored::Member(4 << 20)),
        Err(Exceeded::TotalSize(6 << 20))
    );
    let mut budget = Budget::new(SMALL);
    assert_eq!(
        copy(&mut budget, &vec![0u8; 2 << 20], Stored::Member(100 << 10)),
        Err(Exceeded::Ratio(10))
    );
    let mut budget = Budget::new(SMALL);
    for _ in 0..3 {
        budget.count_member().unwrap();
    }
    assert_eq!(budget.count_member(), Err(Exceeded::Members(3)));
    assert_eq!(budget.check_count(4), Err(Exceeded::Members(3)));
    assert_eq!(
        budget.check_declared(5 << 20),
        Err(Exceeded::MemberSize(4 << 20))
    );
}

#[test]
fn a_stream_is_held_to_the_ratio_of_all_it_unpacked() {
    let read = Cell::new(0);
    let mut budget = Budget::new(SMALL);
    // 1.5 MiB from 200 KiB of stream: 7.5 times, within the ratio.
    read.set(200 << 10);
    copy(&mut budget, &vec![0u8; 3 << 19], Stored::Stream(&read)).unwrap();
    // Another 1.5 MiB with no more of the stream read: 15 times.
    assert_eq!(
        copy(&mut budget, &vec![0u8; 3 << 19], Stored::Stream(&read)),
        Err(Exceeded::Ratio(10))
    );
    let mut counted = Counting {
        inner: &b"abcdef"[..],
        count: &read,
    };
    std::io::copy(&mut counted, &mut std::io::sink()).unwrap();
    assert_eq!(read.get(), (200 << 10) + 6);
}

#[test]
fn the_phrases_name_the_limit_and_its_key() {
    let phrases: Vec<String> = [
        Exceeded::MemberSize(256 << 20),
        Exceeded::TotalSize(1 << 30),
        Exceeded::Members(65_536),
        Exceeded::Ratio(100),
    ]
    .iter()
    .map(|e| {
        assert!(e.to_string().contains(&format!("`{}`", e.key())));
        e.to_string()
    })
    .collect();
    insta::assert_snapshot!(phrases.join("\n"));
}
