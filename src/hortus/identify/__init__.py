"""Plant identification in Pl@ntNet API v2's wire format: fusion, service, router."""
