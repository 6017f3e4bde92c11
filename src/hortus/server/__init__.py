"""The HTTP server's own protections, below the app: header size and read timeouts per
connection (:mod:`.protocol`), body caps of the web forms (:mod:`.body_limit`), the client,
scheme and host behind trusted reverse proxies (:mod:`.forwarded`), and the uvicorn options
``hortus serve`` runs with (:mod:`.options`)."""
