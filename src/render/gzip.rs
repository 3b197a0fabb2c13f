//! gzip (RFC 1952) for `/metrics` and `/probe`, compressed once per snapshot.
//!
//! An answer is the view's memoised families followed by this request's tail (the data's
//! age). Compressing the whole answer per request would deflate megabytes for every scrape
//! (at 10,000 collections the families are 2.3 MiB), so the two parts are encoded apart and
//! still sent as **one** gzip member, which every decoder reads (a second concatenated
//! member is not read by every client):
//!
//! - [`open`], once per snapshot and format: the gzip header, the families deflated by
//!   `flate2` and ended with a *sync flush* (the stream is then byte-aligned after an empty
//!   stored block and no block is final, RFC 1951 §3.2.3), and the families' CRC-32 and
//!   length, memoised beside the plain body ([`View::gzipped`](crate::cache::View::gzipped));
//! - [`close`], per answer: the tail as *stored* (uncompressed) deflate blocks, the last one
//!   final (§3.2.4; a tail is a few hundred bytes, so compressing it would gain nothing), and
//!   the trailer: the CRC-32 of families and tail combined without reading the families again,
//!   and the total length modulo 2³².

use std::io::Write as _;

use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::cache::OpenGzip;

/// The fixed gzip header: deflate, no flags, no modification time, no extra flags, unknown
/// operating system (as Go's `compress/gzip` writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The level the answers are compressed at. Level 1 (fastest) already gives far more than
/// the ratio Prometheus text needs (the families are long runs of repeated names and labels);
/// see docs/performance.md for the measured bytes and times of both.
pub const LEVEL: Compression = Compression::new(1);

/// The largest stored block (its length is a 16-bit field).
const STORED_MAX: usize = 0xffff;

/// The families of one view as an open gzip member: header and deflate blocks, none final.
pub fn open(plain: &[u8], level: Compression) -> OpenGzip {
    let mut out = Vec::with_capacity(HEADER.len() + plain.len() / 8 + 64);
    out.extend_from_slice(&HEADER);
    let mut deflate = DeflateEncoder::new(out, level);
    // Writing into a Vec cannot fail, and flush() is the sync flush that leaves the stream
    // open and byte-aligned. Were it ever to fail, the member would be unreadable, so fall
    // back to a member whose families are stored, which is always well-formed.
    let flushed = deflate.write_all(plain).and_then(|()| deflate.flush());
    let head = match flushed {
        Ok(()) => std::mem::take(deflate.get_mut()),
        Err(_) => stored_open(plain),
    };
    // Dropping the encoder finishes its stream into the Vec taken above, now empty and unused.
    drop(deflate);
    let mut crc = crc32fast::Hasher::new();
    crc.update(plain);
    OpenGzip {
        head: Bytes::from(head),
        crc32: crc.finalize(),
        plain_len: plain.len() as u64,
    }
}

/// A member whose families are stored blocks, none final: what [`open`] falls back to.
fn stored_open(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER.len() + plain.len() + plain.len() / STORED_MAX * 5 + 5);
    out.extend_from_slice(&HEADER);
    for chunk in plain.chunks(STORED_MAX) {
        stored_block(&mut out, chunk, false);
    }
    out
}

/// What follows `open.head` on the wire to make one complete member of `families ‖ tail`:
/// the tail as stored blocks (the last one final) and the gzip trailer.
pub fn close(open: &OpenGzip, tail: &[u8]) -> Bytes {
    let blocks = tail.len().div_ceil(STORED_MAX).max(1);
    let mut out = Vec::with_capacity(tail.len() + blocks * 5 + 8);
    let mut chunks = tail.chunks(STORED_MAX).peekable();
    if chunks.peek().is_none() {
        stored_block(&mut out, &[], true);
    }
    while let Some(chunk) = chunks.next() {
        stored_block(&mut out, chunk, chunks.peek().is_none());
    }
    let mut crc = crc32fast::Hasher::new_with_initial_len(open.crc32, open.plain_len);
    let mut tail_crc = crc32fast::Hasher::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1): the truncation is the format's.
    let total = open.plain_len.wrapping_add(tail.len() as u64) as u32;
    out.extend_from_slice(&total.to_le_bytes());
    Bytes::from(out)
}

/// One stored block at a byte boundary: BFINAL and BTYPE 00 in the first byte (the rest of
/// that byte is padding), then LEN and its one's complement, little-endian, then the bytes.
fn stored_block(out: &mut Vec<u8>, data: &[u8], last: bool) {
    debug_assert!(data.len() <= STORED_MAX);
    let len = data.len() as u16;
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    /// Decodes exactly one member and insists nothing follows it, so a test passes only if
    /// the answer is one member (what every client reads), not several concatenated.
    fn gunzip_one_member(body: &[u8]) -> Vec<u8> {
        let mut decoder = flate2::read::GzDecoder::new(body);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).expect("a valid gzip member");
        let mut rest = Vec::new();
        decoder
            .into_inner()
            .read_to_end(&mut rest)
            .expect("reading a slice");
        assert!(rest.is_empty(), "{} bytes after the member", rest.len());
        out
    }

    fn whole(open: &OpenGzip, tail: &[u8]) -> Vec<u8> {
        let mut body = open.head.to_vec();
        body.extend_from_slice(&close(open, tail));
        body
    }

    #[test]
    fn families_and_tail_make_one_member_that_decodes_to_both() {
        let families: String = (0..5000)
            .map(|i| format!("milvus_collection_rows{{collection_name=\"c{i}\"}} {i}\n"))
            .collect();
        let big_tail = vec![b'x'; STORED_MAX * 2 + 7];
        for level in [Compression::fast(), Compression::default()] {
            for fam in ["", "a 1\n", families.as_str()] {
                let open = open(fam.as_bytes(), level);
                for tail in [&b""[..], b"age 1.5\n# EOF\n", &big_tail] {
                    let got = gunzip_one_member(&whole(&open, tail));
                    assert_eq!(got.len(), fam.len() + tail.len());
                    assert!(got.starts_with(fam.as_bytes()) && got.ends_with(tail));
                }
            }
        }
    }

    #[test]
    fn the_families_compress_well_and_two_tails_share_one_head() {
        let families: String = (0..5000)
            .map(|i| format!("# HELP x X.\nmilvus_collection_rows{{db_name=\"default\",collection_name=\"c{i}\"}} {i}\n"))
            .collect();
        let open = open(families.as_bytes(), Compression::default());
        assert!(
            open.head.len() * 8 < families.len(),
            "{} of {}",
            open.head.len(),
            families.len()
        );
        for tail in ["age 1\n", "age 22.5\n# EOF\n"] {
            let got = gunzip_one_member(&whole(&open, tail.as_bytes()));
            assert_eq!(got, format!("{families}{tail}").as_bytes());
        }
    }

    #[test]
    fn the_stored_fallback_is_a_valid_open_member() {
        let plain = vec![b'y'; STORED_MAX + 3];
        let head = stored_open(&plain);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        let open = OpenGzip {
            head: Bytes::from(head),
            crc32: crc.finalize(),
            plain_len: plain.len() as u64,
        };
        let got = gunzip_one_member(&whole(&open, b"tail\n"));
        assert_eq!(got.len(), plain.len() + 5);
    }
}
