"""The trader's wallet: holder key and credentials on disk, and its HTTP client.

:mod:`node.wallet.store` keeps the holder's did:key (encrypted at rest like a node's keys)
and the credentials it received; :mod:`node.wallet.client` receives credentials from an
issuer node (OpenID4VCI 1.0, pre-authorised code flow) and presents them at a port node. The
command line is ``trustlane wallet ...`` (:mod:`node.cli.wallet_cmd`).
"""

from node.wallet.store import StoredCredential, Wallet, WalletError, WrongPassphraseError

__all__ = ["StoredCredential", "Wallet", "WalletError", "WrongPassphraseError"]
