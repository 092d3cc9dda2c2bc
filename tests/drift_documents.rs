//! The documents' own example answers (tests/fixtures/documents/, copied from the Huawei Cloud
//! pages the spec is written from) run through the drift check, as a service answering them
//! would be: what the check says of them is what the spec says of the documents.

mod common;

use codearts_repo::drift::Drift;
use serde_json::Value;

const PUSH_EVENT_PAGE: &str = include_str!("fixtures/documents/last-push-event.txt");
const COMMITS_PAGE: &str = include_str!("fixtures/documents/commits.txt");

/// The first JSON object after `heading` in a page's text.
fn example(page: &str, heading: &str) -> String {
    let from = page.find(heading).expect("the page has its example") + heading.len();
    let text = &page[from..];
    let start = text.find('{').expect("an object");
    // The example is followed by prose: read exactly one JSON value.
    let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    values.next().expect("a value").expect("JSON").to_string()
}

/// What the check says of `body`, answered once by a server on 127.0.0.1.
async fn drift_of(body: &str, call: impl AsyncFnOnce(&codearts_repo::Client)) -> Vec<Drift> {
    let server = common::scripted(vec![common::json(200, body)]).await;
    let client = common::builder(&server.url)
        .check_drift(true)
        .build()
        .unwrap();
    call(&client).await;
    client.drift()
}

#[tokio::test]
async fn the_push_event_documents_example_conforms() {
    let body = example(PUSH_EVENT_PAGE, "Example Responses");
    assert!(body.contains("2112036131"), "{body}");
    let drift = drift_of(&body, async |client| {
        client.last_push_event(2112036131).await.unwrap();
    })
    .await;
    assert_eq!(drift, []);
}

/// The commits document's example holds a commit message where its `authored_date` belongs
/// ("Import time", a String): the spec claims no date-time format there, as its comment says,
/// so the example conforms, and the field is read as sent.
#[tokio::test]
async fn the_commits_documents_example_conforms_because_authored_date_claims_no_format() {
    let body = example(COMMITS_PAGE, "Example Response");
    assert!(
        body.contains(r#""authored_date":"Fix all the bugs""#),
        "{body}"
    );
    let drift = drift_of(&body, async |client| {
        let list = client
            .commits("3e1f6634946144c2b1ccb46fb8152b8f", "test")
            .repo_auth("gh-auth")
            .send()
            .await
            .unwrap();
        assert_eq!(
            list.commits[0].authored_date.as_deref(),
            Some("Fix all the bugs")
        );
    })
    .await;
    assert_eq!(drift, []);

    let spec: Value = serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap();
    let authored = &spec["components"]["schemas"]["Commit"]["properties"]["authored_date"];
    assert_eq!(authored["type"], "string");
    assert!(authored.get("format").is_none(), "{authored}");
    assert!(
        codearts_repo::OPENAPI_SPEC.contains("the document's example holds a commit\n          # message here, so no date-time format is claimed"),
        "the spec's comment on authored_date stays"
    );
}

/// Were the service to answer a date where `created_at` is documented, and the document's
/// commit message where it promises a date-time, the check would say so: `created_at` is
/// the one answer field with a format.
#[tokio::test]
async fn a_created_at_that_is_not_a_date_is_drift() {
    let body = example(PUSH_EVENT_PAGE, "Example Responses")
        .replace("2025-06-19T21:27:31.000+08:00", "Fix all the bugs");
    let drift = drift_of(&body, async |client| {
        // Kept as sent: the event still reads.
        let event = client.last_push_event(2112036131).await.unwrap();
        assert_eq!(event.created_at.unwrap().as_str(), "Fix all the bugs");
    })
    .await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].path, "$.created_at");
    assert_eq!(drift[0].expected, "format date-time");
    assert_eq!(drift[0].spec_at, "#/components/schemas/Timestamp");
}
