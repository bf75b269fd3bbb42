"""Who may do what: accounts, sessions, API tokens, sign-in throttling and the audit trail."""
