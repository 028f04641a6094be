"""Blueprints: Jinja2 templates of Render Blueprints (render.yaml), rendered per tenant and validated."""
