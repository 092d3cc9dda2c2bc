// The README's library quick start, exactly as the README shows it (tests/quick_start.rs
// checks that the two agree, and runs it against the embedded server).

use codearts_repo::{Client, Credentials};

#[tokio::main]
async fn main() -> Result<(), codearts_repo::Error> {
    let client = Client::builder()
        .region("cn-north-4") // both services' hosts
        // The official SDKs' chain: HUAWEICLOUD_SDK_TOKEN, or AK/SK, a profile, ...
        .credentials(Credentials::from_env()?)
        .build()?;

    let event = client.last_push_event(2112036131).await?;
    let git_ref = event.ref_.as_deref().unwrap_or("(no branch)");
    match &event.created_at {
        // As the service sent it: 2025-06-19T21:27:31.000+08:00 (`.parse()` for a date).
        Some(at) => println!("{git_ref} pushed at {at}"),
        None => println!("{git_ref}: no push yet"),
    }

    // The commits call needs the tenant's project id: HUAWEICLOUD_SDK_PROJECT_ID, or
    // `.project_id(..)` here; with AK/SK and a region the client asks IAM for it.
    let commits = client
        .commits("3e1f6634946144c2b1ccb46fb8152b8f", "test") // namespace, project
        .git_ref("master")
        .repo_auth("gh-auth") // the git authorization's name, required by the API
        .send()
        .await?;
    for commit in &commits.commits {
        let sha = commit.sha.as_deref().unwrap_or_default();
        println!("{sha} {}", commit.message.as_deref().unwrap_or_default());
    }
    Ok(())
}
