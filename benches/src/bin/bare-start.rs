//! The cold-start baseline: a binary with the same runtime (tokio, multi-threaded) that starts and exits.

#[tokio::main]
async fn main() {
    tokio::task::yield_now().await;
}
