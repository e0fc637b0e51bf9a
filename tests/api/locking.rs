//! "database is locked" never reaches a client, even with another writer on the same file (the CLI).
use crate::helpers::*;
use scim_bridge::http::auth::token_hash;
use scim_bridge::store::Store;

#[tokio::test]
async fn writes_succeed_while_another_connection_writes_the_same_file() {
    let app = spawn_app().await;
    let url = app.store.url().to_owned();
    let other = Store::connect(&url).await.unwrap();
    let cli_like = tokio::spawn(async move {
        for n in 0..200 {
            other
                .insert_token(&format!("cli-{n}"), &token_hash(&format!("secret-{n}")))
                .await
                .unwrap();
        }
    });
    let creates = (0..200).map(|n| {
        let body = user(&format!("locked-{n}@x"));
        let app = &app;
        async move { app.post("/Users", &body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(creates).await;
    cli_like.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
}
