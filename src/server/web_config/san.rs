//! The subject alternative names of a client certificate, for `client_allowed_sans`.
//!
//! The toolkit compares the strings Go's `x509` package makes of a certificate's DNS names,
//! e-mail addresses, IP addresses and URIs with the allowed list, exactly. This reads the same
//! four kinds from the DER. The input is the peer's: every length is checked against what is
//! left, nesting is fixed (no recursion), and anything malformed is an error, so the handshake
//! is refused, as Go refuses a certificate it cannot parse.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A DER tag-length-value: (tag, contents, rest after it).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // High tag numbers do not occur in certificates.
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None; // Indefinite or absurd lengths are not DER.
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
/// `[3]` EXPLICIT, around the extensions.
const EXTENSIONS: u8 = 0xa3;
/// id-ce-subjectAltName, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

/// The DNS names, e-mail addresses, IP addresses and URIs in `cert`'s subjectAltName, as
/// Go prints them. `None` when the certificate is malformed.
pub(super) fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    let (tag, certificate, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents, rest) = tlv(tbs)?;
        tbs = rest;
        if tag != EXTENSIONS {
            continue;
        }
        let (tag, mut exts, _) = tlv(contents)?;
        if tag != SEQUENCE {
            return None;
        }
        while !exts.is_empty() {
            let (tag, ext, rest) = tlv(exts)?;
            exts = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, ext) = tlv(ext)?;
            if tag != 0x06 {
                return None;
            }
            if oid != SAN_OID {
                continue;
            }
            // An optional `critical` BOOLEAN, then the OCTET STRING holding GeneralNames.
            let (mut tag, mut value, rest) = tlv(ext)?;
            if tag == 0x01 {
                (tag, value, _) = tlv(rest)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (tag, mut general, _) = tlv(value)?;
            if tag != SEQUENCE {
                return None;
            }
            while !general.is_empty() {
                let (tag, name, rest) = tlv(general)?;
                general = rest;
                match tag {
                    // rfc822Name, dNSName, uniformResourceIdentifier: IA5String.
                    0x81 | 0x82 | 0x86 => {
                        if !name.is_ascii() {
                            return None;
                        }
                        names.push(String::from_utf8_lossy(name).into_owned());
                    }
                    // iPAddress: 4 or 16 octets.
                    0x87 => names.push(match name.len() {
                        4 => Ipv4Addr::new(name[0], name[1], name[2], name[3]).to_string(),
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(name);
                            let v6 = Ipv6Addr::from(b);
                            // Go prints an IPv4-mapped address in dotted form.
                            match v6.to_ipv4_mapped() {
                                Some(v4) => v4.to_string(),
                                None => v6.to_string(),
                            }
                        }
                        _ => return None,
                    }),
                    _ => {}
                }
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_none_and_never_a_panic() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x02, 0x30, 0x05],
            &[0x1f, 0x00],
        ] {
            assert_eq!(subject_alt_names(input), None, "{input:?}");
        }
        // Every prefix of a real certificate: none panics.
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(vec!["a.example".to_string()]).expect("params");
        p.subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        p.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "ops@example.org".try_into().expect("ia5"),
        ));
        p.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://cluster/prometheus".try_into().expect("ia5"),
        ));
        p.subject_alt_names.push(rcgen::SanType::IpAddress(
            "2001:db8::1".parse().expect("v6"),
        ));
        let der = p.self_signed(&key).expect("cert").der().to_vec();
        assert_eq!(
            subject_alt_names(&der),
            Some(vec![
                "a.example".to_string(),
                "127.0.0.1".to_string(),
                "ops@example.org".to_string(),
                "spiffe://cluster/prometheus".to_string(),
                "2001:db8::1".to_string(),
            ])
        );
        for n in 0..der.len() {
            let _ = subject_alt_names(&der[..n]);
        }
    }
}
