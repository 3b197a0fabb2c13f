//! ECDHE over NIST P-521 (`secp521r1`) for rustls, so `curve_preferences: [CurveP521]` is
//! served as Go serves it. The ring provider has no P-521; the curve arithmetic here is
//! RustCrypto's `p521` crate, and this file is only the glue to rustls's key exchange traits:
//! the wire form (an uncompressed SEC1 point, RFC 8446 §4.2.8.2) and the shared secret (the
//! x-coordinate, 66 bytes with its leading zeros, RFC 8446 §7.4.2).

use p521::ecdh::EphemeralSecret;
use p521::elliptic_curve::sec1::ToSec1Point;
use p521::elliptic_curve::Generate;
use p521::PublicKey;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use tokio_rustls::rustls::{NamedGroup, PeerMisbehaved};

/// The P-521 key exchange group, for a rustls `CryptoProvider`'s `kx_groups`.
pub static SECP521R1: &dyn SupportedKxGroup = &Secp521r1;

/// An uncompressed point: `0x04`, then x and y of 66 bytes each.
const POINT_LEN: usize = 1 + 2 * 66;

#[derive(Debug)]
struct Secp521r1;

impl SupportedKxGroup for Secp521r1 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret =
            EphemeralSecret::try_generate().map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        Ok(Box::new(Active { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

struct Active {
    secret: EphemeralSecret,
    public: Vec<u8>,
}

impl ActiveKeyExchange for Active {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        Ok(SharedSecret::from(
            agree(&self.secret, peer_pub_key)?.as_slice(),
        ))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

/// The shared x-coordinate with the peer's key share. TLS allows only the uncompressed form,
/// and the point must be on the curve and not the identity (`from_sec1_bytes` checks both),
/// else the peer misbehaved.
fn agree(secret: &EphemeralSecret, peer: &[u8]) -> Result<Vec<u8>, rustls::Error> {
    if peer.len() != POINT_LEN || peer[0] != 0x04 {
        return Err(PeerMisbehaved::InvalidKeyShare.into());
    }
    let peer = PublicKey::from_sec1_bytes(peer).map_err(|_| PeerMisbehaved::InvalidKeyShare)?;
    Ok(secret.diffie_hellman(&peer).raw_secret_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sides of one exchange agree on 66 bytes, and each side's share is a 133-byte
    /// uncompressed point.
    #[test]
    fn both_sides_derive_the_same_66_byte_secret() {
        let a = SECP521R1.start().expect("start");
        let b = SECP521R1.start().expect("start");
        assert_eq!(a.pub_key().len(), POINT_LEN);
        assert_eq!(a.pub_key()[0], 0x04);
        let b_pub = b.pub_key().to_vec();
        let a_pub = a.pub_key().to_vec();
        let ab = a.complete(&b_pub).expect("a completes");
        let ba = b.complete(&a_pub).expect("b completes");
        assert_eq!(ab.secret_bytes().len(), 66);
        assert_eq!(ab.secret_bytes(), ba.secret_bytes());
    }

    /// A share that is not an uncompressed point on the curve is the peer's fault, never a
    /// panic: empty, truncated, compressed, the identity, off the curve, oversized.
    #[test]
    fn a_malformed_peer_share_is_refused() {
        let good = SECP521R1.start().expect("start").pub_key().to_vec();
        let mut off_curve = good.clone();
        off_curve[POINT_LEN - 1] ^= 1;
        let mut compressed = vec![0x02 | (good[POINT_LEN - 1] & 1)];
        compressed.extend_from_slice(&good[1..67]);
        let mut oversized = good.clone();
        oversized.push(0);
        for (what, share) in [
            ("empty", Vec::new()),
            ("identity", vec![0x00]),
            ("truncated", good[..POINT_LEN - 1].to_vec()),
            ("compressed", compressed),
            ("off the curve", off_curve),
            ("oversized", oversized),
            ("all zero", vec![0u8; POINT_LEN]),
            ("x and y all ones", {
                let mut v = vec![0xff; POINT_LEN];
                v[0] = 0x04;
                v
            }),
        ] {
            let kx = SECP521R1.start().expect("start");
            let got = kx.complete(&share);
            assert!(
                matches!(
                    got,
                    Err(rustls::Error::PeerMisbehaved(
                        PeerMisbehaved::InvalidKeyShare
                    ))
                ),
                "{what}: {:?}",
                got.map(|_| ())
            );
        }
    }
}
