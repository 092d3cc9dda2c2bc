//! Regions to hosts for both services, overrides, and the transport policy.

use codearts_repo::{Client, ConfigKind, Credentials, Error, Fix, endpoint::Service};
use serde_json::Value;

fn builder() -> codearts_repo::ClientBuilder {
    Client::builder().credentials(Credentials::token("t").unwrap())
}

#[test]
fn region_tables_match_the_official_sdks() {
    let tables: Value = serde_json::from_str(include_str!("fixtures/regions.json")).unwrap();
    for (service, key) in [
        (Service::CodeArtsRepo, "codeartsrepo"),
        (Service::ServiceStage, "servicestage"),
    ] {
        let table = tables[key].as_object().unwrap();
        assert_eq!(service.regions().count(), table.len(), "{service}");
        for (region, url) in table {
            assert_eq!(
                service.region_endpoint(region).unwrap(),
                url.as_str().unwrap()
            );
        }
    }
}

#[test]
fn a_region_sets_both_hosts() {
    let client = builder().region("cn-north-4").build().unwrap();
    assert_eq!(
        client.endpoint(Service::CodeArtsRepo).unwrap(),
        "https://codehub-ext.cn-north-4.myhuaweicloud.com"
    );
    assert_eq!(
        client.endpoint(Service::ServiceStage).unwrap(),
        "https://servicestage.cn-north-4.myhuaweicloud.com"
    );
    let client = builder().region("me-east-1").build().unwrap();
    assert_eq!(
        client.endpoint(Service::CodeArtsRepo).unwrap(),
        "https://repo.me-east-1.myhuaweicloud.com"
    );
}

#[tokio::test]
async fn a_region_one_service_lacks_fails_only_that_service() {
    // ServiceStage has ap-southeast-1; CodeArts Repo does not.
    let client = builder()
        .region("ap-southeast-1")
        .project_id("p")
        .build()
        .unwrap();
    assert!(client.endpoint(Service::ServiceStage).is_ok());
    let error = client.last_push_event(1).await.unwrap_err();
    assert!(
        matches!(&error, Error::Config { kind: ConfigKind::Endpoint, message: m, .. } if m.contains("ap-southeast-1") && m.contains("CodeArts Repo")),
        "{error}"
    );
    let error = builder()
        .region("xx-nowhere-1")
        .build()
        .unwrap()
        .endpoint(Service::ServiceStage)
        .unwrap_err();
    assert!(error.to_string().contains("ServiceStage"), "{error}");
}

#[test]
fn explicit_endpoints_override_in_order() {
    let client = builder()
        .region("cn-north-4")
        .endpoint("https://gateway.example.com/")
        .servicestage_endpoint("https://stage.example.com")
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(Service::CodeArtsRepo).unwrap(),
        "https://gateway.example.com"
    );
    assert_eq!(
        client.endpoint(Service::ServiceStage).unwrap(),
        "https://stage.example.com"
    );
}

#[test]
fn plain_http_only_to_loopback_or_when_allowed() {
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:2",
    ] {
        assert!(
            builder()
                .endpoint(url)
                .build()
                .unwrap()
                .endpoint(Service::ServiceStage)
                .is_ok(),
            "{url}"
        );
    }
    let refused = builder().endpoint("http://10.0.0.1").build().unwrap();
    assert!(
        refused
            .endpoint(Service::ServiceStage)
            .unwrap_err()
            .to_string()
            .contains("plain HTTP")
    );
    assert!(
        builder()
            .endpoint("http://10.0.0.1")
            .allow_http(true)
            .build()
            .unwrap()
            .endpoint(Service::ServiceStage)
            .is_ok()
    );
    for bad in [
        "ftp://x",
        "https://user:pw@x",
        "not a url",
        "https://x/?q=1",
    ] {
        assert!(
            builder()
                .endpoint(bad)
                .build()
                .unwrap()
                .endpoint(Service::CodeArtsRepo)
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn no_region_and_no_endpoint_is_an_error() {
    let error = builder().build().unwrap_err();
    assert!(error.to_string().contains("region"), "{error}");
}

#[test]
fn a_password_in_an_endpoint_never_reaches_the_message() {
    for url in [
        "https://alice:hunter2@example.com",
        "https://alice:hunter2@example.com/v1?x=1",
        "http://alice:hunter2@10.0.0.1",
        "https://alice:hunter2@exa mple.com",
    ] {
        let client = builder().endpoint(url).build().unwrap();
        let error = client.endpoint(Service::CodeArtsRepo).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("alice"),
            "{text}"
        );
        assert!(text.contains("<redacted>@"), "{text}");
    }
}

#[tokio::test]
async fn an_unknown_region_is_said_once_not_wrapped_twice() {
    let client = builder().region("xx-nowhere-9").build().unwrap();
    let error = client.last_push_event(1).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("xx-nowhere-9"), "{text}");
    assert_eq!(text.matches("configuration error").count(), 1, "{text}");
}

/// What a person can do about an endpoint error is data, so that a program (the command, with
/// its flags) says it in its own words without reading the message; the message still ends
/// with it in the builder's words.
#[tokio::test]
async fn endpoint_errors_name_their_fix_as_data() {
    let unknown_region = builder()
        .region("xx-nowhere-1")
        .project_id("p")
        .build()
        .unwrap()
        .last_push_event(1)
        .await
        .unwrap_err();
    let remote_http = builder()
        .endpoint("http://10.0.0.1")
        .project_id("p")
        .build()
        .unwrap()
        .last_push_event(1)
        .await
        .unwrap_err();
    let no_scheme = builder()
        .endpoint("127.0.0.1:8080")
        .project_id("p")
        .build()
        .unwrap()
        .last_push_event(1)
        .await
        .unwrap_err();
    for (error, fix, problem) in [
        (&unknown_region, Fix::GiveEndpoint, "xx-nowhere-1"),
        (&remote_http, Fix::UseHttpsOrAllowHttp, "loopback"),
        (&no_scheme, Fix::AbsoluteUrl, "127.0.0.1:8080"),
    ] {
        assert_eq!(error.fix(), Some(fix), "{error}");
        let Error::Config { message, .. } = error else {
            panic!("{error:?}");
        };
        assert!(message.contains(problem), "{message}");
        // The message says what is wrong; the fix is said once, after it.
        assert!(!message.contains(&fix.to_string()), "{message}");
        assert!(error.to_string().ends_with(&fix.to_string()), "{error}");
    }
    let invalid = "0".parse::<codearts_repo::RepositoryId>().unwrap_err();
    assert_eq!(invalid.fix(), None, "{invalid}");
}
