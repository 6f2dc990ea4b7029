//! `tessera`: the operator's command and the local dev server.

mod backend;
mod commands;
mod dev;
mod error;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// Tessera: short-lived signed tokens for machine-to-machine calls.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
struct Cli {
    /// Data dir of the local backend (SQLite store, keys, published documents).
    #[arg(long, global = true, env = "TESSERA_DATA_DIR", default_value = "./.tessera", value_name = "DIR")]
    data_dir: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Where state lives: `local` (the data dir) or `aws` (DynamoDB, KMS and S3 named by TESSERA_TABLE,
    /// TESSERA_JWKS_BUCKET and the AWS SDK's environment; needs a build with `--features aws`).
    #[arg(long, global = true, env = "TESSERA_BACKEND", value_enum, default_value_t = BackendKind::Local)]
    backend: BackendKind,
    #[command(subcommand)]
    command: Command,
}

/// Which backend the operator commands use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// The local data dir.
    Local,
    /// DynamoDB, KMS and S3.
    Aws,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the issuer, a demo API behind the authorizer, and the rotator, on 127.0.0.1.
    Dev(DevArgs),
    /// Manage clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Revoke tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 90s, 15m, 24h)"))
}

/// Flags of `tessera dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address to listen on; loopback only.
    #[arg(long, default_value = "127.0.0.1:8750", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Routes file: `METHOD PATH-PATTERN SCOPE...` per line.
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// How long a signing key signs before the next takes over.
    #[arg(long, value_parser = duration, value_name = "DUR")]
    pub rotate_every: Option<Duration>,
    /// Lifetime of issued tokens.
    #[arg(long, value_parser = duration, value_name = "DUR")]
    pub token_ttl: Option<Duration>,
    /// Cache-Control max-age of the JWKS and discovery documents.
    #[arg(long, value_parser = duration, value_name = "DUR")]
    pub jwks_max_age: Option<Duration>,
    /// Extra wait beyond the JWKS max-age before a new key signs.
    #[arg(long, value_parser = duration, value_name = "DUR")]
    pub propagation_margin: Option<Duration>,
    /// Clock-skew leeway of the verifier.
    #[arg(long, value_parser = duration, value_name = "DUR")]
    pub leeway: Option<Duration>,
    /// Audience the demo API accepts (repeatable).
    #[arg(long = "audience", value_name = "URL")]
    pub audiences: Vec<String>,
    /// Sign a new token for every request, instead of handing a client the still-fresh token it holds.
    #[arg(long)]
    pub no_token_reuse: bool,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Register a client; prints its secret once.
    Create(CreateArgs),
    /// List clients.
    List,
    /// Show one client.
    Show { client_id: String },
    /// Disable a client: no new tokens, existing ones refused.
    Disable { client_id: String },
    /// Enable a disabled client.
    Enable { client_id: String },
    /// Delete a client and revoke its tokens.
    Delete { client_id: String },
    /// Issue a new secret; the old one lives until --grace has passed.
    RotateSecret {
        client_id: String,
        /// How long the previous secret keeps working.
        #[arg(long, value_parser = duration, default_value = "1h", value_name = "DUR")]
        grace: Duration,
        /// Print `CLIENT_ID=… CLIENT_SECRET=…` lines for a shell's eval.
        #[arg(long, conflicts_with = "json")]
        env: bool,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// A name for people.
    #[arg(long)]
    name: String,
    /// Allowed scopes, space- or comma-separated.
    #[arg(long)]
    scopes: String,
    /// Allowed audiences, comma-separated.
    #[arg(long, default_value = "https://api.example.local")]
    audiences: String,
    /// Networks the client may call from, comma-separated CIDRs (default: anywhere).
    #[arg(long, default_value = "")]
    cidrs: String,
    /// Longest token lifetime for this client.
    #[arg(long, value_parser = duration, default_value = "1h", value_name = "DUR")]
    max_ttl: Duration,
    /// A shorter lifetime for tokens holding a scope, as SCOPE=DUR (repeatable).
    #[arg(long = "scope-ttl", value_name = "SCOPE=DUR")]
    scope_ttl: Vec<String>,
    /// Print `CLIENT_ID=… CLIENT_SECRET=…` lines for a shell's eval.
    #[arg(long, conflicts_with = "json")]
    env: bool,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Revoke one token by its jti.
    Revoke {
        /// The jti (base64url: it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        jti: String,
    },
    /// Revoke every token a client was issued up to now.
    RevokeClient { client_id: String },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their states.
    List,
    /// Rotate now (the next key signs as soon as it has propagated), or retire a key at once.
    Rotate {
        /// Retire this kid immediately: it leaves the JWKS and its tokens are refused.
        #[arg(long, value_name = "KID", allow_hyphen_values = true)]
        emergency: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            // One line: the problem, not the usage.
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let out = commands::Output { json: cli.json };
    match cli.command {
        Command::Dev(_) if cli.backend == BackendKind::Aws => Err(CliError::Config(
            "tessera dev runs the local backend only; on AWS the functions are deployed from infra/".to_owned(),
        )),
        Command::Dev(args) => dev::run(&cli.data_dir, args).await,
        Command::Clients(c) => {
            let ctx = commands::Context::open(cli.backend, &cli.data_dir).await?;
            match c {
                ClientsCommand::Create(a) => {
                    ctx.create_client(&out, &a.name, &a.scopes, &a.audiences, &a.cidrs, a.max_ttl, &a.scope_ttl, a.env)
                        .await
                }
                ClientsCommand::List => ctx.list_clients(&out).await,
                ClientsCommand::Show { client_id } => ctx.show_client(&out, &client_id).await,
                ClientsCommand::Disable { client_id } => ctx.set_status(&out, &client_id, false).await,
                ClientsCommand::Enable { client_id } => ctx.set_status(&out, &client_id, true).await,
                ClientsCommand::Delete { client_id } => ctx.delete_client(&out, &client_id).await,
                ClientsCommand::RotateSecret { client_id, grace, env } => {
                    ctx.rotate_secret(&out, &client_id, grace, env).await
                }
            }
        }
        Command::Tokens(t) => {
            let ctx = commands::Context::open(cli.backend, &cli.data_dir).await?;
            match t {
                TokensCommand::Revoke { jti } => ctx.revoke_token(&out, &jti).await,
                TokensCommand::RevokeClient { client_id } => ctx.revoke_client(&out, &client_id).await,
            }
        }
        Command::Keys(k) => {
            let ctx = commands::Context::open(cli.backend, &cli.data_dir).await?;
            match k {
                KeysCommand::List => ctx.list_keys(&out).await,
                KeysCommand::Rotate { emergency } => ctx.rotate_keys(&out, emergency.as_deref()).await,
            }
        }
    }
}
