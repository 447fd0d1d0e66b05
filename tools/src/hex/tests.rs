//! Intel HEX: exact texts, round trips, and what is refused.

use super::*;

/// `len` pseudo-random bytes (xorshift32, fixed seed): reproducible
/// data that catches a shifted or reordered byte.
fn pseudo_random(len: usize, mut state: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

fn chunk(address: u32, bytes: Vec<u8>) -> Chunk {
    Chunk { address, bytes }
}

#[test]
fn round_trip_of_several_chunks() {
    let crossing = chunk(0x0000_FFF0, pseudo_random(40, 1)); // ..0x0001_0018
    let random = chunk(0x0002_0400, pseudo_random(1000, 2));
    let top = chunk(0xFFFF_FFF0, pseudo_random(16, 3)); // ends exactly at 2^32
    let single = chunk(0x0800_0000, vec![0x5A]);
    let empty = chunk(0x0003_0000, Vec::new());
    // Out of address order on purpose; the empty chunk writes nothing.
    let input = [
        random.clone(),
        top.clone(),
        empty,
        crossing.clone(),
        single.clone(),
    ];
    let text = intel_hex(&input).unwrap();

    for line in text.lines() {
        let record = ihex::Record::from_record_string(line).unwrap();
        if let ihex::Record::Data { offset, value } = record {
            assert!(value.len() <= RECORD_DATA_MAX, "{line}");
            assert!(usize::from(offset) + value.len() <= 0x1_0000, "{line}");
        }
    }
    // The crossing chunk switches the upper bits mid-chunk.
    assert!(text.contains(":020000040000FA\n"), "{text}");
    assert!(text.contains(":020000040001F9\n"), "{text}");
    assert!(text.ends_with(":00000001FF\n"), "{text}");

    let back = parse_intel_hex(&text).unwrap();
    assert_eq!(back, vec![crossing, random, single, top]);
}

#[test]
fn exact_text_of_four_bytes_at_0x0002_0400() {
    let text = intel_hex(&[chunk(0x0002_0400, vec![0xDE, 0xAD, 0xBE, 0xEF])]).unwrap();
    // Checksum = two's complement of the byte sum of count, offset, type, data:
    // ELA:  02+00+00+04+00+02             = 0x08  -> 0x100-0x08 = F8
    // Data: 04+04+00+00+DE+AD+BE+EF       = 0x340 -> 0x100-0x40 = C0
    // EOF:  00+00+00+01                   = 0x01  -> 0x100-0x01 = FF
    assert_eq!(text, ":020000040002F8\n:04040000DEADBEEFC0\n:00000001FF\n");
}

#[test]
fn exact_text_of_a_chunk_crossing_64_kib() {
    let text = intel_hex(&[chunk(0x0000_FFFF, vec![0xAA, 0xBB])]).unwrap();
    // ELA 0000: 02+04                  = 0x06  -> FA
    // Data:     01+FF+FF+00+AA         = 0x2A9 -> 0x100-0xA9 = 57
    // ELA 0001: 02+04+01               = 0x07  -> F9
    // Data:     01+00+00+00+BB         = 0xBC  -> 0x100-0xBC = 44
    assert_eq!(
        text,
        ":020000040000FA\n:01FFFF00AA57\n:020000040001F9\n:01000000BB44\n:00000001FF\n"
    );
}

#[test]
fn overlap_refused_naming_both_ranges() {
    let cases = [
        (
            vec![
                chunk(0x0002_0400, vec![0; 0xC00]),
                chunk(0x0000_0000, vec![0; 0x2_0800]),
            ],
            "0x00020400..0x00021000 overlaps 0x00000000..0x00020800",
        ),
        // A chunk inside an earlier, longer one, after a short one in between.
        (
            vec![
                chunk(0x100, vec![0; 0x100]),
                chunk(0x120, vec![0; 4]),
                chunk(0x180, vec![0; 4]),
            ],
            "0x00000120..0x00000124 overlaps 0x00000100..0x00000200",
        ),
    ];
    for (chunks, expected) in cases {
        assert_eq!(intel_hex(&chunks).unwrap_err().to_string(), expected);
    }
    // Adjacent is fine.
    intel_hex(&[chunk(0x100, vec![1; 0x10]), chunk(0x110, vec![2; 0x10])]).unwrap();
}

#[test]
fn chunk_past_2_pow_32_refused() {
    let err = intel_hex(&[chunk(0xFFFF_FFF0, vec![0; 17])]).unwrap_err();
    assert!(err.to_string().contains("passes the end"), "{err}");
}

#[test]
fn corrupted_checksum_refused() {
    let text = intel_hex(&[chunk(0x0002_0400, vec![0xDE, 0xAD, 0xBE, 0xEF])]).unwrap();
    let bad = text.replace(":04040000DEADBEEFC0", ":04040000DEADBEEFC1");
    assert_ne!(bad, text);
    let err = parse_intel_hex(&bad).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn parse_refuses_truncation_and_data_after_end() {
    let text = intel_hex(&[chunk(0x10, vec![1, 2, 3])]).unwrap();
    let truncated = text.replace(":00000001FF\n", "");
    let err = parse_intel_hex(&truncated).unwrap_err().to_string();
    assert!(err.contains("End Of File"), "{err}");
    let extra = format!("{text}:0100000000FF\n");
    let err = parse_intel_hex(&extra).unwrap_err().to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("after the End Of File"), "{err}");
    // 4 bytes at 0x0000, then 2 bytes at 0x0002.
    let overlapping = ":0400000001020304F2\n:020002000909EA\n:00000001FF\n";
    let err = parse_intel_hex(overlapping).unwrap_err().to_string();
    assert_eq!(
        err,
        "Intel HEX data: 0x00000002..0x00000004 overlaps 0x00000000..0x00000004"
    );
}

#[test]
fn parse_merges_records_and_ignores_start_address() {
    // Two adjacent records, a gap, CRLF line ends, an empty line and
    // objcopy's Start Linear Address record (05).
    let text = ":020000040800F2\r\n:020000000102FB\r\n\r\n:020002000304F5\r\n\
                :0100100005EA\r\n:0400000508000101ED\r\n:00000001FF\r\n";
    let chunks = parse_intel_hex(text).unwrap();
    assert_eq!(
        chunks,
        vec![
            chunk(0x0800_0000, vec![1, 2, 3, 4]),
            chunk(0x0800_0010, vec![5])
        ]
    );
}
