"""renderer: one isolated Render stack per tenant, planned and applied from Git."""
