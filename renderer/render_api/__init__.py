"""The Render REST API client (httpx). Shares nothing with the simulator but Render's contract."""
