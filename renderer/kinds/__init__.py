"""One module per Render resource kind, each owning what renderer knows about that kind.

`base` defines the interface (`KindOps`) and the public contexts the kinds are handed (`ApplyContext`,
`TranslateContext`, `Listing`); `registry` maps every `renderer.kind.Kind` to its operations. Refresh,
plan and apply loop over the registry; none of them branches on a kind.
"""
