//! Credentials that change: [`CredentialsProvider`], asked for a user name and password at
//! every handshake and, on a schedule, for the `AUTH` re-sent on live connections.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use futures_core::future::BoxFuture;

/// A user name and password, as a [`CredentialsProvider`] gives them. `Debug` never shows
/// the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: Option<String>,
    password: String,
}

impl Credentials {
    /// `password` for the user `default` (`AUTH password`).
    pub fn password(password: impl Into<String>) -> Credentials {
        Credentials {
            username: None,
            password: password.into(),
        }
    }

    /// `password` (a token, for cloud providers' token authentication) for the ACL user
    /// `username` (`AUTH username password`).
    pub fn user(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: Some(username.into()),
            password: password.into(),
        }
    }

    /// The ACL user name, if any (else `default`).
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password or token. Do not log it.
    pub fn secret(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a [`CredentialsProvider`] could not give credentials: the provider's own error,
/// kept as the [`source`](std::error::Error::source) (shown by `Display` only as a category,
/// since a provider's error may quote a token).
#[derive(Debug, Clone)]
pub struct CredentialsError {
    /// Shared: errors are cloned to every waiting request.
    inner: Arc<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the credentials provider failed")
    }
}

impl std::error::Error for CredentialsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The provider's error itself, not the Arc around it, so that callers can downcast.
        Some(&*self.inner)
    }
}

impl CredentialsError {
    /// Wraps the provider's error (a type, or a message: `CredentialsError::new("token
    /// service unreachable")`).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CredentialsError {
        CredentialsError {
            inner: Arc::from(error.into()),
        }
    }
}

/// Gives the user name and password to authenticate with, each time they are needed: at
/// every handshake (the first connection, every reconnect, every pooled connection, cluster
/// nodes, Sentinel-resolved masters) and, with
/// [`ConfigBuilder::reauth_interval`](super::ConfigBuilder::reauth_interval), for the `AUTH`
/// re-sent on live connections. For short-lived tokens (cloud providers' IAM or Entra ID
/// authentication) and rotated passwords.
///
/// A provider is called often: cache the token and refresh it ahead of its expiry rather
/// than fetch one per call. A call is bounded by the connect timeout; an error fails that
/// connection attempt with [`Error::Credentials`](crate::Error::Credentials) (and a
/// scheduled re-`AUTH` is skipped and logged, its connection keeping the credentials it
/// has). The password is never logged.
///
/// For a closure, see [`ConfigBuilder::credentials_fn`](super::ConfigBuilder::credentials_fn).
///
/// # Examples
///
/// ```
/// use redis_manager::config::{BoxFuture, Credentials, CredentialsError, CredentialsProvider};
///
/// struct TokenService;
///
/// impl CredentialsProvider for TokenService {
///     fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
///         Box::pin(async {
///             // Ask the token service (cached), then:
///             Ok(Credentials::user("app", "token-from-the-service"))
///         })
///     }
/// }
///
/// let config = redis_manager::Config::builder()
///     .host("cache.example.com")
///     .credentials_provider(TokenService)
///     .reauth_interval(Some(std::time::Duration::from_secs(600)))
///     .build()?;
/// assert!(config.credentials_provider().is_some());
/// # Ok::<(), redis_manager::ConfigError>(())
/// ```
pub trait CredentialsProvider: Send + Sync {
    /// The credentials to authenticate with now.
    ///
    /// # Errors
    ///
    /// When none can be had (the token service is down): the connection attempt fails with
    /// that error.
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>>;
}

impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Arc<P> {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        (**self).credentials()
    }
}

/// A closure as a provider (see [`ConfigBuilder::credentials_fn`](super::ConfigBuilder::credentials_fn)).
pub(super) struct FnProvider<F>(pub(super) F);

impl<F, Fut> CredentialsProvider for FnProvider<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Credentials, CredentialsError>> + Send + 'static,
{
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin((self.0)())
    }
}

/// The provider in a config: compared by identity (two configs are equal when they share
/// it), shown without its contents.
#[derive(Clone)]
pub(crate) struct ProviderHandle(pub(crate) Arc<dyn CredentialsProvider>);

impl PartialEq for ProviderHandle {
    fn eq(&self, other: &Self) -> bool {
        // Data pointers only: the same provider may be seen through different vtables.
        std::ptr::eq(
            Arc::as_ptr(&self.0).cast::<()>(),
            Arc::as_ptr(&other.0).cast::<()>(),
        )
    }
}

impl Eq for ProviderHandle {}

impl fmt::Debug for ProviderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsProvider { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::user("app", "hunter2");
        let shown = format!("{c:?}");
        assert!(
            shown.contains("app") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!((c.username(), c.secret()), (Some("app"), "hunter2"));
        let c = Credentials::password("hunter2");
        assert_eq!(c.username(), None);
    }

    #[test]
    fn a_provider_error_keeps_its_cause_as_the_source_only() {
        let e = CredentialsError::new("token service said: token=abc");
        assert!(!e.to_string().contains("abc"));
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(source.contains("token service"));
    }
}
