//! The four signing algorithms against what the official Python core's own signers made
//! (tests/fixtures/signing-vectors.json, by tests/fixtures/make_signing_vectors.py from
//! huaweicloudsdkcore 3.1.219) over the hard cases of aksk-vectors.json: the HMACs byte for
//! byte; ECDSA and SM2, randomized, by the key the official core derives, its signatures
//! verifying under ours, and nothing verifying under another SK.

#![cfg(all(feature = "sm", feature = "ecdsa"))]

use codearts_repo::auth::{
    SigningAlgorithm,
    signer::{self, SigningKey},
};
use reqwest::{
    Method, Url,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("fixtures/signing-vectors.json")).unwrap()
}

fn asymmetric(algorithm: SigningAlgorithm) -> bool {
    matches!(
        algorithm,
        SigningAlgorithm::EcdsaP256Sha256 | SigningAlgorithm::Sm2Sm3
    )
}

/// One vector's request as the official signer saw it, and what it made with one algorithm.
struct Case {
    name: String,
    algorithm: SigningAlgorithm,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    official: Value,
}

fn cases() -> Vec<Case> {
    let vectors = vectors();
    let mut cases = Vec::new();
    for vector in vectors["vectors"].as_array().unwrap() {
        let method: Method = vector["method"].as_str().unwrap().parse().unwrap();
        let url = Url::parse(vector["url"].as_str().unwrap()).unwrap();
        let body = hex::decode(vector["body"].as_str().unwrap()).unwrap();
        for algorithm in SigningAlgorithm::ALL {
            let signed = &vector["signed"][algorithm.short_name()];
            let mut headers = HeaderMap::new();
            for (name, value) in signed["headers"].as_object().unwrap() {
                headers.insert(
                    HeaderName::try_from(name.as_str()).unwrap(),
                    HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
                );
            }
            let name = format!(
                "{} {}",
                vector["name"].as_str().unwrap(),
                algorithm.short_name()
            );
            cases.push(Case {
                name,
                algorithm: *algorithm,
                method: method.clone(),
                url: url.clone(),
                headers,
                body: body.clone(),
                official: signed.clone(),
            });
        }
    }
    cases
}

#[test]
fn the_vectors_cover_every_algorithm_over_every_hard_case() {
    let cases = cases();
    assert_eq!(cases.len(), 12 * 4);
    let vectors = vectors();
    let names: Vec<&str> = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for hard in [
        "servicestage_list_commits_colon_non_ascii",
        "servicestage_list_commits_slash_in_path_param_quirk",
        "servicestage_list_commits_no_ref",
        "servicestage_list_commits_security_token",
        "raw_signer_unsigned_payload",
    ] {
        assert!(names.contains(&hard), "{hard}");
    }
}

