"""Render's prices and what resources cost per month.

- `table`: the price table shipped in this package (`render-prices.yaml`: every price with its source URL
  and date, or unknown with the reason), loaded and validated;
- `model`: the cost model (lines, per resource, per tenant before and after, fleet) and money formatting;
- `cost`: pricing one resource from its fields (desired or live), and a tenant's stated usage;
- `live`: what each tenant's live resources cost now (`renderer status`).

The plan's cost (`renderer.plan.cost`) and its rendering (`renderer.plan.render_cost`) build on these.
docs/cost.md explains the model and how to update the table.
"""
