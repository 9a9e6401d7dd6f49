//! What the `CancellationToken` models need beyond the public API: the
//! count of children a token still lists (a dropped child must leave it).

/// Children `token` still lists.
pub fn token_children(token: &crate::sync::CancellationToken) -> usize {
    token.listed_children()
}
