//! The cold-start baseline for single-threaded runtimes: a tokio current-thread binary that starts and exits.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tokio::task::yield_now().await;
}
