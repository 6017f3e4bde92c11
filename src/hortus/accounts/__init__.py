"""Accounts: people, API keys (hashed), quotas and usage, exposure rules (CORS domains, IPs)."""
