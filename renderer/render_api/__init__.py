"""The Render REST API client (httpx). Shares nothing with the simulator but Render's contract.

`client` (RenderClient, Settings, client_options), `errors` (the exception tree), `limits` (Render's
rate limits and the client-side limiter), `retry` (what is retried and how long the client waits),
`clock` (the one injectable clock).
"""
