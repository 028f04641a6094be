"""The Render API simulator: a real HTTP server speaking Render's published API, with state on disk.

It stands in for api.render.com in demos and tests. It shares no code with the client: only the
contract (`renderer.contract`, which reads Render's OpenAPI description).
"""