#[test]
fn canonical_requests_and_strings_to_sign_are_the_official_ones_for_every_algorithm() {
    let vectors = vectors();
    let (ak, sk) = (
        vectors["ak"].as_str().unwrap(),
        vectors["sk"].as_str().unwrap(),
    );
    let key = SigningKey::new(sk);
    for Case {
        name,
        algorithm,
        method,
        url,
        headers,
        body,
        official,
    } in cases()
    {
        let ours = signer::sign_with(algorithm, &key, ak, &method, &url, &headers, &body).unwrap();
        assert_eq!(
            ours.canonical_request,
            official["canonical_request"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            ours.string_to_sign,
            official["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        let official_authorization = official["authorization"].as_str().unwrap();
        if asymmetric(algorithm) {
            // Randomized: the same header up to the signature.
            let (prefix, _) = official_authorization.rsplit_once("Signature=").unwrap();
            assert!(ours.authorization(ak).starts_with(prefix), "{name}");
        } else {
            assert_eq!(ours.authorization(ak), official_authorization, "{name}");
        }
    }
}

#[test]
fn derived_public_keys_are_the_official_cores() {
    let vectors = vectors();
    for pair in vectors["public_keys"].as_array().unwrap() {
        let (ak, sk) = (pair["ak"].as_str().unwrap(), pair["sk"].as_str().unwrap());
        let key = SigningKey::new(sk);
        for algorithm in [SigningAlgorithm::EcdsaP256Sha256, SigningAlgorithm::Sm2Sm3] {
            assert_eq!(
                key.public_key_hex(algorithm, ak).unwrap(),
                pair[algorithm.short_name()].as_str().unwrap(),
                "{ak} {algorithm}"
            );
        }
        for algorithm in [SigningAlgorithm::HmacSha256, SigningAlgorithm::HmacSm3] {
            assert_eq!(key.public_key_hex(algorithm, ak), None, "{algorithm}");
        }
    }
}

#[test]
fn official_signatures_verify_under_the_derived_key_and_not_under_another_sk() {
    let vectors = vectors();
    let (ak, sk, wrong_sk) = (
        vectors["ak"].as_str().unwrap(),
        vectors["sk"].as_str().unwrap(),
        vectors["wrong_sk"].as_str().unwrap(),
    );
    let (key, wrong) = (SigningKey::new(sk), SigningKey::new(wrong_sk));
    for Case {
        name,
        algorithm,
        official,
        ..
    } in cases()
    {
        let string_to_sign = official["string_to_sign"].as_str().unwrap();
        let authorization = official["authorization"].as_str().unwrap();
        let signature = authorization.rsplit_once("Signature=").unwrap().1;
        assert!(
            signer::verify(algorithm, &key, ak, string_to_sign, signature),
            "{name}"
        );
        assert!(
            !signer::verify(algorithm, &wrong, ak, string_to_sign, signature),
            "{name}: wrong SK"
        );
        let tampered = string_to_sign.replace("20250619T132731Z", "20250619T132732Z");
        assert!(
            !signer::verify(algorithm, &key, ak, &tampered, signature),
            "{name}: tampered"
        );
    }
}

#[test]
fn our_signatures_verify_under_the_official_public_key_and_not_under_another_sk() {
    let vectors = vectors();
    let (ak, sk, wrong_sk) = (
        vectors["ak"].as_str().unwrap(),
        vectors["sk"].as_str().unwrap(),
        vectors["wrong_sk"].as_str().unwrap(),
    );
    let (key, wrong) = (SigningKey::new(sk), SigningKey::new(wrong_sk));
    for Case {
        name,
        algorithm,
        method,
        url,
        headers,
        body,
        ..
    } in cases()
    {
        let ours = signer::sign_with(algorithm, &key, ak, &method, &url, &headers, &body).unwrap();
        assert!(
            signer::verify(algorithm, &key, ak, &ours.string_to_sign, &ours.signature),
            "{name}"
        );
        assert!(
            !signer::verify(algorithm, &wrong, ak, &ours.string_to_sign, &ours.signature),
            "{name}: wrong SK"
        );
        if asymmetric(algorithm) {
            // The signature is DER: SEQUENCE of two INTEGERs, as the official cores write it.
            let der = hex::decode(&ours.signature).unwrap();
            assert_eq!(der[0], 0x30, "{name}");
            assert_eq!(usize::from(der[1]) + 2, der.len(), "{name}");
        }
    }
}

#[test]
fn a_signature_that_is_not_hex_der_is_refused_without_a_panic() {
    let key = SigningKey::new("sk");
    for algorithm in SigningAlgorithm::ALL {
        for signature in ["", "zz", "3006020101020101", "30450221", &"ff".repeat(80)] {
            assert!(
                !signer::verify(*algorithm, &key, "AK", "x", signature),
                "{algorithm} {signature}"
            );
        }
    }
}

#[test]
fn the_derived_key_depends_on_the_ak_too() {
    let key = SigningKey::new("the-same-secret");
    for algorithm in [SigningAlgorithm::EcdsaP256Sha256, SigningAlgorithm::Sm2Sm3] {
        let first = key
            .public_key_hex(algorithm, "AK000000000000000001")
            .unwrap();
        let second = key
            .public_key_hex(algorithm, "AK000000000000000002")
            .unwrap();
        assert_ne!(first, second, "{algorithm}");
        // Asked again for the first AK, the key for that AK comes back (a rotation replaces
        // the cached entry; it never answers for another AK).
        assert_eq!(
            key.public_key_hex(algorithm, "AK000000000000000001")
                .unwrap(),
            first
        );
    }
}

#[test]
fn debug_shows_no_secret_nor_derived_key() {
    let key = SigningKey::new("a-very-secret-sk");
    let _ = key.public_key_hex(SigningAlgorithm::EcdsaP256Sha256, "AK");
    let shown = format!("{key:?}");
    assert_eq!(shown, "SigningKey(<redacted>)");
}

/// SM2 at its edge: AK/SK pairs whose derived public key has an x or a y coordinate starting
/// with a zero byte (about 0.8% of pairs), against an independent implementation of the
/// standard's fixed 32-byte Z_A: OpenSSL 3's SM2 with the distinguishing id 1234567812345678
/// (tests/fixtures/sm2-edge-vectors.json, by tests/fixtures/make_sm2_edge_vectors.py). The
/// crate derives OpenSSL's public key, and OpenSSL's signatures verify under it; a Z_A with
/// the coordinates' minimal bytes (the official Python core since 3.1.82) refuses them all.
#[test]
fn sm2_keys_with_a_short_coordinate_agree_with_openssl() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/sm2-edge-vectors.json")).unwrap();
    assert_eq!(fixture["distinguishing_id"], "1234567812345678");
    let vectors = fixture["vectors"].as_array().unwrap();
    // The first byte of x, then of y, in hex `04 || x || y`.
    let first_bytes = [2..4, 66..68];
    assert_eq!(vectors.len(), first_bytes.len());
    for (vector, first_byte) in vectors.iter().zip(first_bytes) {
        let (ak, sk) = (
            vector["ak"].as_str().unwrap(),
            vector["sk"].as_str().unwrap(),
        );
        let key = SigningKey::new(sk);
        let public = key.public_key_hex(SigningAlgorithm::Sm2Sm3, ak).unwrap();
        assert_eq!(public, vector["public_key"].as_str().unwrap(), "{ak}");
        assert_eq!(&public[first_byte], "00", "{ak}: {}", vector["edge"]);
        let signatures = vector["signatures"].as_array().unwrap();
        assert!(!signatures.is_empty());
        for signed in signatures {
            let text = signed["string_to_sign"].as_str().unwrap();
            let signature = signed["signature"].as_str().unwrap();
            assert!(
                signer::verify(SigningAlgorithm::Sm2Sm3, &key, ak, text, signature),
                "{ak}: OpenSSL's signature of {text:?}"
            );
            let other = format!("{text}0");
            assert!(!signer::verify(
                SigningAlgorithm::Sm2Sm3,
                &key,
                ak,
                &other,
                signature
            ));
        }
    }
}
